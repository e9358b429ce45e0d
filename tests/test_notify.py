"""Notifications (SPEC §7): sent through Apprise to a real HTTP receiver on 127.0.0.1, once
per item, never failing the sync, never showing a URL's secret."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sheets_sync import ConfigError, load_config
from sheets_sync.notify.send import SENT_FILE
from sheets_sync.store.ledger import LedgerError
from tests.conftest import Workspace


class Receiver:
    """A webhook on 127.0.0.1 that keeps every JSON message posted to it."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def kinds(self) -> list[str]:
        return [message["title"] for message in self.messages]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _capped(workspace: Workspace, urls: list[str], on: list[str] | None = None) -> None:
    """Acme bought four leads; its cap is 50%, so a third approved return goes to review."""
    for number in range(1, 5):
        workspace.lead(f"L{number}", f"2024-03-0{number} 10:00", "Acme", price="20.00")
    workspace.client("Acme", [["L1", "Wrong number", ""], ["L2", "Wrong number", ""]],
                     policy={"max_return_rate": "50%"})
    workspace.settings = {"notify": {"urls": urls, **({"on": on} if on else {})},
                          "alerts": {"min_leads": 1, "min_returns": 1}}


def test_review_alerts_and_failures_each_come_once(workspace: Workspace, receiver: Receiver) -> None:
    _capped(workspace, [receiver.url()])
    report = workspace.run(as_of="2024-03-05T09:00")
    assert report.problems == []
    titles = receiver.kinds()
    assert titles == ["sheets-sync: 1 new alert"], titles
    assert "Client Acme: return rate 50.0%" in receiver.messages[0]["message"]
    assert "sheets-sync report" in receiver.messages[0]["message"]
    assert receiver.messages[0]["type"] == "warning"

    workspace.paste("Acme", [["L3", "Wrong number", ""]])  # over the cap: waits for the operator
    workspace.run(as_of="2024-03-05T10:00")
    assert receiver.kinds()[1:] == ["sheets-sync: 1 return newly waiting for review"]
    review = receiver.messages[1]["message"]
    assert "Acme, lead L3 (Wrong number)" in review and "Review tab of tracking.xlsx" in review
    assert "1 in all wait" in review

    workspace.run(as_of="2024-03-05T11:00")  # nothing new: the same alert and item are not told again
    assert len(receiver.messages) == 2

    workspace.returns_path("Acme").write_bytes(b"not a workbook")
    first = workspace.run(as_of="2024-03-05T12:00")
    assert first.failures and first.exit_code == 1
    assert receiver.kinds()[2:] == ["sheets-sync: 1 failure"]
    assert receiver.messages[2]["type"] == "failure" and "acme.xlsx" in receiver.messages[2]["message"]
    workspace.run(as_of="2024-03-05T13:00")  # still failing: told once
    assert len(receiver.messages) == 3


def test_a_ledger_that_cannot_be_read_is_told_as_a_failure(workspace: Workspace, receiver: Receiver) -> None:
    _capped(workspace, [receiver.url()], on=["failures"])
    workspace.run(as_of="2024-03-05T09:00")
    (workspace.root / "ledger.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError):
        workspace.run(as_of="2024-03-05T10:00")
    assert receiver.kinds() == ["sheets-sync: 1 failure"]
    assert receiver.messages[0]["message"].startswith("• ledger: ")


def test_a_receiver_that_is_down_fails_nothing_and_hears_it_next_run(workspace: Workspace, receiver: Receiver) -> None:
    down = f"json://sync:s3cret-pw@127.0.0.1:{_closed_port()}/hook"
    _capped(workspace, [down], on=["review"])
    workspace.paste("Acme", [["L3", "Wrong number", ""]])
    report = workspace.run(as_of="2024-03-05T09:00")
    assert report.exit_code == 0 and report.waiting_for_review == 1
    told = [str(problem) for problem in report.problems]
    assert told == [f"notify: The review message could not be delivered to json://sync:****@127.0.0.1:"
                    f"{down.rsplit(':', 1)[1].split('/')[0]}/hook; the next run sends it again."]
    assert "s3cret" not in json.dumps(report.as_json())

    workspace.settings["notify"]["urls"] = [receiver.url()]
    workspace.write()
    workspace.run(as_of="2024-03-05T10:00")
    assert receiver.kinds() == ["sheets-sync: 1 return newly waiting for review"]


def test_one_url_that_works_is_enough_to_count_as_told(workspace: Workspace, receiver: Receiver) -> None:
    down = f"json://127.0.0.1:{_closed_port()}/hook"
    _capped(workspace, [receiver.url(), down], on=["review"])
    workspace.paste("Acme", [["L3", "Wrong number", ""]])
    report = workspace.run(as_of="2024-03-05T09:00")
    assert [problem.message for problem in report.problems] == [
        f"The review message could not be delivered to {down}."]  # not "sent again": the other URL had it
    workspace.run(as_of="2024-03-05T10:00")
    assert receiver.kinds() == ["sheets-sync: 1 return newly waiting for review"]


def test_a_dry_run_sends_nothing_and_kinds_not_asked_for_stay_quiet(workspace: Workspace, receiver: Receiver) -> None:
    _capped(workspace, [receiver.url()], on=["failures"])
    workspace.paste("Acme", [["L3", "Wrong number", ""]])
    workspace.run(as_of="2024-03-05T09:00", dry_run=True)
    assert not (workspace.root / SENT_FILE).exists()
    workspace.run(as_of="2024-03-05T09:00")
    assert receiver.messages == []  # a review item and an alert, neither asked for


def test_an_alert_that_went_away_and_came_back_is_told_again(workspace: Workspace, receiver: Receiver) -> None:
    _capped(workspace, [receiver.url()], on=["alerts"])
    workspace.run(as_of="2024-03-05T09:00")
    for number in range(5, 12):  # more leads: Acme is well under its cap again
        workspace.lead(f"L{number}", f"2024-03-05 1{number - 5}:00", "Acme")
    workspace.write()
    workspace.run(as_of="2024-03-05T23:00")
    workspace.paste("Acme", [[f"L{number}", "Wrong number", ""] for number in range(5, 8)])
    workspace.run(as_of="2024-03-05T23:30")
    assert receiver.kinds() == ["sheets-sync: 1 new alert", "sheets-sync: 1 new alert"]


@pytest.mark.parametrize(("notify", "named"), [
    ({"urls": ["nonsense://somewhere"]}, "notify.urls"),
    ({"urls": []}, "notify.urls"),
    ({"urls": ["json://localhost/hook"], "on": ["everything"]}, "notify.on"),
])
def test_a_bad_notify_setting_is_one_sentence_naming_the_key(workspace: Workspace, notify: dict, named: str) -> None:
    workspace.lead("L1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme")
    workspace.settings = {"notify": notify}
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(workspace.write())


def test_a_rate_written_as_a_percentage_is_read_as_a_fraction(workspace: Workspace) -> None:
    workspace.lead("L1", "2024-03-01 10:00", "Acme")
    workspace.client("Acme", policy={"max_return_rate": "15%"})
    assert load_config(workspace.write()).policy_for("Acme").max_return_rate == Decimal("0.15")


def test_the_sent_file_is_beside_the_config(workspace: Workspace, receiver: Receiver) -> None:
    _capped(workspace, [receiver.url()], on=["alerts"])
    workspace.run(as_of="2024-03-05T09:00")
    assert json.loads(Path(workspace.root / SENT_FILE).read_text())["alerts"] == ["client_cap\x1fAcme"]
