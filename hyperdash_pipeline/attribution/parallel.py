"""Full attribution rebuilds split by organization (and lead-id range) across several BI sessions.

One INSERT ... SELECT runs in one backend, so a bigger BI server does not rebuild a single statement sooner.
The refresh exports its snapshot (`pg_export_snapshot`) and N sessions import it (`SET TRANSACTION
SNAPSHOT`), so every part reads exactly the data the refresh's own transaction reads, as `pg_dump -j` does.
Each part (a group of whole organizations, or one lead-id range of a large organization) replaces its rows
and commits on its own: a reader sees an organization (or range) either as it was or rebuilt, never empty.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import IsolationLevel, sql

from hyperdash_pipeline.connections import sibling
from hyperdash_pipeline.transforms import WORK_MEM

# At most this many sessions by default: past 4 the rebuild waits on disk and WAL more than on CPU.
MAX_DEFAULT_PARALLELISM = 4
# Fewer sessions than this by default: one. The split replaces rows in indexed, populated tables (delete,
# upsert, WAL, vacuum) where one session truncates and bulk-loads; measured at 1M leads it costs the server
# 2.4-2.9x the CPU of the one-session rebuild (docs/attribution.md, "Parallel rebuild: where the time goes"),
# so 2 or 3 sessions cannot finish clearly sooner even on idle cores.
MIN_DEFAULT_SPLIT = 4
# Parts per session: enough that one session finishing early takes over the rest (uneven organizations).
PARTS_PER_SESSION = 4
# No part smaller than this (but for the last of an organization group): a part costs a transaction, temp
# tables and a plan, ~10-50 ms, worth paying only for thousands of leads.
MIN_PART_LEADS = 10_000
LOWEST_UUID = UUID(int=0)
HIGHEST_UUID = UUID(int=(1 << 128) - 1)


@dataclass(frozen=True)
class Part:
    """Whole organizations, or one organization's leads with low <= lead_id <= high (inclusive)."""

    organizations: tuple[str, ...]
    low: UUID
    high: UUID
    leads: int

    def params(self) -> dict[str, Any]:
        return {"organizations": list(self.organizations), "low": str(self.low), "high": str(self.high)}


def plan_parts(sizes: dict[str, int], parallelism: int, min_part_leads: int | None = None) -> list[Part]:
    """Split organizations (id -> leads) into parts of about total / (parallelism x PARTS_PER_SESSION) leads,
    at least `min_part_leads` (default MIN_PART_LEADS).

    A larger organization is cut into equal ranges of the UUID space (lead ids are random UUIDs, so the
    ranges hold about equal numbers of leads); smaller ones are packed together whole. Every organization,
    and every lead id within it, falls in exactly one part. Largest parts first, so the last ones are small.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be >= 1, got {parallelism}")
    total = sum(sizes.values())
    floor = MIN_PART_LEADS if min_part_leads is None else min_part_leads
    target = max(1, floor, math.ceil(total / (parallelism * PARTS_PER_SESSION)))
    parts: list[Part] = []
    bin_orgs: list[str] = []
    bin_leads = 0
    for organization, leads in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        if leads > target:
            parts.extend(_ranges(organization, leads, math.ceil(leads / target)))
            continue
        if bin_orgs and bin_leads + leads > target:
            parts.append(Part(tuple(bin_orgs), LOWEST_UUID, HIGHEST_UUID, bin_leads))
            bin_orgs, bin_leads = [], 0
        bin_orgs.append(organization)
        bin_leads += leads
    if bin_orgs:
        parts.append(Part(tuple(bin_orgs), LOWEST_UUID, HIGHEST_UUID, bin_leads))
    return sorted(parts, key=lambda p: -p.leads)


def _ranges(organization: str, leads: int, count: int) -> list[Part]:
    width = (1 << 128) // count
    bounds = [i * width for i in range(count)] + [1 << 128]
    return [
        Part((organization,), UUID(int=bounds[i]), UUID(int=bounds[i + 1] - 1), leads // count) for i in range(count)
    ]


def default_parallelism(conn: psycopg.Connection) -> int:
    """The BI server's parallel-worker budget (`max_parallel_workers`; PostgreSQL shows no core count over
    SQL), capped by this machine's cores and MAX_DEFAULT_PARALLELISM; 1 when that is below MIN_DEFAULT_SPLIT
    (where the split's extra work cannot pay)."""
    row = conn.execute("SELECT current_setting('max_parallel_workers')::int").fetchone()
    conn.rollback()
    budget = int(row[0]) if row else 1
    sessions = max(1, min(MAX_DEFAULT_PARALLELISM, budget, os.cpu_count() or 1))
    return sessions if sessions >= MIN_DEFAULT_SPLIT else 1


def export_snapshot(conn: psycopg.Connection) -> str:
    """Export the snapshot of `conn`'s open REPEATABLE READ transaction (valid until it ends)."""
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    assert row is not None
    return str(row[0])


def run_parts(
    conn: psycopg.Connection,
    snapshot: str,
    parts: list[Part],
    parallelism: int,
    work: Callable[[psycopg.Connection, Part], tuple[int, ...]],
) -> tuple[int, ...]:
    """Run `work` for every part in its own transaction on `snapshot`, in up to `parallelism` new sessions
    (same server, user, password and settings as `conn`). What `work` returned, summed element by element.

    The first failure stops the sessions from starting new parts and is raised; parts already committed stay
    (each is a complete rebuild of its organizations from the snapshot).
    """
    pending: queue.Queue[Part] = queue.Queue()
    for part in parts:
        pending.put(part)
    failed = threading.Event()

    def session() -> list[tuple[int, ...]]:
        done: list[tuple[int, ...]] = []
        with sibling(conn) as part_conn:
            part_conn.isolation_level = IsolationLevel.REPEATABLE_READ
            while not failed.is_set():
                try:
                    part = pending.get_nowait()
                except queue.Empty:
                    return done
                try:
                    done.append(_run_part(part_conn, snapshot, part, work))
                except BaseException:
                    failed.set()
                    raise
        return done

    sessions = max(1, min(parallelism, len(parts)))
    with ThreadPoolExecutor(max_workers=sessions, thread_name_prefix="hyperdash-part") as pool:
        futures = [pool.submit(session) for _ in range(sessions)]
        results = [result for future in futures for result in future.result()]
    return tuple(sum(column) for column in zip(*results, strict=True))


def _run_part(
    conn: psycopg.Connection,
    snapshot: str,
    part: Part,
    work: Callable[[psycopg.Connection, Part], tuple[int, ...]],
) -> tuple[int, ...]:
    with conn.transaction():
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        conn.execute("SET LOCAL timezone = 'UTC'")
        conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        return work(conn, part)
