"""Normalisation and hashing of what identifies a person, against the platforms' published examples,
and the formats of the ids and times the payloads carry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from hyperdash_pipeline.conversions import normalize

# Meta, "Customer Information Parameters" (em, ph): input, normalised form, published SHA-256.
META_EMAIL = (
    "John_Smith@gmail.com",
    "john_smith@gmail.com",
    "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
)
META_PHONE = ("(650)555-1212", "16505551212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176")


def test_meta_email_matches_the_published_example() -> None:
    raw, normalised, digest = META_EMAIL
    assert normalize.meta_email(f"  {raw} ") == normalised
    assert normalize.hashed(normalize.meta_email(raw)) == digest


def test_meta_phone_matches_the_published_example_with_the_us_country_code() -> None:
    raw, normalised, digest = META_PHONE
    assert normalize.meta_phone(raw, "1") == normalised
    assert normalize.hashed(normalize.meta_phone(raw, "1")) == digest
    # Written internationally, the same number needs no default country.
    assert normalize.meta_phone("+1 650-555-1212", None) == normalised
    assert normalize.meta_phone("001 650 555 1212", None) == normalised


def test_a_national_phone_without_a_default_country_is_not_sent() -> None:
    assert normalize.meta_phone("(650)555-1212", None) is None
    assert normalize.google_phone("(650)555-1212", None) is None


def test_national_trunk_zero_is_dropped_before_the_country_code() -> None:
    assert normalize.meta_phone("011 98765-4321", "55") == "5511987654321"
    assert normalize.google_phone("011 98765-4321", "55") == "+5511987654321"


def test_google_email_drops_dots_of_gmail_local_parts_only() -> None:
    assert normalize.google_email(" Jane.Doe@Gmail.com") == "janedoe@gmail.com"
    assert normalize.google_email("jane.doe@googlemail.com") == "janedoe@googlemail.com"
    assert normalize.google_email("jane.doe@example.com") == "jane.doe@example.com"
    # John_Smith has no dots: Google's normal form equals Meta's, so the published digest holds.
    assert normalize.hashed(normalize.google_email(META_EMAIL[0])) == META_EMAIL[2]


def test_google_phone_is_e164() -> None:
    assert normalize.google_phone("(650)555-1212", "1") == "+16505551212"
    assert re.fullmatch(r"\+[1-9]\d{6,14}", normalize.google_phone("+44 20 7946 0958", None) or "")


def test_what_is_not_an_email_is_not_hashed() -> None:
    for raw in (None, "", "  ", "no-at-sign", "a@b", "two words@x.com"):
        assert normalize.meta_email(raw) is None


def test_fbc_is_version_subdomain_creation_ms_and_the_fbclid_unchanged() -> None:
    clicked = datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=UTC)
    fbclid = "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
    assert normalize.meta_fbc(fbclid, clicked) == f"fb.1.1796119200123.{fbclid}"


def test_google_datetime_format() -> None:
    moment = datetime(2026, 12, 1, 7, 5, 9, tzinfo=timezone(timedelta(hours=-3)))
    assert normalize.google_datetime(moment) == "2026-12-01 10:05:09+00:00"


def test_event_ids_are_deterministic_and_distinct_per_event() -> None:
    lead, deal = "9f0e6d5c-0000-4000-8000-000000000001", "9f0e6d5c-0000-4000-8000-000000000002"
    assert normalize.event_id("lead", lead) == normalize.event_id("lead", lead)
    # Pinned: a changed namespace or key would re-id every event and make the platforms count it twice.
    assert str(normalize.event_id("lead", lead)) == "1e4a45e5-1006-5990-a883-d456999be4e9"
    ids = {
        normalize.event_id("lead", lead),
        normalize.event_id("qualified", lead),
        normalize.event_id("purchase", lead, deal),
    }
    assert len(ids) == 3


emails = st.emails()


@given(emails)
def test_normalisation_is_idempotent_and_hashes_are_lower_hex(email: str) -> None:
    for normal in (normalize.meta_email, normalize.google_email):
        once = normal(email)
        if once is None:
            continue
        assert normal(once) == once
        assert once == once.strip().lower()
        assert re.fullmatch(r"[0-9a-f]{64}", normalize.sha256_hex(once))


@given(st.text(alphabet="0123456789 ()-.+", min_size=0, max_size=25), st.sampled_from([None, "1", "55", "44"]))
def test_international_digits_are_digits_without_leading_zero(raw: str, country: str | None) -> None:
    digits = normalize.international_digits(raw, country)
    if digits is not None:
        assert digits.isdigit() and not digits.startswith("0") and 7 <= len(digits) <= 15
        assert normalize.google_phone(raw, country) == f"+{digits}"
