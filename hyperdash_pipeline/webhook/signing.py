"""HMAC-SHA256 request signatures: hex(HMAC(secret, f"{timestamp}.{raw_body}")).

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


def sign(key: bytes, timestamp: int | str, body: bytes) -> str:
    """The signature a sender puts in X-Hyperdash-Signature."""
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def parse_signature(header: str) -> bytes | None:
    """The 32 bytes of a hex signature header, or None when it is not one."""
    value = header.strip().lower()
    if len(value) != 64:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def verify(keys: Iterable[bytes], timestamp: str, body: bytes, signature: bytes) -> bool:
    """True when `signature` was made with any of `keys` (current, or previous during a rotation)."""
    message = f"{timestamp}.".encode("ascii") + body
    matched = False
    for key in keys:
        # compare_digest for every key, no early exit: timing does not tell which key matched.
        matched |= hmac.compare_digest(hmac.new(key, message, hashlib.sha256).digest(), signature)
    return matched


def signed_headers(
    secret: str, body: bytes, *, content_type: str, timestamp: int | None = None, idempotency_key: str | None = None
) -> dict[str, str]:
    """The headers a sender adds to a post of `body` (a reference for landing-page developers)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": content_type,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret_key(secret), ts, body),
    }
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    return headers
