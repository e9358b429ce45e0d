"""Google's JSON error envelope, and the answers the fake server sends back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class _ApiError(Exception):
    """An error answered in Google's JSON envelope."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        status = _STATUS_NAMES.get(self.code, "UNKNOWN")
        return {"error": {"code": self.code, "message": self.message, "status": status}}


@dataclass
class _Answer:
    status: int
    body: Any  # JSON-able, or str for a non-JSON body
    headers: dict[str, str] = field(default_factory=dict)
