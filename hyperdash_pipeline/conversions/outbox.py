"""Building `conversions_outbox` from the CRM mirror: which events go to which platform, hashed.

A lead goes to Meta when it has an fbclid or came from a Meta source (contract's source
normalisation: facebook, fb, instagram, ig, meta), to Google when it has a gclid or came from a
Google source (google, adwords, gads); to both when both hold. A lead with neither a click id nor a
hashable e-mail or phone has nothing a platform could match, and gets no row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from hyperdash_pipeline.conversions import normalize
from hyperdash_pipeline.settings import read_sql

META_SOURCES = frozenset({"facebook", "fb", "instagram", "ig", "meta"})
GOOGLE_SOURCES = frozenset({"google", "adwords", "gads"})
HORIZON = timedelta(days=90)  # the longest window any platform accepts (Google's click window)
OVERLAP = timedelta(hours=1)  # re-read rows a sync still committing may have stamped before the watermark

STAGE_COLUMNS = (
    "event_id",
    "platform",
    "organization_id",
    "lead_id",
    "deal_id",
    "event_kind",
    "event_time",
    "value",
    "currency",
    "click_id",
    "click_time",
    "email_sha256",
    "phone_sha256",
    "ad_user_data_consent",
    "ad_personalization_consent",
)


@dataclass(frozen=True)
class Candidate:
    """One CRM event as read from crm_raw (clear-text identifiers: never written anywhere)."""

    kind: str
    lead_id: str
    deal_id: str | None
    organization_id: str
    event_time: datetime
    value: Decimal | None
    currency: str | None
    email: str | None
    phone: str | None
    fbclid: str | None
    gclid: str | None
    utm_source: str | None
    click_time: datetime
    ad_user_data_consent: bool | None
    ad_personalization_consent: bool | None


@dataclass(frozen=True)
class BuildOutcome:
    candidates: int
    inserted: int
    updated: int
    full: bool


def platforms_for(candidate: Candidate) -> list[str]:
    source = (candidate.utm_source or "").strip().lower()
    platforms = []
    if candidate.fbclid or source in META_SOURCES:
        platforms.append("meta")
    if candidate.gclid or source in GOOGLE_SOURCES:
        platforms.append("google")
    return platforms


def outbox_row(candidate: Candidate, platform: str, country_code: str | None) -> tuple[Any, ...] | None:
    """The outbox row of `candidate` for `platform`, identifiers hashed its way; None when unmatchable."""
    if platform == "meta":
        click_id = candidate.fbclid
        email = normalize.hashed(normalize.meta_email(candidate.email))
        phone = normalize.hashed(normalize.meta_phone(candidate.phone, country_code))
    else:
        click_id = candidate.gclid
        email = normalize.hashed(normalize.google_email(candidate.email))
        phone = normalize.hashed(normalize.google_phone(candidate.phone, country_code))
    if not (click_id or email or phone):
        return None
    return (
        normalize.event_id(candidate.kind, candidate.lead_id, candidate.deal_id),
        platform,
        candidate.organization_id,
        candidate.lead_id,
        candidate.deal_id,
        candidate.kind,
        candidate.event_time,
        candidate.value,
        candidate.currency,
        click_id,
        candidate.click_time if click_id else None,
        email,
        phone,
        candidate.ad_user_data_consent,
        candidate.ad_personalization_consent,
    )


def outbox_rows(candidates: Sequence[Candidate], country_code: str | None) -> Iterator[tuple[Any, ...]]:
    for candidate in candidates:
        for platform in platforms_for(candidate):
            row = outbox_row(candidate, platform, country_code)
            if row is not None:
                yield row


def build_outbox(
    conn: psycopg.Connection,
    qualified_statuses: Sequence[str],
    country_code: str | None,
    *,
    full: bool = False,
) -> BuildOutcome:
    """Add the events of rows synced since the last build (all rows with `full`), in one transaction."""
    state = conn.execute("SELECT watermark FROM conversions_outbox_state FOR UPDATE").fetchone()
    started = conn.execute("SELECT now()").fetchone()
    assert started is not None
    since = None if full or state is None else state[0] - OVERLAP
    params = {"since": since, "horizon": started[0] - HORIZON, "qualified_statuses": list(qualified_statuses)}
    candidates = [Candidate(*row) for row in conn.execute(read_sql("transforms/conversions/candidates.sql"), params)]
    conn.execute(
        "CREATE TEMP TABLE conversions_outbox_stage (LIKE conversions_outbox INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    copy_in = f"COPY conversions_outbox_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
    with conn.cursor() as cur, cur.copy(copy_in) as copy:
        for row in outbox_rows(candidates, country_code):
            copy.write_row(row)
    merged = conn.execute(read_sql("transforms/conversions/merge_stage.sql")).fetchone()
    inserted, updated = merged if merged else (0, 0)
    conn.execute(
        "INSERT INTO conversions_outbox_state (singleton, watermark) VALUES (true, %s) "
        "ON CONFLICT (singleton) DO UPDATE SET watermark = excluded.watermark",
        (started[0],),
    )
    return BuildOutcome(len(candidates), inserted, updated, since is None)
