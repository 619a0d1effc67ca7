"""CRM rows for the sync tests, made inside PostgreSQL (generate_series), linked like real CRM data, and the
check that BI mirrors the CRM exactly."""

from __future__ import annotations

import psycopg

from hyperdash_pipeline.sync.engine import SYNCED_TABLES, mirror_fingerprints

ORG = "00000000-0000-0000-0000-0000000000a1"

_POPULATE = """
INSERT INTO contacts (organization_id, name, email, phone)
SELECT %(org)s, 'Contact ' || g, 'contact' || g || '@example.com', '+55 11 9' || lpad(g::text, 8, '0')
FROM generate_series(1, %(n)s) AS g;

INSERT INTO leads (organization_id, contact_id, name, email, phone, status, value, campaign_id, ad_id,
                   ad_set_id, utm_source, utm_medium, utm_campaign, gclid, fbclid, touchpoints)
SELECT %(org)s, c.id, c.name, c.email, c.phone,
       (ARRAY['new', 'contacted', 'qualified', 'unqualified', 'won', 'lost'])[1 + g %% 6],
       round((random() * 5000)::numeric, 2),
       'cmp-' || (g %% 7), 'ad-' || (g %% 31), 'set-' || (g %% 13),
       (ARRAY['facebook', 'google', 'newsletter', NULL])[1 + g %% 4], 'cpc', 'spring-' || (g %% 7),
       CASE WHEN g %% 4 = 1 THEN 'gclid-' || g END, CASE WHEN g %% 4 = 0 THEN 'fbclid-' || g END,
       jsonb_build_array(
           jsonb_build_object('timestamp', now() - make_interval(days => (1 + g %% 20)::int), 'channel', 'paid_social',
                              'source', 'facebook', 'medium', 'cpc', 'campaign_id', 'cmp-' || (g %% 7),
                              'ad_id', 'ad-' || (g %% 31)),
           jsonb_build_object('timestamp', now() - make_interval(hours => (1 + g %% 40)::int), 'channel', 'email'))
FROM (SELECT id, name, email, phone, row_number() OVER (ORDER BY email) AS g
      FROM contacts WHERE organization_id = %(org)s) AS c;

INSERT INTO deals (organization_id, lead_id, contact_id, title, stage, amount, currency, closed_at)
SELECT organization_id, id, contact_id, 'Deal for ' || name,
       CASE WHEN status = 'won' THEN 'won' WHEN status = 'lost' THEN 'lost' ELSE 'open' END,
       value, 'USD', CASE WHEN status IN ('won', 'lost') THEN now() END
FROM leads WHERE status IN ('qualified', 'won', 'lost');

INSERT INTO tasks (organization_id, lead_id, title, due_at)
SELECT organization_id, id, 'Call ' || name, now() + interval '2 days' FROM leads;

INSERT INTO notes (organization_id, lead_id, body)
SELECT organization_id, id, 'First contact with ' || name || E'\\nlikes "quotes", commas, and tabs\\t.' FROM leads;

INSERT INTO activities (organization_id, lead_id, kind, occurred_at)
SELECT organization_id, id, (ARRAY['call', 'email', 'meeting', 'whatsapp'])[1 + abs(hashtext(id::text)) %% 4], now()
FROM leads;
"""


def populate(crm_url: str, n: int, org: str = ORG) -> None:
    """n contacts and leads, with deals for a share of them, and a task, note and activity per lead."""
    with psycopg.connect(crm_url, autocommit=True) as conn:
        for statement in _POPULATE.split(";\n\n"):
            conn.execute(statement, {"n": n, "org": org})


def insert_leads(conn: psycopg.Connection, n: int, updated_at: object = None, org: str = ORG) -> None:
    """n bare leads; `updated_at` (a value or an SQL-side default when None) stamps them all alike."""
    conn.execute(
        "INSERT INTO leads (organization_id, name, email, touchpoints, updated_at) "
        "SELECT %s, 'Lead ' || g, 'lead' || g || '-' || gen_random_uuid() || '@example.com', '[]'::jsonb, "
        "coalesce(%s::timestamptz, clock_timestamp()) FROM generate_series(1, %s) AS g",
        [org, updated_at, n],
    )


def assert_exact_mirror(databases, tables=SYNCED_TABLES) -> None:
    """Every synced table of BI's crm_raw equals the CRM's, row for row (fingerprints of both sides)."""
    for table in tables:
        source, mirror = mirror_fingerprints(databases.crm_url, databases.bi_url, table)
        assert mirror == source, f"crm_raw.{table} differs from the CRM: {mirror} != {source}"
