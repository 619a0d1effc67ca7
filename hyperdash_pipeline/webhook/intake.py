"""Turning a raw request into a signed, validated lead, or into the precise reason it is refused.

Checks run cheapest and least revealing first: content type, size, signature headers and timestamp,
body syntax, organization, signature, and only then the fields (a sender must prove who it is before
it learns what is wrong with its data).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import ValidationError

from hyperdash_pipeline.webhook.models import LeadIn, field_errors
from hyperdash_pipeline.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_signature

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
IDEMPOTENCY_HEADER = "idempotency-key"
_MAX_IDEMPOTENCY_KEY = 255


@dataclass
class Rejection(Exception):
    """A refused request: HTTP status, a stable machine code, and a message for the sender's developer."""

    status: int
    code: str
    message: str
    fields: list[dict[str, str]] = field(default_factory=list)
    retry_after: int | None = None  # seconds, sent as Retry-After (429, 503)

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def media_type(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in (JSON, FORM):
        raise Rejection(415, "unsupported_media_type", f"send the lead as {JSON} or {FORM}")
    return media


async def read_capped(content_length: str | None, stream: AsyncIterator[bytes], cap: int) -> bytes:
    """The whole body, refusing (before reading, when Content-Length says so) anything over `cap` bytes."""
    too_large = Rejection(413, "body_too_large", f"the body is over {cap} bytes")
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise Rejection(400, "bad_content_length", "Content-Length is not a number") from None
        if declared > cap:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def signature_headers(headers: Any, now: float, tolerance: int) -> tuple[str, tuple[int, bytes]]:
    """The timestamp and signature, refusing absent, malformed or out-of-tolerance ones."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature_hex = headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature_hex:
        raise Rejection(
            401, "missing_signature", "sign the request: X-Hyperdash-Timestamp and X-Hyperdash-Signature are required"
        )
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Rejection(401, "bad_timestamp", "X-Hyperdash-Timestamp must be Unix time in whole seconds")
    if abs(now - int(timestamp)) > tolerance:
        raise Rejection(
            401, "stale_timestamp", f"X-Hyperdash-Timestamp is more than {tolerance}s from the server's clock"
        )
    signature = parse_signature(signature_hex)
    if signature is None:
        raise Rejection(
            401, "bad_signature", "X-Hyperdash-Signature must be v2= and 64 hex digits (HMAC-SHA256), or v1's bare hex"
        )
    return timestamp, signature


def idempotency_key(headers: Any, raw: bytes) -> str:
    """The Idempotency-Key header, or the body's SHA-256 when there is none (an identical post repeats)."""
    key = headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    if not (0 < len(key) <= _MAX_IDEMPOTENCY_KEY and key.isascii() and key.isprintable()):
        raise Rejection(400, "bad_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters")
    return key


def parse_body(media: str, raw: bytes) -> dict[str, Any]:
    """The body as a flat dict of fields; blank strings count as absent (forms send empty inputs)."""
    data = _parse_json(raw) if media == JSON else _parse_form(raw)
    return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejection(400, "malformed_body", f"the body is not valid UTF-8 JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise Rejection(400, "malformed_body", "the JSON body must be an object of lead fields")
    return data


def _parse_form(raw: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Rejection(400, "malformed_body", "the form body is not valid UTF-8 url-encoded fields") from None
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise Rejection(400, "malformed_body", f"form field {key!r} is given more than once")
        data[key] = value
    touchpoints = data.get("touchpoints")
    if isinstance(touchpoints, str) and touchpoints.strip():
        try:
            data["touchpoints"] = orjson.loads(touchpoints)
        except orjson.JSONDecodeError:
            raise Rejection(
                422,
                "invalid_lead",
                "the lead has invalid fields",
                [{"field": "touchpoints", "problem": "must be a JSON array of touchpoint objects"}],
            ) from None
    return data


def organization_key(data: dict[str, Any]) -> str:
    """The organization named in the body (id or slug), checked for shape only."""
    value = data.get("organization")
    if not isinstance(value, str) or not value.strip():
        raise Rejection(
            422,
            "invalid_lead",
            "the lead has invalid fields",
            [{"field": "organization", "problem": "is required: the organization's id or webhook slug"}],
        )
    return value.strip().lower()


def validate_lead(data: dict[str, Any]) -> LeadIn:
    try:
        return LeadIn.model_validate(data)
    except ValidationError as exc:
        raise Rejection(422, "invalid_lead", "the lead has invalid fields", field_errors(exc)) from None
