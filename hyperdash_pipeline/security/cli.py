"""`hyperdash roles apply [--print-sql] [--prefix P]`: create the roles and grant what each component needs."""

from __future__ import annotations

import argparse
import sys

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.security.roles import RoleNames, bi_statements, crm_statements
from hyperdash_pipeline.settings import libpq_url, redact


def _database_name(url: str) -> str:
    return str(conninfo_to_dict(libpq_url(url)).get("dbname") or "postgres")


def _render(statements: list[sql.Composed]) -> str:
    return "".join(statement.as_string(None) + ";\n" for statement in statements)


def _apply(url: str, label: str, roles: RoleNames) -> None:
    with connect(url, "admin", "hyperdash-roles") as conn:
        database = _database_name(url)
        if label == "CRM":
            row = conn.execute("SELECT to_regclass('webhook_sources') IS NOT NULL").fetchone()
            statements = crm_statements(roles, database, webhook_tables=bool(row and row[0]))
        else:
            statements = bi_statements(roles, database)
        for statement in statements:
            conn.execute(statement)
    print(f"{label}: {len(statements)} statements applied ({redact(url)})")


def _roles(args: argparse.Namespace) -> int:
    try:
        roles = RoleNames.with_prefix(args.prefix)
    except ValueError as exc:
        print(f"hyperdash roles: {exc}", file=sys.stderr)
        return 2
    urls = export_database_urls()
    if args.print_sql:
        print(f"-- CRM ({_database_name(urls.crm)}): as a superuser, after `hyperdash migrate`")
        print(_render(crm_statements(roles, _database_name(urls.crm))))
        print(f"-- BI ({_database_name(urls.bi)})")
        print(_render(bi_statements(roles, _database_name(urls.bi))))
        return 0
    for url, label in ((urls.crm, "CRM"), (urls.bi, "BI")):
        try:
            _apply(url, label, roles)
        except psycopg.errors.InsufficientPrivilege as exc:
            print(
                f"hyperdash roles: {label}: {exc.diag.message_primary}. Run it as a superuser, or give "
                "`hyperdash roles apply --print-sql` to a DBA.",
                file=sys.stderr,
            )
            return 2
        except psycopg.errors.UndefinedTable as exc:
            print(
                f"hyperdash roles: {label}: {exc.diag.message_primary}; run `hyperdash migrate` first", file=sys.stderr
            )
            return 2
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    roles = sub.add_parser("roles", help="least-privilege database roles for each component (docs/security.md)")
    actions = roles.add_subparsers(dest="roles_action", required=True)
    apply = actions.add_parser("apply", help="create the roles and grant what each component needs (idempotent)")
    apply.add_argument(
        "--print-sql", action="store_true", help="print the statements for a DBA instead of running them"
    )
    apply.add_argument("--prefix", default="hyperdash_", help="role name prefix (default hyperdash_)")
    apply.set_defaults(handler=_roles)
