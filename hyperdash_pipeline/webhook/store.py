"""The webhook's CRM access: an async psycopg pool and the lead insert (group-committed)."""

from __future__ import annotations

import asyncio
import select
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hyperdash_pipeline.connections import pool_kwargs, session_limits_sql
from hyperdash_pipeline.poolers import abehind_pooler
from hyperdash_pipeline.settings import libpq_url, read_sql

# settings.read_sql imports no Dagster, which the worker processes do not need.
INSERT_LEAD_SQL = read_sql("webhook/insert_lead.sql")
FIND_REQUEST_SQL = read_sql("webhook/find_request.sql")

WEBHOOK_APPLICATION = "hyperdash-webhook"
# One lead is one INSERT: a statement still running after this is stuck, and the post is answered 503/spooled.
WEBHOOK_STATEMENT_TIMEOUT_MS = 10_000


class WriteRetry(RuntimeError):
    """The request rows a post collided with vanished twice (pruned meanwhile): writing it again will do."""


@dataclass(frozen=True)
class Outcome:
    """What a post came to: a new lead, the lead of an earlier identical post, or a conflict."""

    lead_id: uuid.UUID | None
    created: bool
    conflict: str | None = None  # "replay" or "idempotency_key_reused"


class GoneConnectionCheck:
    """The pool's check of a connection it hands out, costing no round trip while the server is well.

    An idle connection has nothing to read; one with something to read has most likely been told goodbye
    (the server restarted, failed over, or terminated its backends). Without this check such a connection
    would be handed to the next lead, which would fail, so the first leads after a restart would be spooled
    or refused with 503 although the CRM is back. A goodbye is confirmed with an empty query; then every
    idle connection of the pool is checked at once (its siblings are gone too), so the pool's retry finds
    a working connection instead of backing off through the dead ones one second at a time.
    """

    def __init__(self) -> None:
        self.pool: AsyncConnectionPool | None = None

    async def __call__(self, conn: AsyncConnection[Any]) -> None:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if not poller.poll(0):
            return
        try:
            await conn.execute("")  # a notice or a parameter change reads fine; a goodbye raises
        except psycopg.OperationalError:
            if self.pool is not None:
                await self.pool.check()
            raise


def make_pool(crm_url: str, size: int) -> AsyncConnectionPool:
    """An unopened pool of autocommit connections: each lead is one statement, hence one transaction."""
    check = GoneConnectionCheck()
    check.pool = AsyncConnectionPool(
        libpq_url(crm_url),
        min_size=1,
        max_size=size,
        kwargs=pool_kwargs(WEBHOOK_APPLICATION),
        configure=_configure,
        open=False,
        timeout=5.0,
        check=check,
    )
    return check.pool


async def _configure(conn: AsyncConnection[Any]) -> None:
    """A direct connection gets the webhook's timeouts; one through a pooler gets no server-side prepared statements.

    psycopg prepares a statement on its fifth run; behind a transaction pooler (PgBouncer, Neon's pooled
    endpoint) the next transaction may run on a backend that never saw it ("prepared statement _pg3_0 does not
    exist"), and a session SET would land on whichever backend served it: there the pooler's own limits apply.
    Direct connections keep prepared statements (the insert's plan is reused) and the timeouts.
    """
    if await abehind_pooler(conn):
        conn.prepare_threshold = None
    else:
        await conn.execute(session_limits_sql("crm", statement_timeout_ms=WEBHOOK_STATEMENT_TIMEOUT_MS))


@dataclass(frozen=True)
class LeadPost:
    """A verified, validated post as the bound parameters of sql/webhook/insert_lead.sql."""

    params: dict[str, Any]

    @classmethod
    def build(
        cls,
        *,
        organization_id: uuid.UUID,
        idempotency_key: str,
        signature: bytes,
        body_sha256: bytes,
        lead: dict[str, Any],
    ) -> LeadPost:
        params = {
            **lead,
            "organization_id": organization_id,
            "idempotency_key": idempotency_key,
            "signature": signature,
            "body_sha256": body_sha256,
        }
        if params["touchpoints"] is not None:
            params["touchpoints"] = orjson.dumps(params["touchpoints"]).decode()
        return cls(params)

    @property
    def keys(self) -> dict[str, Any]:
        return {k: self.params[k] for k in ("organization_id", "idempotency_key", "signature")}


async def _earlier(conn: AsyncConnection[Any], post: LeadPost) -> Outcome | None:
    """What the request row a post collided with says; None when that row is gone (pruned meanwhile)."""
    earlier = await (await conn.execute(FIND_REQUEST_SQL, post.keys)).fetchone()
    if earlier is None:
        return None
    lead_id, earlier_sha256, same_signature = earlier
    if same_signature:
        return Outcome(lead_id=None, created=False, conflict="replay")
    if bytes(earlier_sha256) != post.params["body_sha256"]:
        return Outcome(lead_id=None, created=False, conflict="idempotency_key_reused")
    return Outcome(lead_id=lead_id, created=False)


async def insert_lead(conn: AsyncConnection[Any], post: LeadPost) -> Outcome:
    """Write the lead and its contact in one statement (one transaction), or report the post it repeats."""
    for _attempt in range(2):
        row = await (await conn.execute(INSERT_LEAD_SQL, post.params)).fetchone()
        if row is not None:
            return Outcome(lead_id=row[0], created=True)
        outcome = await _earlier(conn, post)
        if outcome is not None:
            return outcome
    raise WriteRetry("webhook_requests changed under two attempts in a row; the client may retry")


async def insert_batch(conn: AsyncConnection[Any], posts: list[LeadPost]) -> list[Outcome]:
    """Write several posts in one transaction and one pipelined round trip (executemany).

    Each lead still commits atomically with its contact and request row. A post that repeats another,
    in this batch or before, finds its earlier row afterwards, in the same transaction.
    """
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(INSERT_LEAD_SQL, [post.params for post in posts], returning=True)
        rows = []
        while True:
            rows.append(await cur.fetchone())
            if not cur.nextset():
                break
        outcomes = []
        for post, row in zip(posts, rows, strict=True):
            earlier = None if row is not None else await _earlier(conn, post)
            outcomes.append(Outcome(lead_id=row[0], created=True) if row is not None else earlier or _GONE)
        return outcomes


_GONE = Outcome(lead_id=None, created=False, conflict="retry")


class LeadWriter:
    """Group commit for one worker: posts that arrive while a write is in flight go together in the next.

    Under light load every post is written alone at once (no added latency); under heavy load up to
    `max_batch` posts share one transaction, one round trip and one WAL flush, which is what lets two
    cores sustain 1,000+ leads/s with synchronous commits. If a batch fails as a whole, its posts are
    written one by one, so one post's error never becomes another's.
    """

    def __init__(self, pool: AsyncConnectionPool, max_batch: int, max_inflight: int) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._pending: list[tuple[LeadPost, asyncio.Future[Outcome]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    async def write(self, post: LeadPost) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((post, future))
        if self._inflight < self._max_inflight:
            self._inflight += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await self._write(batch)
                except Exception as exc:  # never leave a request waiting on a future nobody will set
                    for _, future in batch:
                        _fail(future, exc)
        finally:
            self._inflight -= 1

    async def _write(self, batch: list[tuple[LeadPost, asyncio.Future[Outcome]]]) -> None:
        posts = [post for post, _ in batch]
        try:
            async with self._pool.connection() as conn:
                outcomes = await insert_batch(conn, posts) if len(posts) > 1 else [await insert_lead(conn, posts[0])]
        except Exception as exc:  # psycopg errors, PoolTimeout; the handler maps them to 422/503
            if len(posts) == 1:
                _fail(batch[0][1], exc)
                return
            await self._write_one_by_one(batch)
            return
        for (post, future), outcome in zip(batch, outcomes, strict=True):
            if outcome is _GONE:
                await self._write_one_by_one([(post, future)])
            elif not future.done():
                future.set_result(outcome)

    async def _write_one_by_one(self, batch: list[tuple[LeadPost, asyncio.Future[Outcome]]]) -> None:
        for post, future in batch:
            try:
                async with self._pool.connection() as conn:
                    outcome = await insert_lead(conn, post)
            except Exception as exc:
                _fail(future, exc)
            else:
                if not future.done():
                    future.set_result(outcome)


def _fail(future: asyncio.Future[Outcome], exc: BaseException | None) -> None:
    if not future.done():
        future.set_exception(exc or RuntimeError("lead write failed"))
