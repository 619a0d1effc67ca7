"""Real PostgreSQL for every test that touches SQL.

One embedded server per test session (or the server at HYPERDASH_TEST_PG_URL when set); CRM and BI
templates are migrated once, and each test gets fresh databases cloned from them in milliseconds.
This file stays at the top of tests/ so its fixtures reach every tests/<concern>/ folder; the types the
fixtures yield are in tests/support/postgres.py.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperdash_pipeline.embedded import database_url, start_embedded, stop_embedded
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, HOME_VAR, TEST_PG_URL_VAR, libpq_url
from tests.support.postgres import Databases, PgServer, Templates

_RUN_TAG = uuid.uuid4().hex[:8]
_counter = itertools.count()


def _traversable_tmp_dir(prefix: str) -> Path:
    """A temp folder other users can traverse. As root, the embedded server runs as the `pgserver`
    user, and pytest keeps its own tmp_path tree at mode 0700 (re-tightened by every pytest session),
    so server data and HYPERDASH_HOMEs live under /tmp/hyperdash-tests instead."""
    base = Path(tempfile.gettempdir()) / "hyperdash-tests"
    base.mkdir(mode=0o755, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    path.chmod(0o755)
    return path


@pytest.fixture
def home_dir() -> Iterator[Path]:
    """A fresh folder for a HYPERDASH_HOME (an embedded server may run under it)."""
    path = _traversable_tmp_dir("home-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def isolated_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs on a HYPERDASH_HOME of its own, never the checkout's `.hyperdash`: a test that writes
    the webhook spool or a report, or a CLI call missing a URL (which starts the embedded server there), would
    otherwise touch the developer's own state, and leave a server running in it after the suite. A server
    started under this home is stopped afterwards. Tests that need a particular home set their own."""
    path = _traversable_tmp_dir("home-")
    monkeypatch.setenv(HOME_VAR, str(path))
    yield path
    stop_embedded(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get(TEST_PG_URL_VAR)
    if external:
        yield PgServer(libpq_url(external))
        return
    home = _traversable_tmp_dir("embedded-")
    socket_dir = start_embedded(home)
    server = PgServer(database_url(socket_dir, "postgres"))
    # Durability is irrelevant for throwaway test data; speed is not.
    for setting in ("fsync", "full_page_writes", "synchronous_commit"):
        server.execute(f"ALTER SYSTEM SET {setting} = off")
    server.execute("SELECT pg_reload_conf()")
    yield server
    stop_embedded(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def templates(pg_server: PgServer) -> Iterator[Templates]:
    names = Templates(crm=f"hd_tmpl_{_RUN_TAG}_crm", bi=f"hd_tmpl_{_RUN_TAG}_bi")
    migrate_all(pg_server.create_database(names.crm), pg_server.create_database(names.bi))
    yield names
    pg_server.drop_database(names.crm)
    pg_server.drop_database(names.bi)


@pytest.fixture
def databases(pg_server: PgServer, templates: Templates, monkeypatch: pytest.MonkeyPatch) -> Iterator[Databases]:
    """Fresh, migrated CRM and BI databases; CRM_DATABASE_URL and BI_DATABASE_URL point at them."""
    n = next(_counter)
    crm_name, bi_name = f"hd_{_RUN_TAG}_{n}_crm", f"hd_{_RUN_TAG}_{n}_bi"
    dbs = Databases(
        crm_url=pg_server.create_database(crm_name, template=templates.crm),
        bi_url=pg_server.create_database(bi_name, template=templates.bi),
    )
    monkeypatch.setenv(CRM_URL_VAR, dbs.crm_url)
    monkeypatch.setenv(BI_URL_VAR, dbs.bi_url)
    yield dbs
    pg_server.drop_database(crm_name)
    pg_server.drop_database(bi_name)


@pytest.fixture
def empty_database(pg_server: PgServer) -> Iterator[str]:
    """A fresh database with nothing in it (for migration tests)."""
    name = f"hd_{_RUN_TAG}_{next(_counter)}_empty"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)
