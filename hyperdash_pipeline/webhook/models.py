"""What a landing page may post, validated field by field.

Every text field refuses control characters (NUL included: PostgreSQL text cannot hold it) and has a
length cap; identifiers have a strict character set. Quotes, semicolons and other SQL metacharacters
are ordinary text here: values only ever reach SQL as bound parameters.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
_ID = r"^[A-Za-z0-9_.:\-]+$"
_CLICK_ID = r"^[A-Za-z0-9_.\-~]+$"
# A pragmatic address check (one @, a dotted domain, no spaces or controls); RFC 5321 caps it at 254.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = rf"^[^@\s\x00-\x1f\x7f]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$"
_PHONE = r"^\+?[0-9 ().\-]{6,32}$"
_ORGANIZATION = (
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-z0-9][a-z0-9-]{1,62})$"
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256, pattern=_NO_CONTROL)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_CONTROL)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=_EMAIL)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=_PHONE)]
PlatformId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=_ID)]
ClickId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512, pattern=_CLICK_ID)]
Organization = Annotated[str, StringConstraints(strip_whitespace=True, pattern=_ORGANIZATION)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=_NO_CONTROL)]

MAX_TOUCHPOINTS = 100
_MIN_PHONE_DIGITS = 6


class Touchpoint(BaseModel):
    """One step of the lead's journey (docs/contracts.md#touchpoints-and-channels): only `timestamp` is required."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    timestamp: AwareDatetime = Field(description="ISO-8601 with a UTC offset, e.g. 2026-01-31T12:00:00Z")
    channel: ShortText | None = None
    source: ShortText | None = None
    medium: ShortText | None = None
    campaign_id: PlatformId | None = None
    ad_id: PlatformId | None = None

    def as_json(self) -> dict[str, str]:
        data = self.model_dump(exclude_none=True)
        data["timestamp"] = self.timestamp.isoformat()
        return data


class LeadIn(BaseModel):
    """A lead posted by a landing page. At least one of `email` and `phone` is required."""

    model_config = ConfigDict(
        extra="forbid",
        coerce_numbers_to_str=True,
        title="Lead",
        json_schema_extra={
            "anyOf": [
                {"required": ["email"], "properties": {"email": {"type": "string"}}},
                {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
            ]
        },
    )

    organization: Organization = Field(description="The organization's id (uuid) or its webhook slug.")
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = Field(default=None, description="6 to 32 characters: digits, spaces, + ( ) . -")
    campaign_id: PlatformId | None = None
    ad_id: PlatformId | None = None
    ad_set_id: PlatformId | None = None
    utm_source: Text | None = None
    utm_medium: Text | None = None
    utm_campaign: Text | None = None
    utm_content: Text | None = None
    utm_term: Text | None = None
    gclid: ClickId | None = None
    fbclid: ClickId | None = None
    touchpoints: list[Touchpoint] | None = Field(default=None, max_length=MAX_TOUCHPOINTS)

    @model_validator(mode="after")
    def _reachable(self) -> LeadIn:
        if self.email is None and self.phone is None:
            raise ValueError("a lead needs an email or a phone")
        if self.phone is not None and sum(ch.isdigit() for ch in self.phone) < _MIN_PHONE_DIGITS:
            raise ValueError(f"phone needs at least {_MIN_PHONE_DIGITS} digits")
        return self

    def sql_params(self) -> dict[str, Any]:
        """The lead's columns as bound parameters for sql/webhook/insert_lead.sql."""
        params = self.model_dump(exclude={"organization", "touchpoints"})
        params["touchpoints"] = None if self.touchpoints is None else [t.as_json() for t in self.touchpoints]
        return params


def field_errors(exc: Any) -> list[dict[str, str]]:
    """Pydantic errors as {field, problem} without the offending values (they may be PII)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append({"field": field, "problem": _plain(error["msg"])})
    return problems


def _plain(message: str) -> str:
    # Pydantic quotes the whole regex on a pattern mismatch; the field name says enough.
    return re.sub(r"String should match pattern '.*'", "has characters or a format that is not allowed", message)
