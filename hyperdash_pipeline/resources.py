"""The one PostgreSQL resource, instantiated for the CRM and for BI from EnvVar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from hyperdash_pipeline.connections import Database, connect
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, redact


class PostgresResource(ConfigurableResource):
    """A PostgreSQL database reached with psycopg 3.

    Each connection carries `application_name` (so a DBA sees who is connected in pg_stat_activity)
    and a statement timeout, so no pipeline query can hold the database indefinitely.
    """

    url: str = Field(description="libpq URL of the database; its password is never logged.")
    database: Database = Field(default="bi", description="crm or bi: which database's timeouts apply.")
    application_name: str = Field(default="hyperdash-pipeline")
    statement_timeout_ms: int | None = Field(
        default=None, ge=0, description="0 disables; unset: the database's (hyperdash_pipeline.connections)."
    )
    lock_timeout_ms: int | None = Field(
        default=None, ge=0, description="0 disables; unset: the database's (hyperdash_pipeline.connections)."
    )

    @property
    def safe_url(self) -> str:
        return redact(self.url)

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        """Open a connection; the caller closes it (prefer `connection()`)."""
        return connect(
            self.url,
            self.database,
            self.application_name,
            autocommit=autocommit,
            statement_timeout_ms=self.statement_timeout_ms,
            lock_timeout_ms=self.lock_timeout_ms,
        )

    @contextmanager
    def connection(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection that commits on success, rolls back on error and always closes."""
        conn = self.connect(autocommit=autocommit)
        try:
            with conn:
                yield conn
        finally:
            conn.close()


def crm_resource() -> PostgresResource:
    return PostgresResource(url=EnvVar(CRM_URL_VAR), database="crm", application_name="hyperdash-pipeline/crm")


def bi_resource() -> PostgresResource:
    return PostgresResource(url=EnvVar(BI_URL_VAR), database="bi", application_name="hyperdash-pipeline/bi")
