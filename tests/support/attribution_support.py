"""Helpers for the attribution tests: write crm_raw rows the way the CRM sync does, read results back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

LEAD_COLUMNS = (
    "id",
    "organization_id",
    "status",
    "campaign_id",
    "ad_id",
    "ad_set_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "gclid",
    "fbclid",
    "touchpoints",
    "attribution_synced",
    "created_at",
    "updated_at",
    "deleted_at",
)


def lead(**fields: Any) -> dict[str, Any]:
    """A crm_raw.leads row with defaults; `touchpoints` given as Python data."""
    row: dict[str, Any] = dict.fromkeys(LEAD_COLUMNS)
    row.update(
        id=uuid.uuid4(), organization_id=ORG, status="new", attribution_synced=False, created_at=NOW, updated_at=NOW
    )
    row.update(fields)
    return row


def upsert_leads(conn: psycopg.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert or replace leads; _synced_at is the transaction's now(), as the sync stamps it."""
    columns = ", ".join(LEAD_COLUMNS)
    placeholders = ", ".join(f"%({c})s" for c in LEAD_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in LEAD_COLUMNS if c != "id")
    payload = [{**r, "touchpoints": None if r["touchpoints"] is None else Jsonb(r["touchpoints"])} for r in rows]
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO crm_raw.leads ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}, _synced_at = now()",
            payload,
        )
    conn.commit()


def upsert_deal(
    conn: psycopg.Connection,
    lead_id: uuid.UUID | None,
    stage: str = "won",
    amount: float | None = 100.0,
    deal_id: uuid.UUID | None = None,
    organization_id: uuid.UUID = ORG,
    deleted_at: datetime | None = None,
) -> uuid.UUID:
    deal_id = deal_id or uuid.uuid4()
    conn.execute(
        "INSERT INTO crm_raw.deals (id, organization_id, lead_id, stage, amount, currency, closed_at, created_at, "
        "updated_at, deleted_at) VALUES (%s, %s, %s, %s, %s, 'USD', %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET stage = excluded.stage, amount = excluded.amount, "
        "closed_at = excluded.closed_at, deleted_at = excluded.deleted_at, lead_id = excluded.lead_id, "
        "_synced_at = now()",
        (deal_id, organization_id, lead_id, stage, amount, NOW if stage != "open" else None, NOW, NOW, deleted_at),
    )
    conn.commit()
    return deal_id


def touch(ts: datetime, channel: str | None = None, **fields: Any) -> dict[str, Any]:
    t: dict[str, Any] = {"timestamp": ts.isoformat()}
    if channel is not None:
        t["channel"] = channel
    t.update(fields)
    return t


def fetch_all(conn: psycopg.Connection, query: str, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        assert cur.description is not None
        names = [c.name for c in cur.description]
        result = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.commit()
    return result


def credits_by_lead(conn: psycopg.Connection) -> dict[tuple[str, str], list[float]]:
    """{(lead_id, model): [credit by touch_index]}."""
    out: dict[tuple[str, str], list[float]] = {}
    for row in fetch_all(
        conn, "SELECT lead_id, model, touch_index, credit FROM analytics.attribution_credits ORDER BY 1, 2, 3"
    ):
        out.setdefault((str(row["lead_id"]), row["model"]), []).append(row["credit"])
    return out
