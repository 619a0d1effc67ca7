"""Every active webhook source held in memory and reloaded in the background.

A request is authenticated against this map without touching the database: an unsigned or forged
flood costs a dict look-up and an HMAC, never a connection, and the answer is the same whether the
organization is unknown or the signature is wrong (slugs cannot be enumerated). When the CRM is down
the last good copy keeps verifying, which is what lets the spool accept signed leads meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from hyperdash_pipeline.security.secrets import Keyring, SecretKeyError
from hyperdash_pipeline.settings import read_sql
from hyperdash_pipeline.webhook import logs

LOAD_SOURCES_SQL = read_sql("webhook/load_sources.sql")
log = logs.logger


@dataclass(frozen=True)
class Source:
    """An organization allowed to post, with its current key and the previous one until it expires."""

    organization_id: uuid.UUID
    slug: str
    key: bytes
    previous_key: bytes | None = None
    previous_expires_at: dt.datetime | None = None

    def keys(self, now: dt.datetime) -> tuple[bytes, ...]:
        """The keys that verify at `now` (the previous one only inside its grace period)."""
        if self.previous_key is not None and self.previous_expires_at is not None and now < self.previous_expires_at:
            return (self.key, self.previous_key)
        return (self.key,)


def index_sources(sources: Iterable[Source]) -> dict[str, Source]:
    """Sources by lower-case id and by slug, the two names a post may give."""
    index: dict[str, Source] = {}
    for source in sources:
        index[str(source.organization_id)] = source
        index[source.slug] = source
    return index


class SourceRegistry:
    """The map of sources, reloaded every `interval` seconds by `run()`; `loaded` is False until the first load."""

    def __init__(self, pool: AsyncConnectionPool, interval: float, keyring: Keyring) -> None:
        self._pool = pool
        self._interval = interval
        self._keyring = keyring
        self._index: dict[str, Source] = {}
        self.loaded = False

    def get(self, name: str) -> Source | None:
        return self._index.get(name)

    async def reload(self) -> None:
        async with self._pool.connection(timeout=5.0) as conn:
            rows = await (await conn.execute(LOAD_SOURCES_SQL)).fetchall()
        sources = []
        for row in rows:
            try:
                sources.append(self._source(row))
            except SecretKeyError:  # one unreadable secret must not lock every organization out
                log.error("source_secret_unreadable", extra={"organization_id": str(row[0])})
        self._index = index_sources(sources)
        self.loaded = True

    def _source(self, row: tuple[Any, ...]) -> Source:
        organization_id, slug, secret, previous, previous_expires_at = row
        key = self._keyring.decrypt(organization_id, bytes(secret))
        previous_key = None if previous is None else self._keyring.decrypt(organization_id, bytes(previous))
        return Source(organization_id, slug, key, previous_key, previous_expires_at)

    async def run(self) -> None:
        """Reload forever; a failed reload keeps the last good map (the CRM may be briefly away)."""
        while True:
            try:
                await self.reload()
            except Exception as exc:  # the CRM is down or refusing: keep verifying with what we have
                log.warning("sources_reload_failed", extra={"exception": type(exc).__name__})
            await asyncio.sleep(self._interval)
