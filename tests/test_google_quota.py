"""Google's quotas (reads and writes each 60 a minute per service account, 300 per project):
the local server enforces them as Google does, and sheets-sync stays under both without a
single refusal, at one read and one write per spreadsheet, reads and writes side by side.

Windows are shortened (a few requests per second or two) so the tests stay fast; the
server's call log holds each call's arrival time, the moment Google's quota counts it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_google_sync import GoogleWorkspace

from sheets_sync.backends.google.endpoint import API_URL_ENV
from sheets_sync.backends.google.workbook import open_google_workbook
from sheets_sync.core.cells import CellWrite
from sheets_sync.testing import FakeSheetsServer
from sheets_sync.testing.server import Call

LIMIT, WINDOW = 5, 2.0


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheetsServer]:
    with FakeSheetsServer() as fake:
        monkeypatch.setenv(API_URL_ENV, fake.url)
        yield fake


def _most_in_a_window(calls: list[Call], window: float) -> int:
    """The most calls that arrived within any ``window`` seconds of each other."""
    times = sorted(call.at for call in calls)
    return max((sum(1 for later in times[index:] if later - first < window) for index, first in enumerate(times)),
               default=0)


def _sync_spreadsheet(sid: str, key_file: Path, **quota: float) -> str:
    """What a run does with one spreadsheet: read its tabs, write a cell; returns its title."""
    workbook = open_google_workbook(sid, key_file, **quota)
    grids = workbook.read(["Returns"])
    workbook.write([CellWrite("Returns", len(grids["Returns"]) + 1, 1, "A-1")])
    return workbook.title


def test_reads_and_writes_stay_in_their_windows_overlapped_at_two_requests_per_spreadsheet(
        server: FakeSheetsServer, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    server.service_account_file(key_file)
    ids = {server.create_spreadsheet(f"Client {n}", {"Returns": [["Lead ID"]], "Notes": [["theirs"]]}): f"Client {n}"
           for n in range(12)}
    server.quota(LIMIT, LIMIT, window_seconds=WINDOW)
    quota = {"reads_per_minute": LIMIT, "writes_per_minute": LIMIT, "quota_window_seconds": WINDOW}
    with ThreadPoolExecutor(6) as pool:  # every spreadsheet opened with the key shares the pacers
        titles = list(pool.map(lambda sid: _sync_spreadsheet(sid, key_file, **quota), ids))
    assert titles == list(ids.values())  # the title comes with the one read
    calls = list(server.calls)
    assert [call.status for call in calls if call.status != 200] == []  # nothing refused, nothing retried
    assert Counter((call.spreadsheet_id, call.writes) for call in calls) == {
        (sid, writes): 1 for sid in ids for writes in (False, True)}  # one read, one write each
    reads = [call for call in calls if not call.writes]
    writes = [call for call in calls if call.writes]
    assert _most_in_a_window(reads, WINDOW) == LIMIT  # the reads used their window to the full ...
    assert _most_in_a_window(writes, WINDOW) == LIMIT  # ... and so did the writes, in their own
    # Paced apart, 12 reads then 12 writes would need four windows; side by side, writes start
    # while reads still wait for theirs.
    assert min(call.at for call in writes) < max(call.at for call in reads)
    assert all(server.values(sid, "Returns") == [["Lead ID"], ["A-1"]] for sid in ids)


def test_the_project_limit_paces_too(server: FakeSheetsServer, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    server.service_account_file(key_file)
    ids = [server.create_spreadsheet(f"Client {n}", {"Returns": [["Lead ID"]]}) for n in range(7)]
    server.quota(100, 100, window_seconds=1.0, per_project=3)
    quota = {"reads_per_minute": 100, "writes_per_minute": 100, "requests_per_project": 3, "quota_window_seconds": 1.0}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda sid: _sync_spreadsheet(sid, key_file, **quota), ids))
    assert {call.status for call in server.calls} == {200}
    assert _most_in_a_window([call for call in server.calls if not call.writes], 1.0) <= 3


def test_the_server_refuses_reads_past_the_limit_per_user_and_per_project(server: FakeSheetsServer,
                                                                          tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    server.service_account_file(key_file)
    sid = server.create_spreadsheet("Busy", {"Returns": [["Lead ID"]]})
    server.quota(writes_per_minute=None, reads_per_minute=2, window_seconds=60)
    statuses = [_read_status(server, sid, key_file) for _ in range(3)]
    assert statuses == [200, 200, 429]
    server.quota(reads_per_minute=10, per_project=1, window_seconds=60)
    assert [_read_status(server, sid, key_file) for _ in range(2)] == [200, 429]


def _read_status(server: FakeSheetsServer, sid: str, key_file: Path) -> int:
    # The unpaced, unretried call a program without pacing would send.
    workbook = open_google_workbook(sid, key_file, reads_per_minute=1000, requests_per_project=1000,
                                    retry_budget_seconds=0.1)
    before = len(server.calls)
    try:
        workbook.tab_titles()
    except Exception:  # noqa: BLE001 -- refused: the status is what is checked
        pass
    return server.calls[before].status


def test_a_sync_under_google_quotas_is_never_refused(google: GoogleWorkspace) -> None:
    google.server.google_quota()
    report = google.run("2024-03-03T10:00")
    assert report.exit_code == 0, report.failures
    calls = list(google.server.calls)
    assert {call.status for call in calls} == {200}
    per_spreadsheet = Counter(call.spreadsheet_id for call in calls)
    assert set(per_spreadsheet) == {google.leads, google.tracking, google.acme, google.zenith}
    assert max(per_spreadsheet.values()) <= 2


@pytest.fixture
def google(server: FakeSheetsServer, tmp_path: Path) -> GoogleWorkspace:
    return GoogleWorkspace(server, tmp_path)
