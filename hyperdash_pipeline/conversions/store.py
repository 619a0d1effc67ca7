"""Reading and writing the outbox: destinations, claiming pending events, recording outcomes, counts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from hyperdash_pipeline.settings import read_sql

SUMMARY_DAYS = 7
_EPOCH = datetime.fromisoformat("0001-01-01T00:00:00+00:00")
_NIL = UUID(int=0)


@dataclass(frozen=True)
class OutboxEvent:
    event_id: UUID
    kind: str
    lead_id: UUID
    deal_id: UUID | None
    event_time: datetime
    value: Decimal | None
    currency: str | None
    click_id: str | None
    click_time: datetime | None
    email_sha256: str | None
    phone_sha256: str | None
    ad_user_data_consent: bool | None
    ad_personalization_consent: bool | None
    attempts: int


@dataclass(frozen=True)
class Destination:
    integration_id: str
    organization_id: str
    organization_slug: str
    account_id: str
    credentials_env_var: str | None
    config: dict[str, Any]
    require_consent: bool

    @property
    def label(self) -> str:
        return f"{self.organization_slug}/{self.account_id}"


@dataclass(frozen=True)
class Outcome:
    event_id: UUID
    status: str  # sent, rejected, expired, skipped_consent, or pending (attempted, not delivered)
    reason: str | None = None
    response: Any = None
    attempted: bool = True


@dataclass(frozen=True)
class PlatformCounts:
    platform: str
    sent: int
    rejected: int
    expired: int
    skipped_consent: int
    pending: int


def destinations(conn: psycopg.Connection, platform: str) -> list[Destination]:
    rows = conn.execute(read_sql("transforms/conversions/destinations.sql"), {"platform": platform}).fetchall()
    return [Destination(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5] or {}, bool(r[6])) for r in rows]


def claim(
    conn: psycopg.Connection,
    platform: str,
    destination: Destination,
    kinds: Sequence[str],
    limit: int,
    after: OutboxEvent | None,
    *,
    lock: bool,
) -> list[OutboxEvent]:
    """The next `limit` pending events after `after`; locked (skipping rows other senders hold) when `lock`."""
    query = read_sql("transforms/conversions/claim_pending.sql") + ("\nFOR UPDATE SKIP LOCKED" if lock else "")
    params = {
        "platform": platform,
        "organization_id": destination.organization_id,
        "kinds": list(kinds),
        "after_time": after.event_time if after else _EPOCH,
        "after_id": after.event_id if after else _NIL,
        "limit": limit,
    }
    return [OutboxEvent(*row) for row in conn.execute(query, params).fetchall()]


def record(conn: psycopg.Connection, platform: str, integration_id: str, outcomes: Sequence[Outcome]) -> None:
    if not outcomes:
        return
    conn.execute(
        read_sql("transforms/conversions/record_outcomes.sql"),
        {
            "platform": platform,
            "integration_id": integration_id,
            "event_ids": [o.event_id for o in outcomes],
            "statuses": [o.status for o in outcomes],
            "reasons": [o.reason for o in outcomes],
            "responses": [None if o.response is None else json.dumps(o.response) for o in outcomes],
            "attempted": [o.attempted for o in outcomes],
        },
    )


def mark_destination(conn: psycopg.Connection, integration_id: str, status: str, error: str | None) -> None:
    conn.execute(
        read_sql("transforms/conversions/mark_destination.sql"),
        {"integration_id": integration_id, "status": status, "last_error": error},
    )


def summary(conn: psycopg.Connection, days: int = SUMMARY_DAYS) -> list[PlatformCounts]:
    rows = conn.execute(read_sql("transforms/conversions/summary.sql"), {"days": days}).fetchall()
    return [PlatformCounts(*row) for row in rows]


@dataclass(frozen=True)
class DestinationState:
    """An integration used as a conversions destination, as the last send left it."""

    platform: str
    integration: str
    status: str | None  # ok, error, unconfigured; None before the first send
    last_error: str | None
    last_sent_at: datetime | None


def destination_states(conn: psycopg.Connection) -> list[DestinationState]:
    rows = conn.execute(
        "SELECT i.provider, o.slug || '/' || i.account_id, i.conversions_status, i.conversions_last_error, "
        "i.conversions_last_sent_at FROM integrations AS i JOIN organizations AS o ON o.id = i.organization_id "
        "WHERE i.conversions_config IS NOT NULL ORDER BY 1, 2"
    ).fetchall()
    return [DestinationState(*row) for row in rows]
