"""Bad configs end with exit code 2 and one sentence naming the key or the file."""

from pathlib import Path

import pytest
import yaml
from conftest import Workspace
from typer.testing import CliRunner

from sheets_sync.cli import app
from sheets_sync.config import ConfigError, load_config

runner = CliRunner()


def _config_with(workspace: Workspace, **changes) -> Path:
    workspace.lead("1", "2024-02-12 10:00", "Acme")
    workspace.client("Acme")
    path = workspace.write()
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(last)
        else:
            target[last] = value
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("changes", "named"), [
    ({"polcy": {"window_days": 3}}, "'polcy'"),
    ({"policy__window_dayz": 3}, "'policy.window_dayz'"),
    ({"policy__window_days": "a week"}, "'policy.window_days'"),
    ({"policy__max_return_rate": 1.5}, "'policy.max_return_rate'"),
    ({"policy__credit": "cash"}, "'policy.credit'"),
    ({"policy__returnable_reasons": ["wrong_number", "bad_vibes"]}, "bad_vibes"),
    ({"week_ends_on": "funday"}, "'week_ends_on'"),
    ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
    ({"tracking": None}, "'tracking'"),
    ({"clients__Acme__policy": {"window": 3}}, "'clients.Acme.policy.window'"),
    ({"leads__excel": "missing.xlsx"}, "missing.xlsx"),
    ({"leads__csv": "leads.csv"}, "'leads'"),
])
def test_bad_config_exits_2_with_one_sentence_naming_the_key(workspace: Workspace, changes, named) -> None:
    path = _config_with(workspace, **changes)
    for command in (["run", "--config", str(path)], ["check", "--config", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert named in result.output
        assert "Traceback" not in result.output
        assert result.output.count("\n") <= 3


def test_missing_and_broken_config_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "nope.yaml does not exist" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("timezone: [unclosed\n")
    result = runner.invoke(app, ["check", "--config", str(broken)])
    assert result.exit_code == 2 and "not valid YAML" in result.output


def test_relative_paths_resolve_against_the_config_file_and_policy_merges(workspace: Workspace) -> None:
    path = _config_with(workspace, clients__Acme__policy={"window_days": 3, "reason_aliases": {"junk lead": "fake_info"}},
                        policy__reason_aliases={"api broken": "fake_info"})
    config = load_config(path)
    assert config.leads.excel == workspace.root / "leads.xlsx"
    assert config.ledger.path == workspace.root / "ledger.sqlite"
    acme = config.policy_for("Acme")
    assert acme.window_days == 3 and acme.max_return_rate == 1
    assert acme.aliases == {"api broken": "fake_info", "junk lead": "fake_info"}
    assert config.policy_for("Someone else").window_days == 7


def test_bad_as_of_is_a_usage_error(workspace: Workspace) -> None:
    path = _config_with(workspace)
    result = runner.invoke(app, ["run", "--config", str(path), "--as-of", "last tuesday"])
    assert result.exit_code == 2 and "--as-of" in result.output


def test_config_error_is_an_exception_not_an_exit(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)
