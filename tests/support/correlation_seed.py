"""Direct inserts into the BI tables the correlation assets read: the CRM mirror (attributed by the real
lead_attribution asset), ad metrics and multi-touch credits; and a snapshot of the correlation tables to
compare two builds row for row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
from psycopg import sql

# Every column but the build timestamps and surrogate ids, in a stable order.
SNAPSHOT_TABLES = {
    "analytics.campaign_lead_quality": "organization_id, source, campaign_id",
    "analytics.creative_performance": "organization_id, source, campaign_id, ad_id",
    "analytics.campaign_weekly": "organization_id, source, campaign_id, week_start",
    "analytics.campaign_attributed_revenue": "organization_id, campaign_id, model",
    "public.ai_creative_insights": "organization_id, source, campaign_id, ad_id",
}
SNAPSHOT_IGNORED = {"built_at", "generated_at", "id"}


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every correlation table's rows (SNAPSHOT_TABLES), without the columns that differ between two builds."""
    tables = {}
    for table, order in SNAPSHOT_TABLES.items():
        schema, name = table.split(".")
        columns = [
            c
            for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                " ORDER BY ordinal_position",
                (schema, name),
            )
            if c not in SNAPSHOT_IGNORED
        ]
        query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"  # test-only constant names
        tables[table] = conn.execute(query).fetchall()
    return tables


def ts(text: str) -> datetime:
    """An ISO timestamp taken as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class BiSeeder:
    conn: psycopg.Connection

    def organization(self, slug: str) -> uuid.UUID:
        row = self.conn.execute(
            "INSERT INTO organizations (name, slug) VALUES (%s, %s) RETURNING id", (slug.title(), slug)
        ).fetchone()
        assert row is not None
        return row[0]

    def metrics(
        self,
        org: uuid.UUID,
        source: str,
        campaign_id: str,
        ad_id: str | None,
        day: date,
        *,
        spend: str | float = 0,
        impressions: int = 0,
        clicks: int = 0,
        conversions: str | float = 0,
        conversion_value: str | float = 0,
        video_3s_views: int = 0,
        thruplays: int = 0,
        currency: str = "USD",
        campaign_name: str | None = None,
        ad_name: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_id, date, currency, spend,"
            " impressions, clicks, conversions, conversion_value, video_3s_views, thruplays, campaign_name, ad_name)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                org,
                source,
                campaign_id,
                ad_id,
                day,
                currency,
                Decimal(str(spend)),
                impressions,
                clicks,
                Decimal(str(conversions)),
                Decimal(str(conversion_value)),
                video_3s_views,
                thruplays,
                campaign_name,
                ad_name,
            ),
        )

    def lead(
        self,
        org: uuid.UUID,
        source: str | None,
        campaign_id: str,
        ad_id: str | None,
        created_at: datetime,
        *,
        deleted: bool = False,
    ) -> uuid.UUID:
        """A CRM lead mirrored in crm_raw.leads; the lead_attribution asset (materialized with the correlation
        assets) attributes it to `source` (its utm_source), `campaign_id` and `ad_id`."""
        lead_id = uuid.uuid4()
        self.conn.execute(
            "INSERT INTO crm_raw.leads (id, organization_id, status, campaign_id, ad_id, utm_source,"
            " attribution_synced, created_at, updated_at, deleted_at)"
            " VALUES (%s, %s, 'new', %s, %s, %s, true, %s, %s, %s)",
            (lead_id, org, campaign_id, ad_id, source, created_at, created_at, created_at if deleted else None),
        )
        return lead_id

    def deal(
        self,
        org: uuid.UUID,
        lead_id: uuid.UUID,
        stage: str,
        amount: str | float | None,
        *,
        deleted: bool = False,
        currency: str = "USD",
    ) -> None:
        now = ts("2026-02-01T00:00:00")
        self.conn.execute(
            "INSERT INTO crm_raw.deals (id, organization_id, lead_id, stage, amount, currency, closed_at,"
            " created_at, updated_at, deleted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                uuid.uuid4(),
                org,
                lead_id,
                stage,
                None if amount is None else Decimal(str(amount)),
                currency,
                now if stage != "open" else None,
                now,
                now,
                now if deleted else None,
            ),
        )

    def credit(
        self,
        org: uuid.UUID,
        lead_id: uuid.UUID,
        touch_index: int,
        campaign_id: str | None,
        model: str,
        credit: float,
        revenue_credit: str | float,
    ) -> None:
        """One row of the analytics.attribution_credits view: the model's columns of the stored touch (the
        touch is created with `campaign_id` by its first credit)."""
        credit_column, revenue_column = sql.Identifier(model), sql.Identifier(f"{model}_revenue")
        self.conn.execute(
            sql.SQL(
                "INSERT INTO analytics.attribution_touch_credits (organization_id, lead_id, touch_index, channel,"
                " campaign_id, {credit}, {revenue}) VALUES (%s, %s, %s, 'paid', %s, %s, %s)"
                " ON CONFLICT (lead_id, touch_index) DO UPDATE SET {credit} = excluded.{credit},"
                " {revenue} = excluded.{revenue}"
            ).format(credit=credit_column, revenue=revenue_column),
            (org, lead_id, touch_index, campaign_id, credit, Decimal(str(revenue_credit))),
        )
