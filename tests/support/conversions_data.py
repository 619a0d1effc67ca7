"""BI rows the conversions tests need: an organization, a destination integration, leads and won deals
in the CRM mirror (crm_raw), written as the sync would leave them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

NOW = datetime.now(UTC)


def add_organization(conn: psycopg.Connection, slug: str = "acme", *, require_consent: bool = False) -> str:
    row = conn.execute(
        "INSERT INTO organizations (name, slug, conversions_require_consent) VALUES (%s, %s, %s) RETURNING id",
        (slug.title(), slug, require_consent),
    ).fetchone()
    assert row is not None
    return str(row[0])


def add_destination(
    conn: psycopg.Connection,
    organization_id: str,
    provider: str,
    account: str,
    config: dict[str, Any],
    env_var: str | None = None,
) -> str:
    row = conn.execute(
        "INSERT INTO integrations (organization_id, provider, account_id, conversions_config, credentials_env_var) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (organization_id, provider, account, Jsonb(config), env_var),
    ).fetchone()
    assert row is not None
    return str(row[0])


def meta_destination(conn: psycopg.Connection, organization_id: str, env_var: str | None = None) -> str:
    return add_destination(conn, organization_id, "meta", "act_1001", {"dataset_id": "123456789"}, env_var)


GOOGLE_ACTIONS = {
    "lead": "customers/1234567890/conversionActions/111",
    "qualified": "customers/1234567890/conversionActions/222",
    "purchase": "customers/1234567890/conversionActions/333",
}


def google_destination(conn: psycopg.Connection, organization_id: str) -> str:
    return add_destination(conn, organization_id, "google", "123-456-7890", {"conversion_actions": GOOGLE_ACTIONS})


def add_lead(
    conn: psycopg.Connection,
    organization_id: str,
    *,
    email: str | None = "Jane.Doe@Example.com ",
    phone: str | None = "+1 (650) 555-1212",
    fbclid: str | None = None,
    gclid: str | None = None,
    utm_source: str | None = None,
    status: str = "new",
    created_at: datetime | None = None,
    ad_user_data: bool | None = None,
    ad_personalization: bool | None = None,
) -> str:
    lead_id = str(uuid.uuid4())
    created = created_at or NOW - timedelta(hours=2)
    conn.execute(
        "INSERT INTO crm_raw.leads (id, organization_id, email, phone, status, fbclid, gclid, utm_source, "
        "attribution_synced, created_at, updated_at, ad_user_data_consent, ad_personalization_consent) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false, %s, %s, %s, %s)",
        (
            lead_id,
            organization_id,
            email,
            phone,
            status,
            fbclid,
            gclid,
            utm_source,
            created,
            created,
            ad_user_data,
            ad_personalization,
        ),
    )
    return lead_id


def add_won_deal(
    conn: psycopg.Connection,
    organization_id: str,
    lead_id: str,
    amount: str = "1999.90",
    currency: str = "BRL",
    closed_at: datetime | None = None,
) -> str:
    deal_id = str(uuid.uuid4())
    closed = closed_at or NOW - timedelta(hours=1)
    conn.execute(
        "INSERT INTO crm_raw.deals (id, organization_id, lead_id, stage, amount, currency, closed_at, created_at, "
        "updated_at) VALUES (%s, %s, %s, 'won', %s, %s, %s, %s, %s)",
        (deal_id, organization_id, lead_id, Decimal(amount), currency, closed, closed, closed),
    )
    return deal_id
