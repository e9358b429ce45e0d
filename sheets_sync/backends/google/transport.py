"""The HTTP layer under gspread: retries with back-off that honours ``Retry-After`` within a
budget, and writes paced to Google's quota (60 a minute per service account)."""

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
    instead of being refused (429) and backing off. A request counts from when its answer
    came, by which time the server has counted it, so the two windows never disagree."""

    def __init__(self, limit: int, window_seconds: float = 60.0) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._answered: deque[float] = deque()
        self._lock = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._lock:  # one paced request at a time, so the count is exact
            while len(self._answered) >= self.limit:
                wait = self._answered[0] + self.window_seconds - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                else:
                    self._answered.popleft()
            try:
                yield
            finally:
                self._answered.append(time.monotonic())


_pacers: dict[tuple[str, str, int], Pacer] = {}
_pacers_lock = threading.Lock()


def write_pacer(api_root: str, account: str, writes_per_minute: int) -> Pacer:
    """The pacer of one service account's writes: Google's quota counts them across every
    spreadsheet, so all the workbooks a run opens with that key share it."""
    with _pacers_lock:
        return _pacers.setdefault((api_root, account, writes_per_minute), Pacer(writes_per_minute))


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

    def __init__(self, credentials: Credentials, api_root: str, retry: RetryPolicy, write_pacer: Pacer) -> None:
        super().__init__(credentials)
        self._api_root = api_root
        self.retry = retry
        self.write_pacer = write_pacer

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
                with self.write_pacer.turn() if method.upper() != "GET" else nullcontext():
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


# --------------------------------------------------------------------------- the workbook
