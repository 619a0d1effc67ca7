"""The one PostgreSQL resource, instantiated for the CRM and for BI from EnvVar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, libpq_url, redact


class DatabaseConnectionError(RuntimeError):
    """A database could not be reached; the message never carries a password."""


class PostgresResource(ConfigurableResource):
    """A PostgreSQL database reached with psycopg 3.

    Each connection carries `application_name` (so a DBA sees who is connected in pg_stat_activity)
    and a statement timeout, so no pipeline query can hold the database indefinitely.
    """

    url: str = Field(description="libpq URL of the database; its password is never logged.")
    application_name: str = Field(default="hyperdash-pipeline")
    statement_timeout_ms: int = Field(default=15 * 60 * 1000, ge=0, description="0 disables the timeout.")
    lock_timeout_ms: int = Field(default=30_000, ge=0, description="0 disables the timeout.")

    @property
    def safe_url(self) -> str:
        return redact(self.url)

    def _options(self) -> str:
        return f"-c statement_timeout={self.statement_timeout_ms} -c lock_timeout={self.lock_timeout_ms}"

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        """Open a connection; the caller closes it (prefer `connection()`)."""
        try:
            return psycopg.connect(
                libpq_url(self.url),
                autocommit=autocommit,
                application_name=self.application_name,
                options=self._options(),
            )
        except psycopg.OperationalError as exc:
            raise DatabaseConnectionError(
                f"cannot connect to {self.safe_url} ({self.application_name}): {redact(str(exc)).strip()}"
            ) from None

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
    return PostgresResource(url=EnvVar(CRM_URL_VAR), application_name="hyperdash-pipeline/crm")


def bi_resource() -> PostgresResource:
    return PostgresResource(url=EnvVar(BI_URL_VAR), application_name="hyperdash-pipeline/bi")
