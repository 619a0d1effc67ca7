"""The database roles each component runs as, and exactly what each may do (docs/security.md#roles).

- `<p>migrator` (CRM): owns the CRM objects it creates and runs `hyperdash migrate` on the CRM; no superuser.
- `<p>sync` (CRM): reads the six tables and the tombstones, prunes tombstones, may set only
  `leads.attribution_synced` (the receipt, skipping the trigger through `hyperdash_receipt`), and reads
  every session's activity (`pg_read_all_stats`: the sync's upper bound stays below open transactions).
- `<p>webhook` (CRM): reads webhook sources; inserts requests, contacts and leads; reads back only the
  contact columns of the e-mail match and the new lead's id.
- `<p>bi_writer` (BI): owns BI's tables (the sync's mirror and every analytics refresh; the refresh
  rebuilds indexes, which only an owner may) and runs `hyperdash migrate` on BI. It has no CRM access.
- `<p>analyst` (BI): reads the tables analysts read, nothing else.

`hyperdash_receipt` (no login, fixed name, created by crm/0901) is the only role whose sessions may skip
the leads trigger for the receipt; `<p>sync` is made a member. The statements are idempotent: apply
them after every `hyperdash migrate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from hyperdash_pipeline.settings import read_sql
from hyperdash_pipeline.sync.schema import CRM_TABLES

RECEIPT_ROLE = "hyperdash_receipt"
BI_SCHEMAS = ("public", "crm_raw", "analytics")
# What analysts read (README "The tables analysts read"): every mirror and analytics table, and these.
ANALYST_PUBLIC_TABLES = ("campaign_metrics", "lead_attribution", "ai_creative_insights", "quarantine")
# The columns of contacts the webhook's e-mail match reads (sql/webhook/insert_lead.sql).
WEBHOOK_CONTACT_COLUMNS = ("id", "organization_id", "email", "deleted_at", "created_at")
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class RoleNames:
    migrator: str
    sync: str
    webhook: str
    bi_writer: str
    analyst: str

    @classmethod
    def with_prefix(cls, prefix: str = "hyperdash_") -> RoleNames:
        if not _PREFIX.match(prefix):
            raise ValueError(f"role prefix {prefix!r}: use lower-case letters, digits and _, starting with a letter")
        return cls(*(prefix + name for name in ("migrator", "sync", "webhook", "bi_writer", "analyst")))


def _create_role(name: str, login: bool) -> sql.Composed:
    """CREATE ROLE unless it exists (a concurrent creator is tolerated); never sets a password."""
    create = sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name), sql.SQL("LOGIN" if login else "NOLOGIN"))
    body = sql.SQL(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN {create}; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    return body.format(name=sql.Literal(name), create=create)


def _ident(*names: str) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def crm_statements(roles: RoleNames, database: str, *, webhook_tables: bool = True) -> list[sql.Composed]:
    """The CRM's roles and grants (run as a superuser, or a DBA with CREATEROLE and the tables' owner).

    `webhook_tables` False leaves out the webhook's grants (an existing CRM migrated with
    `--existing-crm` has no webhook tables). Nothing is revoked from PUBLIC here: on a CRM other
    applications may rely on it; docs/security.md says what a DBA may tighten.
    """
    sync, webhook = sql.Identifier(roles.sync), sql.Identifier(roles.webhook)
    tables = _ident(*CRM_TABLES)
    statements: list[sql.Composed] = [
        _create_role(roles.migrator, login=True),
        _create_role(roles.sync, login=True),
        _create_role(roles.webhook, login=True),
        _create_role(RECEIPT_ROLE, login=False),
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), _ident(roles.migrator, roles.sync, roles.webhook)
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(sync, webhook),
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(roles.migrator)),
        # The sync: read the six tables and the tombstones, prune tombstones, the receipt flag only.
        sql.SQL("GRANT SELECT ON {} TO {}").format(tables, sync),
        sql.SQL("GRANT SELECT, DELETE ON sync_tombstones TO {}").format(sync),
        sql.SQL("GRANT UPDATE (attribution_synced) ON leads TO {}").format(sync),
        sql.SQL("GRANT {} TO {}").format(sql.Identifier(RECEIPT_ROLE), sync),
        sql.SQL("GRANT pg_read_all_stats TO {}").format(sync),
        # Its own bookkeeping (migration crm/1001): the generation it bumps, how far it pruned tombstones.
        sql.SQL("GRANT SELECT, INSERT, UPDATE ON hyperdash_sync_generation, sync_tombstones_pruned TO {}").format(sync),
    ]
    if not webhook_tables:
        return statements
    return [
        *statements,
        # The webhook: its sources, its request log, and new contacts and leads.
        sql.SQL("GRANT SELECT ON webhook_sources TO {}").format(webhook),
        sql.SQL("GRANT SELECT, INSERT ON webhook_requests TO {}").format(webhook),
        sql.SQL("GRANT INSERT ON contacts, leads TO {}").format(webhook),
        sql.SQL("GRANT SELECT ({}) ON contacts TO {}").format(_ident(*WEBHOOK_CONTACT_COLUMNS), webhook),
        sql.SQL("GRANT SELECT (id) ON leads TO {}").format(webhook),
    ]


def bi_statements(roles: RoleNames, database: str) -> list[sql.Composed]:
    """BI's roles and grants. The BI writer owns BI's tables: the analytics refresh drops and rebuilds
    indexes and disables a trigger inside its transaction (transforms.bulk_load), which PostgreSQL allows
    only to a table's owner; so it is also the role that runs `hyperdash migrate` on BI. Tables a later
    migration creates are readable by the analyst through default privileges."""
    writer, analyst = sql.Identifier(roles.bi_writer), sql.Identifier(roles.analyst)
    statements: list[sql.Composed] = [
        _create_role(roles.bi_writer, login=True),
        _create_role(roles.analyst, login=True),
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(database), writer),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), analyst),
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(writer),
        sql.SQL("ALTER SCHEMA crm_raw OWNER TO {}").format(writer),
        sql.SQL("ALTER SCHEMA analytics OWNER TO {}").format(writer),
        sql.SQL(read_sql("transforms/security/take_bi_ownership.sql")).format(owner=sql.Literal(roles.bi_writer)),
        sql.SQL("GRANT USAGE ON SCHEMA public, crm_raw, analytics TO {}").format(analyst),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA crm_raw, analytics TO {}").format(analyst),
        sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.SQL(", ").join(sql.Identifier("public", t) for t in ANALYST_PUBLIC_TABLES), analyst
        ),
    ]
    for schema in ("crm_raw", "analytics"):
        statements.append(
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                writer, sql.Identifier(schema), analyst
            )
        )
    return statements
