"""The webhook's CRM access: an async psycopg pool, a short-lived cache of sources, the lead insert."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hyperdash_pipeline.conventions import read_sql
from hyperdash_pipeline.settings import libpq_url

INSERT_LEAD_SQL = read_sql("webhook/insert_lead.sql")
FIND_REQUEST_SQL = read_sql("webhook/find_request.sql")
LOOKUP_SOURCE_SQL = read_sql("webhook/lookup_source.sql")


@dataclass(frozen=True)
class Source:
    """An organization allowed to post, with the keys that verify its signatures now."""

    organization_id: uuid.UUID
    slug: str
    keys: tuple[bytes, ...]


@dataclass(frozen=True)
class Outcome:
    """What a post came to: a new lead, the lead of an earlier identical post, or a conflict."""

    lead_id: uuid.UUID | None
    created: bool
    conflict: str | None = None  # "replay" or "idempotency_key_reused"


def make_pool(crm_url: str, size: int) -> AsyncConnectionPool:
    """An unopened pool of autocommit connections: each lead is one statement, hence one transaction."""
    return AsyncConnectionPool(
        libpq_url(crm_url),
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True, "application_name": "hyperdash-webhook"},
        open=False,
        timeout=5.0,
    )


class SourceCache:
    """Sources by id or slug, kept `ttl` seconds so a burst costs one lookup; unknown ones are cached too.

    A rotation or deactivation therefore takes effect within `ttl` seconds in every worker.
    """

    def __init__(self, pool: AsyncConnectionPool, ttl: float) -> None:
        self._pool = pool
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Source | None]] = {}

    async def get(self, key: str) -> Source | None:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._pool.connection() as conn:
            row = await (await conn.execute(LOOKUP_SOURCE_SQL, {"key": key})).fetchone()
        source = None
        if row is not None:
            keys = tuple(bytes(k) for k in (row[2], row[3]) if k is not None)
            source = Source(organization_id=row[0], slug=row[1], keys=keys)
        if len(self._entries) > 10_000:  # garbage organizations must not grow memory without bound
            self._entries.clear()
        self._entries[key] = (now + self._ttl, source)
        return source


async def insert_lead(
    conn: AsyncConnection[Any],
    *,
    organization_id: uuid.UUID,
    idempotency_key: str,
    signature: bytes,
    body_sha256: bytes,
    lead: dict[str, Any],
) -> Outcome:
    """Write the lead and its contact in one statement, or report the earlier post it repeats."""
    keys = {
        "organization_id": organization_id,
        "idempotency_key": idempotency_key,
        "signature": signature,
    }
    params = {**keys, **lead, "body_sha256": body_sha256}
    if params["touchpoints"] is not None:
        params["touchpoints"] = orjson.dumps(params["touchpoints"]).decode()
    for _attempt in range(2):
        row = await (await conn.execute(INSERT_LEAD_SQL, params)).fetchone()
        if row is not None:
            return Outcome(lead_id=row[0], created=True)
        earlier = await (await conn.execute(FIND_REQUEST_SQL, keys)).fetchone()
        if earlier is None:  # the earlier request row was pruned between the two statements: insert again
            continue
        lead_id, earlier_sha256, same_signature = earlier
        if same_signature:
            return Outcome(lead_id=None, created=False, conflict="replay")
        if bytes(earlier_sha256) != body_sha256:
            return Outcome(lead_id=None, created=False, conflict="idempotency_key_reused")
        return Outcome(lead_id=lead_id, created=False)
    raise RuntimeError("webhook_requests changed under two attempts in a row; the client may retry")
