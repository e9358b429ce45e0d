"""The OAuth side: a service-account key file, the token endpoint's JWT-bearer grant (signature
checked with ``cryptography``), and the bearer-token check of Sheets calls."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sheets_sync.testing.responses import _Answer, _ApiError

SERVICE_ACCOUNT_EMAIL = "sheets-sync-test@fake-sheets-server.iam.gserviceaccount.com"
TOKEN_PATH = "/token"
_WRITE_SCOPES = {
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
}
_READ_SCOPES = _WRITE_SCOPES | {
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/drive.readonly",
}
_JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _write_key_file(path: str | Path, base_url: str) -> str:
    """Write a key file for the server at ``base_url``; see :meth:`FakeSheetsServer.service_account_file`."""
    pem = _signing_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = {
        "type": "service_account",
        "project_id": "fake-sheets-server",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": SERVICE_ACCOUNT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": f"{base_url}/auth",
        "token_uri": f"{base_url}{TOKEN_PATH}",
        "auth_provider_x509_cert_url": f"{base_url}/certs",
        "client_x509_cert_url": f"{base_url}/certs/{SERVICE_ACCOUNT_EMAIL}",
        "universe_domain": "googleapis.com",
    }
    target = Path(path)
    target.write_text(json.dumps(key, indent=2))
    target.chmod(0o600)
    return SERVICE_ACCOUNT_EMAIL


class _Tokens:
    """The bearer tokens handed out, with their scopes; guarded by the server's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._scopes: dict[str, set[str]] = {}

    def grant(self, form: Mapping[str, str]) -> _Answer:
        """Google's OAuth token endpoint for the JWT-bearer grant of a service account."""

        def refuse(description: str) -> _Answer:
            return _Answer(400, {"error": "invalid_grant", "error_description": description})

        if form.get("grant_type") != _JWT_GRANT_TYPE:
            return _Answer(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        try:
            header_part, claims_part, signature_part = form.get("assertion", "").split(".")
            claims = json.loads(_b64decode(claims_part))
            signature = _b64decode(signature_part)
        except ValueError:
            return refuse("Invalid JWT: malformed assertion.")
        if claims.get("iss") != SERVICE_ACCOUNT_EMAIL:
            return refuse("Invalid grant: account not found")
        try:
            _signing_key().public_key().verify(
                signature, f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return refuse("Invalid JWT Signature.")
        if claims.get("exp", 0) < time.time():
            return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._scopes[token] = set(str(claims.get("scope", "")).split())
        return _Answer(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def authorize(self, headers: Mapping[str, str], writes: bool) -> None:
        authorization = headers.get("Authorization") or ""
        if not authorization.startswith("Bearer "):
            raise _ApiError(401, "Request is missing required authentication credential. Expected OAuth 2 access "
                                 "token, login cookie or other valid authentication credential.")
        scopes = self._scopes.get(authorization.removeprefix("Bearer ").strip())
        if scopes is None:
            raise _ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                 "login cookie or other valid authentication credential.")
        if not scopes & (_WRITE_SCOPES if writes else _READ_SCOPES):
            raise _ApiError(403, "Request had insufficient authentication scopes.")


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    """The service account's key; one per process, as making an RSA key takes a while."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
