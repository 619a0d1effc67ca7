"""The durable intake: signed, valid leads the CRM could not take, kept on local disk until it can.

A SQLite file in WAL mode with `synchronous=FULL`: a post is answered 202 only after its row is
fsync'd, so neither a killed worker nor a power cut loses it. The drainer moves rows into the CRM in
the order they arrived (per worker file), with the CRM's own idempotency rules: a row the CRM already
holds (the commit reached the CRM but its answer did not reach us) is recognised by its signature and
dropped, so every accepted lead lands exactly once. A row the CRM refuses for good is kept with the
reason (never deleted), logged, and counted by /readyz.
"""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from hyperdash_pipeline.webhook import logs
from hyperdash_pipeline.webhook.store import LeadPost, insert_lead

log = logs.logger

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled_leads (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL,
    signature       BLOB NOT NULL,
    params          BLOB NOT NULL,
    received_at     REAL NOT NULL,
    refused         TEXT,
    UNIQUE (organization_id, signature)
)
"""
_BYTES_FIELDS = ("signature", "body_sha256")


def encode_post(post: LeadPost) -> bytes:
    params = dict(post.params)
    params["organization_id"] = str(params["organization_id"])
    for name in _BYTES_FIELDS:
        params[name] = params[name].hex()
    return orjson.dumps(params)


def decode_post(raw: bytes) -> LeadPost:
    params: dict[str, Any] = orjson.loads(raw)
    params["organization_id"] = uuid.UUID(params["organization_id"])
    for name in _BYTES_FIELDS:
        params[name] = bytes.fromhex(params[name])
    return LeadPost(params)


@dataclass(frozen=True)
class SpooledLead:
    seq: int
    post: LeadPost


class Spool:
    """One SQLite file; every method is blocking (call it through asyncio.to_thread)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync the WAL at every commit
        self._db.execute(_SCHEMA)
        path.chmod(0o600)  # it holds leads' personal data

    def add(self, post: LeadPost) -> None:
        """Keep `post` durably; the same signed request twice is kept once."""
        row = (str(post.params["organization_id"]), post.params["signature"], encode_post(post), time.time())
        with self._lock:
            self._db.execute(
                "INSERT INTO spooled_leads (organization_id, signature, params, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                row,
            )

    def oldest(self, limit: int) -> list[SpooledLead]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, params FROM spooled_leads WHERE refused IS NULL ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [SpooledLead(seq, decode_post(params)) for seq, params in rows]

    def remove(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spooled_leads WHERE seq = ?", (seq,))

    def refuse(self, seq: int, reason: str) -> None:
        with self._lock:
            self._db.execute("UPDATE spooled_leads SET refused = ? WHERE seq = ?", (reason, seq))

    def counts(self) -> tuple[int, int]:
        """(waiting, refused) rows."""
        with self._lock:
            row = self._db.execute(
                "SELECT coalesce(sum(refused IS NULL), 0), coalesce(sum(refused IS NOT NULL), 0) FROM spooled_leads"
            ).fetchone()
        return int(row[0]), int(row[1])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class DrainLock:
    """An exclusive, non-blocking file lock: one drainer per spool file across worker processes."""

    def __init__(self, path: Path) -> None:
        self._file = path.with_suffix(path.suffix + ".lock").open("a")

    def acquire(self) -> bool:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)

    def close(self) -> None:
        self._file.close()


class Drainer:
    """Moves spooled leads into the CRM, oldest first, whenever the spool has any and the CRM answers."""

    def __init__(self, spool: Spool, pool: AsyncConnectionPool) -> None:
        self.spool = spool
        self._pool = pool
        self._lock = DrainLock(spool.path)

    async def drain_once(self, batch: int = 200) -> int:
        """Move what the spool holds now; the number moved. Another worker draining makes this a no-op."""
        if not await asyncio.to_thread(self._lock.acquire):
            return 0
        moved = 0
        try:
            while rows := await asyncio.to_thread(self.spool.oldest, batch):
                async with self._pool.connection(timeout=5.0) as conn:
                    for row in rows:
                        await self._move(conn, row)
                        moved += 1
        finally:
            await asyncio.to_thread(self._lock.release)
        if moved:
            log.info("spool_drained", extra={"leads": moved})
        return moved

    async def _move(self, conn: AsyncConnection[Any], row: SpooledLead) -> None:
        try:
            outcome = await insert_lead(conn, row.post)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:  # this row, for good: keep it with why
            await asyncio.to_thread(self.spool.refuse, row.seq, exc.sqlstate or type(exc).__name__)
            log.error("spool_lead_refused", extra={"seq": row.seq, "sqlstate": exc.sqlstate})
            return
        if outcome.conflict == "idempotency_key_reused":  # another body took this key meanwhile: keep both
            await asyncio.to_thread(self.spool.refuse, row.seq, "idempotency_key_reused")
            log.error("spool_lead_refused", extra={"seq": row.seq, "error": "idempotency_key_reused"})
            return
        await asyncio.to_thread(self.spool.remove, row.seq)
