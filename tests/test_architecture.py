"""The rules that keep the package's layout livable (docs/architecture.md): a pure core,
no import circles, short modules, and a CLI that loads Google's client only when needed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sheets_sync"
IO_LIBRARIES = ("openpyxl", "gspread", "google", "requests", "sqlite3", "python_calamine", "lxml", "filelock",
                "yaml", "httpx", "socket", "subprocess", "cryptography")
CLOCKS = {"datetime": {"now", "today", "utcnow"}, "date": {"today"},
          "time": {"time", "monotonic", "perf_counter", "time_ns"}}
LONG_MODULES = {
    # The test double's manual (its module docstring, 70 lines) and the one class the tests
    # drive; its endpoints and data model live in the modules beside it.
    "testing/server.py",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, *, typing_only: bool = False) -> set[str]:
    """Modules ``path`` imports; those under ``if TYPE_CHECKING`` only when asked."""
    tree = ast.parse(path.read_text())
    skipped = set()
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                skipped.update(id(child) for child in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_core_imports_no_io_library_and_nothing_outside_the_core() -> None:
    core = {name: path for name, path in _modules().items() if name.startswith("sheets_sync.core")}
    assert len(core) > 10
    for name, path in core.items():
        for imported in _imports(path):
            top = imported.split(".")[0]
            assert top not in IO_LIBRARIES, f"{name} imports {imported}"
            if top == "sheets_sync":
                assert imported.startswith("sheets_sync.core"), f"{name} imports {imported}"


def test_core_reads_no_clock() -> None:
    for name, path in _modules().items():
        if not name.startswith("sheets_sync.core"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name):
                assert node.func.attr not in CLOCKS.get(node.func.value.id, ()), f"{name}:{node.lineno} reads the clock"


def test_importing_the_whole_core_loads_no_io_library() -> None:
    names = sorted(name for name in _modules() if name.startswith("sheets_sync.core"))
    code = (f"import sys\nfor name in {names!r}: __import__(name)\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(IO_LIBRARIES)!r}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_no_import_circles() -> None:
    modules = _modules()
    graph = {name: {imported for imported in _imports(path) if imported in modules and imported != name}
             for name, path in modules.items()}
    # A package's __init__ re-exporting its modules is not a circle through the package.
    graph = {name: {target for target in targets if not name.startswith(target + ".")}
             for name, targets in graph.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            assert state.get(target) != "open", "import circle: " + " -> ".join([*trail, name, target])
            if target not in state:
                visit(target, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_modules_stay_short() -> None:
    for name, path in _modules().items():
        relative = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text().splitlines())
        limit = 700 if relative in LONG_MODULES else 480
        assert lines <= limit, f"{relative} has {lines} lines"


def test_the_cli_loads_neither_google_nor_the_test_server() -> None:
    code = ("import sys, sheets_sync.cli\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gspread', 'google', 'cryptography')"
            " or m.startswith('sheets_sync.testing')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
