"""Names of the settings the pipeline reads, and where its local state lives."""

from __future__ import annotations

import os
import re
from pathlib import Path

CRM_URL_VAR = "CRM_DATABASE_URL"
BI_URL_VAR = "BI_DATABASE_URL"
DAGSTER_URL_VAR = "DAGSTER_PG_URL"
HOME_VAR = "HYPERDASH_HOME"
TEST_PG_URL_VAR = "HYPERDASH_TEST_PG_URL"

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
# Symlinks to the top-level sql/ and dagster.yaml in a checkout; real copies inside a built wheel.
SQL_DIR = PACKAGE_DIR / "sql"
DAGSTER_YAML = PACKAGE_DIR / "dagster.yaml"

_PASSWORD_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@?#]*):(?P<password>[^@/?#]*)@")
_PASSWORD_IN_KV = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def hyperdash_home() -> Path:
    """The state folder (embedded server data, Dagster home, reports); `HYPERDASH_HOME` or `./.hyperdash`."""
    return Path(os.environ.get(HOME_VAR, ".hyperdash")).expanduser().resolve()


def redact(text: str) -> str:
    """Hide every password in a URL or libpq key=value string inside `text`."""
    text = _PASSWORD_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PASSWORD_IN_KV.sub(lambda m: f"{m.group(1)}***", text)


def psycopg2_url(url: str) -> str:
    """The SQLAlchemy form dagster-postgres needs (`postgresql+psycopg2://`) of any PostgreSQL URL."""
    return "postgresql+psycopg2://" + libpq_url(url).partition("://")[2]


def libpq_url(url: str) -> str:
    """The plain `postgresql://` form psycopg and psql accept, whatever driver suffix `url` carries."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {redact(url)!r}")
    return f"postgresql://{rest}"
