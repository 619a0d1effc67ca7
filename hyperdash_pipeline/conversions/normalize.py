"""Normalising and hashing what identifies a person, and the ids and formats the platforms expect.

Meta (Conversions API, customer information parameters): `em` is the e-mail trimmed and lower-cased;
`ph` is the phone's digits with country code, no `+`, no leading zeros; both SHA-256, lower-case hex.
Google (enhanced conversions): the e-mail trimmed and lower-cased, and for gmail.com / googlemail.com
the dots of the local part removed; the phone in E.164 (`+` then country code and number); SHA-256 hex.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime

# Fixed forever: changing it would give every event a new id and make the platforms count it twice.
EVENT_ID_NAMESPACE = uuid.UUID("5d0c2f0e-4a0f-4d53-9a39-1f3b6f0e7a19")
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_NOT_DIGIT = re.compile(r"\D")


def sha256_hex(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def meta_email(raw: str | None) -> str | None:
    """The e-mail as Meta hashes it (trimmed, lower-case); None when it is not an address."""
    if raw is None:
        return None
    email = raw.strip().lower()
    return email if _looks_like_email(email) else None


def google_email(raw: str | None) -> str | None:
    """The e-mail as Google hashes it: Meta's form, and no dots in a gmail.com / googlemail.com local part."""
    email = meta_email(raw)
    if email is None:
        return None
    local, domain = email.rsplit("@", 1)
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _looks_like_email(email: str) -> bool:
    local, _, domain = email.rpartition("@")
    return bool(local) and "." in domain and " " not in email


def international_digits(raw: str | None, default_country_code: str | None) -> str | None:
    """The phone as country code + number, digits only, no leading zeros.

    A number written with `+` or `00` already carries its country code; any other number is national
    and gets `default_country_code` (e.g. "1", "55") after its trunk zeros are dropped. None when the
    country cannot be known or fewer than 7 digits remain.
    """
    if raw is None:
        return None
    text = raw.strip()
    digits = _NOT_DIGIT.sub("", text)
    if text.startswith("+"):
        number = digits.lstrip("0")
    elif digits.startswith("00"):
        number = digits[2:].lstrip("0")
    elif default_country_code:
        number = _NOT_DIGIT.sub("", default_country_code) + digits.lstrip("0")
    else:
        return None
    return number if 7 <= len(number) <= 15 else None


def meta_phone(raw: str | None, default_country_code: str | None) -> str | None:
    return international_digits(raw, default_country_code)


def google_phone(raw: str | None, default_country_code: str | None) -> str | None:
    digits = international_digits(raw, default_country_code)
    return f"+{digits}" if digits else None


def hashed(normalised: str | None) -> str | None:
    return sha256_hex(normalised) if normalised else None


def event_id(kind: str, lead_id: str, deal_id: str | None = None) -> uuid.UUID:
    """The same CRM event always gets the same id: a lead's creation and qualification are keyed by the
    lead, a purchase by its won deal."""
    key = f"purchase:{deal_id}" if kind == "purchase" else f"{kind}:{lead_id}"
    return uuid.uuid5(EVENT_ID_NAMESPACE, key)


def meta_fbc(fbclid: str, click_time: datetime) -> str:
    """`fb.1.<creation time in ms>.<fbclid>`; the fbclid is kept exactly as received (case matters)."""
    return f"fb.1.{int(click_time.timestamp() * 1000)}.{fbclid}"


def google_datetime(moment: datetime) -> str:
    """`yyyy-mm-dd hh:mm:ss+hh:mm`, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
