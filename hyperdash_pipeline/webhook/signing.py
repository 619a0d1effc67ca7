"""HMAC-SHA256 request signatures, two versions (docs/webhook.md#signatures).

v2 (header `X-Hyperdash-Signature: v2=<hex>`): HMAC(secret, f"v2.{timestamp}.{idempotency_key}." + body),
the Idempotency-Key header's value (empty when absent) inside the signed bytes, so nobody on the path
can swap it. v1 (a bare hex header): HMAC(secret, f"{timestamp}." + body), the key unsigned; it keeps
verifying until HYPERDASH_WEBHOOK_V1_UNTIL (a date, default 2027-06-30), then is refused.

The timestamp (Unix seconds, header X-Hyperdash-Timestamp) is inside the signed bytes, so it cannot be
moved forward to extend a captured request's life; the server refuses timestamps outside its tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

TIMESTAMP_HEADER = "x-hyperdash-timestamp"
SIGNATURE_HEADER = "x-hyperdash-signature"
SECRET_BYTES = 32
_SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh secret as printed to the operator: `whsec_` + 64 hex digits (256 random bits)."""
    return _SECRET_PREFIX + secrets.token_hex(SECRET_BYTES)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a printed secret: its full UTF-8 text, prefix included, as the signer uses it."""
    return secret.encode("utf-8")


def _message(version: int, timestamp: int | str, idempotency_key: str | None, body: bytes) -> bytes:
    if version == 1:
        return f"{timestamp}.".encode("ascii") + body
    return f"v2.{timestamp}.{idempotency_key or ''}.".encode("ascii") + body


def sign(key: bytes, timestamp: int | str, body: bytes, *, version: int = 2, idempotency_key: str | None = None) -> str:
    """The value a sender puts in X-Hyperdash-Signature."""
    digest = hmac.new(key, _message(version, timestamp, idempotency_key, body), hashlib.sha256).hexdigest()
    return digest if version == 1 else f"v2={digest}"


def parse_signature(header: str) -> tuple[int, bytes] | None:
    """(version, the 32 bytes) of a signature header, or None when it is not one."""
    value = header.strip().lower()
    version = 1
    if value.startswith("v2="):
        version, value = 2, value[3:]
    if len(value) != 64:
        return None
    try:
        return version, bytes.fromhex(value)
    except ValueError:
        return None


def verify(
    keys: Iterable[bytes],
    timestamp: str,
    body: bytes,
    signature: bytes,
    *,
    version: int = 2,
    idempotency_key: str | None = None,
) -> bool:
    """True when `signature` was made with any of `keys` (current, or previous during a rotation)."""
    message = _message(version, timestamp, idempotency_key, body)
    matched = False
    for key in keys:
        # compare_digest for every key, no early exit: timing does not tell which key matched.
        matched |= hmac.compare_digest(hmac.new(key, message, hashlib.sha256).digest(), signature)
    return matched


def signed_headers(
    secret: str,
    body: bytes,
    *,
    content_type: str,
    timestamp: int | None = None,
    idempotency_key: str | None = None,
    version: int = 2,
) -> dict[str, str]:
    """The headers a sender adds to a post of `body` (a reference for landing-page developers)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": content_type,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret_key(secret), ts, body, version=version, idempotency_key=idempotency_key),
    }
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    return headers
