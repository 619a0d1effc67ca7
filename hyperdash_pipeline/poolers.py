"""Telling a connection pooler (PgBouncer, Neon's pooled endpoint) from a direct PostgreSQL session.

Two tells, both cheap on a direct connection:

- A pooler answers the client's login itself and gives it a cancel key of its own, so the backend pid of
  the BackendKeyData message the client received (`conn.info.backend_pid`) is not the pid of the backend
  that runs its statements (`pg_backend_pid()`). A plain TCP proxy passes the server's key through. The
  mismatch means "something in between", which may still keep sessions whole (PgBouncer in session mode,
  a cloud provider's proxy in front of a direct endpoint).
- A transaction pooler hands a server connection to another client as soon as a transaction ends. With two
  client connections open, a few statements on each show it: by default PgBouncer reuses the most recently
  released server connection first, so the second client lands on the first one's backend; with
  server_round_robin, one client's statements move between backends. A direct or session-pooled connection
  keeps one backend of its own for its life, so either sighting is proof, never a guess.

Neon names its pooled endpoints `<endpoint>-pooler.<region>...`: that host is recognised without connecting.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.settings import libpq_url

POOLED_HOST_MARK = "-pooler."  # Neon: ep-cool-name-123456-pooler.us-east-2.aws.neon.tech
_PROBES = 3  # rounds of the shared-backend probe (one is enough on an idle pool)


def pooled_host(url: str) -> bool:
    """Whether `url` names a host by the pooled-endpoint convention (Neon's `-pooler` suffix)."""
    host = str(conninfo_to_dict(libpq_url(url)).get("host") or "")
    return any(POOLED_HOST_MARK in name for name in host.split(","))


def _backend_pid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_backend_pid()", prepare=False).fetchone()  # prepared, it would break the probe
    assert row is not None
    return int(row[0])


def behind_pooler(conn: psycopg.Connection[Any]) -> bool:
    """Whether the cancel key `conn` got at login is not its backend's: a pooler or proxy sits in between."""
    return _backend_pid(conn) != conn.info.backend_pid


async def abehind_pooler(conn: psycopg.AsyncConnection[Any]) -> bool:
    """`behind_pooler` for an async connection."""
    row = await (await conn.execute("SELECT pg_backend_pid()", prepare=False)).fetchone()
    assert row is not None
    return int(row[0]) != conn.info.backend_pid


def transaction_pooled(conn: psycopg.Connection[Any], url: str) -> bool:
    """Whether `conn` (autocommit, opened on `url`) goes through a pooler that moves clients between backends.

    Costs one statement on a direct connection; behind a pooler or proxy, one more connection and a few
    statements (the probe of the module docstring).
    """
    if pooled_host(url):
        return True
    if not behind_pooler(conn):
        return False
    with closing(
        connect(url, "crm", "hyperdash-pooler-probe", autocommit=True, through_pooler=True, connect_timeout=10)
    ) as other:
        sightings = {(client, _backend_pid(session)) for _ in range(_PROBES) for client, session in _turns(conn, other)}
    backends = {pid for _, pid in sightings}
    # One backend per client and none shared: exactly two sightings of two distinct backends.
    return len(sightings) != 2 or len(backends) != 2


def _turns(
    conn: psycopg.Connection[Any], other: psycopg.Connection[Any]
) -> tuple[tuple[str, psycopg.Connection[Any]], ...]:
    """One round of the probe: the first client once, the second twice (a round-robin pool then rotates it)."""
    return (("first", conn), ("second", other), ("second", other))
