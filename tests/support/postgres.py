"""What the PostgreSQL fixtures of tests/conftest.py hand to a test: the server, the migrated templates and a
test's own CRM and BI databases. Tests import these types from here, never from conftest."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import libpq_url


def _with_database(admin_url: str, database: str) -> str:
    """`admin_url` pointed at another database on the same server (keeps host, port, user, query)."""
    parts = urlsplit(libpq_url(admin_url))
    return urlunsplit(parts._replace(path=f"/{database}"))


@dataclass(frozen=True)
class PgServer:
    admin_url: str

    def url(self, database: str) -> str:
        return _with_database(self.admin_url, database)

    def execute(self, statement: sql.SQL | sql.Composed | str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self, name: str, template: str | None = None) -> str:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        self.execute(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Templates:
    crm: str
    bi: str


@dataclass(frozen=True)
class Databases:
    crm_url: str
    bi_url: str

    @property
    def crm(self) -> PostgresResource:
        return PostgresResource(url=self.crm_url, database="crm", application_name="hyperdash-test/crm")

    @property
    def bi(self) -> PostgresResource:
        return PostgresResource(url=self.bi_url, application_name="hyperdash-test/bi")
