"""A CRM that exists before the pipeline and is not shaped like the contract (issue 20's reproduction).

Its six tables differ from docs/contracts.md the way real CRMs do: contacts without `phone`; leads with an
extra `source` column, a column whose name needs quoting ("Lead Score"), `campaign_id` and `utm_*` only for
attribution (no touchpoints, no `updated_at`); keys of the types CRMs use: uuid (leads, activities), bigint
identities (contacts, deals, notes) and text (tasks); no soft-delete column anywhere. A seventh table
(`pipelines`) is not one the pipeline syncs. Deterministic: the same call builds the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

ORGANIZATION = "0f000000-0000-4000-8000-000000000001"
CAMPAIGNS = ("BF-2026", "SUMMER-LAUNCH")

_SCHEMA = """
CREATE TABLE pipelines (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE contacts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid NOT NULL,
    name            text,
    email           varchar(200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE leads (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    contact_id      bigint REFERENCES contacts (id),
    name            text,
    email           text,
    status          text,
    value           numeric(12, 2),
    source          text,
    campaign_id     text,
    utm_source      varchar(100),
    utm_campaign    varchar(100),
    "Lead Score"    integer,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE deals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid NOT NULL,
    lead_id         uuid REFERENCES leads (id),
    title           text,
    stage           text NOT NULL,
    amount          numeric(12, 2),
    currency        char(3) NOT NULL DEFAULT 'BRL',
    closed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tasks (
    id              text PRIMARY KEY,
    organization_id uuid NOT NULL,
    lead_id         uuid,
    title           text NOT NULL,
    due_at          timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE notes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid NOT NULL,
    lead_id         uuid,
    body            text,
    "Created By"    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE activities (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    lead_id         uuid,
    kind            text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
"""

# Lead i: i % 4 == 0 campaign_id only; == 1 utm_source/utm_campaign only; == 2 both; == 3 neither.
_DATA = """
INSERT INTO pipelines (name) VALUES ('sales'), ('onboarding');
INSERT INTO contacts (organization_id, name, email, created_at, updated_at)
SELECT %(org)s, 'Contact ' || i, 'contact' || i || '@example.com',
       %(start)s::timestamptz + i * interval '1 hour', %(start)s::timestamptz + i * interval '1 hour'
FROM generate_series(1, %(leads)s / 2) AS i;
INSERT INTO leads (id, organization_id, contact_id, name, email, status, value, source, campaign_id, utm_source,
                   utm_campaign, "Lead Score", created_at)
SELECT md5('foreign-lead-' || i)::uuid, %(org)s, CASE WHEN i <= %(leads)s / 2 THEN i END,
       'Lead ' || i, 'lead' || i || '@example.com',
       CASE WHEN i <= %(won)s THEN 'won' ELSE 'new' END, 100 + i %% 50, 'form-' || i %% 3,
       CASE WHEN i %% 4 IN (0, 2) THEN (%(campaigns)s::text[])[1 + i / 4 %% 2] END,
       CASE WHEN i %% 4 IN (1, 2) THEN (ARRAY['facebook', 'google'])[1 + i / 4 %% 2] END,
       CASE WHEN i %% 4 IN (1, 2) THEN 'utm-' || (%(campaigns)s::text[])[1 + i / 4 %% 2] END,
       i %% 100, %(start)s::timestamptz + i * interval '30 minutes'
FROM generate_series(1, %(leads)s) AS i;
INSERT INTO deals (organization_id, lead_id, title, stage, amount, closed_at, created_at, updated_at)
SELECT %(org)s, md5('foreign-lead-' || i)::uuid, 'Deal ' || i,
       CASE WHEN i <= %(won)s THEN 'won' ELSE 'open' END, 1000 + i,
       CASE WHEN i <= %(won)s THEN %(start)s::timestamptz + i * interval '30 minutes' + interval '3 days' END,
       %(start)s::timestamptz + i * interval '30 minutes', %(start)s::timestamptz + i * interval '30 minutes'
FROM generate_series(1, %(won)s * 2) AS i;
INSERT INTO tasks (id, organization_id, lead_id, title, due_at)
SELECT 'T-' || i, %(org)s, md5('foreign-lead-' || i)::uuid, 'Call back', now() + interval '1 day'
FROM generate_series(1, 20) AS i;
INSERT INTO notes (organization_id, lead_id, body, "Created By")
SELECT %(org)s, md5('foreign-lead-' || i)::uuid, 'Note ' || i, 'agent ' || i %% 3 FROM generate_series(1, 20) AS i;
INSERT INTO activities (id, organization_id, lead_id, kind, occurred_at)
SELECT md5('foreign-activity-' || i)::uuid, %(org)s, md5('foreign-lead-' || i)::uuid, 'call', now()
FROM generate_series(1, 20) AS i;
"""


@dataclass(frozen=True)
class ForeignCrm:
    leads: int
    won_deals: int


def build_foreign_crm(url: str, leads: int = 1000, won_deals: int = 50) -> ForeignCrm:
    """Create the foreign-shaped tables in the (empty) database at `url` and fill them."""
    params = {
        "org": ORGANIZATION,
        "leads": leads,
        "won": won_deals,
        "campaigns": list(CAMPAIGNS),
        "start": "2026-01-01T00:00:00Z",
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_SCHEMA)
        with conn.transaction():
            for statement in filter(str.strip, _DATA.split(";\n")):
                conn.execute(statement, params)
    return ForeignCrm(leads=leads, won_deals=won_deals)


def current_columns(url: str, tables: tuple[str, ...]) -> dict[str, list[str]]:
    """Each table's columns now: digests over them later tell whether any row changed, whatever was added."""
    with psycopg.connect(url) as conn:
        return {table: columns_of(conn, table) for table in tables}


def digests_over(url: str, columns: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """(rows, md5 of every row's text over `columns`) per table."""
    with psycopg.connect(url) as conn:
        return {table: _digest(conn, table, names) for table, names in columns.items()}


def columns_of(conn: psycopg.Connection, table: str) -> list[str]:
    query = "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
    return [row[0] for row in conn.execute(query, [table]).fetchall()]


def _digest(conn: psycopg.Connection, table: str, columns: list[str]) -> tuple[int, str]:
    row_text = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    query = sql.SQL("SELECT count(*), md5(coalesce(string_agg({r}, '|' ORDER BY {r}), '')) FROM {t}").format(
        r=row_text, t=sql.Identifier(table)
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])
