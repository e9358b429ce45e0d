"""The HTTP layer under gspread: retries with back-off that honours ``Retry-After`` within a
budget, and reads and writes each paced to Google's quotas (60 a minute per service
account, 300 per project)."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests
from google.auth.exceptions import TransportError
from google.oauth2.service_account import Credentials
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from sheets_sync.backends.google.endpoint import GOOGLE_SHEETS_ROOT

CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    budget_seconds: float
    first_delay: float
    max_delay: float = 32.0

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter, so parallel runs do not retry in step."""
        return min(self.max_delay, self.first_delay * 2**attempt) * random.uniform(0.5, 1.0)


class Pacer:
    """At most ``limit`` requests in any ``window_seconds``: a request waits for its turn
    instead of being refused (429) and backing off. A request counts while in flight and then
    from when its answer came, by which time the server has counted it, so the two windows
    never disagree; requests in flight overlap (one slow answer holds up no other)."""

    def __init__(self, limit: int, window_seconds: float = 60.0) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._ready = threading.Condition()

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._ready:
            while True:
                now = time.monotonic()
                while self._answered and self._answered[0] + self.window_seconds <= now:
                    self._answered.popleft()
                if len(self._answered) + self._in_flight < self.limit:
                    break
                # an answer leaving the window, or (notify) one in flight answered
                self._ready.wait(self._answered[0] + self.window_seconds - now if self._answered else None)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._ready:
                self._in_flight -= 1
                self._answered.append(time.monotonic())
                self._ready.notify()


@dataclass(frozen=True)
class Quota:
    """Google's budgets (reads and writes alike, each its own): ``per_user`` requests a minute
    for one service account, ``per_project`` for all the accounts of its Cloud project."""

    per_user: int = 60
    per_project: int = 300
    window_seconds: float = 60.0


@dataclass(frozen=True)
class Pacers:
    """The turns a request waits for: its account's budget and its project's, for its kind."""

    user: Pacer
    project: Pacer

    @contextmanager
    def turn(self) -> Iterator[None]:
        # Always user before project, so two threads never hold one each and wait for the other.
        with self.user.turn(), self.project.turn():
            yield


_pacers: dict[tuple[str, ...], Pacer] = {}
_pacers_lock = threading.Lock()


def _shared(key: tuple[str, ...], limit: int, window_seconds: float) -> Pacer:
    with _pacers_lock:
        return _pacers.setdefault((*key, str(limit), str(window_seconds)), Pacer(limit, window_seconds))


def quota_pacers(api_root: str, account: str, project: str, kind: str, quota: Quota) -> Pacers:
    """The pacers of one service account's ``kind`` ("read" or "write") requests: Google's
    quota counts them across every spreadsheet, so all the workbooks a run opens with that
    key share them, and the project's across all its keys."""
    return Pacers(_shared((api_root, "user", account, kind), quota.per_user, quota.window_seconds),
                  _shared((api_root, "project", project, kind), quota.per_project, quota.window_seconds))


def write_pacer(api_root: str, account: str, writes_per_minute: int) -> Pacer:
    """The pacer of one service account's writes (per user only); see :func:`quota_pacers`."""
    return _shared((api_root, "user", account, "write"), writes_per_minute, 60.0)


class RetryBudgetExhausted(Exception):
    """Google kept failing transiently until the retry budget ran out; args[0] says how."""


def is_transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def retry_after_seconds(response: requests.Response) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date), if it sent a usable one."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


class SheetsHTTPClient(HTTPClient):
    """gspread's HTTP client, sending Sheets calls to ``api_root`` and retrying transient failures.

    gspread's own BackOffHTTPClient is not used: it retries only JSON errors, ignores
    Retry-After and never gives up.
    """

    def __init__(self, credentials: Credentials, api_root: str, retry: RetryPolicy,
                 write_pacer: Pacer | Pacers, read_pacer: Pacer | Pacers | None = None) -> None:
        super().__init__(credentials)
        self._api_root = api_root
        self.retry = retry
        self.write_pacer = write_pacer
        self.read_pacer = read_pacer

    def request(
        self,
        method: str,
        endpoint: str,
        params: Any = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Any = None,
    ) -> requests.Response:
        if endpoint.startswith(GOOGLE_SHEETS_ROOT):
            endpoint = self._api_root + endpoint.removeprefix(GOOGLE_SHEETS_ROOT)
        deadline = time.monotonic() + self.retry.budget_seconds
        attempt = 0
        while True:
            # A hung answer must not outlive the budget either.
            remaining = max(1.0, deadline - time.monotonic())
            self.timeout = (min(CONNECT_TIMEOUT_SECONDS, remaining), remaining)
            try:
                with self._pacer(method).turn():
                    return super().request(method, endpoint, params=params, data=data, json=json, files=files,
                                           headers=headers)
            except APIError as error:
                status = error.response.status_code
                if not is_transient(status):
                    raise
                failure = f"HTTP {status}"
                wait = retry_after_seconds(error.response)
            except (requests.ConnectionError, requests.Timeout, TransportError) as error:
                failure = type(error).__name__
                wait = None
            remaining = deadline - time.monotonic()
            if wait is None:
                # Our own back-off never outlasts the budget: the last try comes at its end, so
                # a budget as long as Google's quota minute outlasts any quota refusal.
                wait = min(self.retry.backoff(attempt), max(remaining, 0.0))
            if remaining <= 0 or wait > remaining:  # the server's Retry-After is past the budget
                raise RetryBudgetExhausted(failure)
            time.sleep(wait)
            attempt += 1

    def _pacer(self, method: str) -> Pacer | Pacers | _Unpaced:
        """Google counts every GET as a read and every other call as a write."""
        if method.upper() != "GET":
            return self.write_pacer
        return self.read_pacer or _Unpaced()


class _Unpaced:
    def turn(self) -> nullcontext[None]:
        return nullcontext()


# --------------------------------------------------------------------------- the workbook
