"""Full attribution rebuilds split across several BI sessions.

One INSERT ... SELECT runs in one backend, so a bigger BI server does not rebuild a single statement sooner.
The refresh exports its snapshot (`pg_export_snapshot`) and N sessions import it (`SET TRANSACTION
SNAPSHOT`), so every part reads exactly the data the refresh's own transaction reads, as `pg_dump -j` does.
Each part writes its rows into stage tables of its own and commits on its own; one transaction then loads the
stages into the stored tables (attribution/staging.py), so a reader sees every organization as it was until
that commit, rebuilt after it.

A part is a range of lead ids (`LeadRange`). lead_attribution's parts read the mirror (crm_raw.leads) by a
sequential or bitmap scan filtered on its id, so N parts read it in the order its rows lie on disk; the credits'
parts read lead_attribution by its lead_id index, in id order, as the one-session rebuild does. Both tables are
partitioned by the same ranges (migrations 1807, 1808), so each part's stage becomes a partition as it is.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

import psycopg
from psycopg import IsolationLevel, sql

from hyperdash_pipeline.connections import sibling
from hyperdash_pipeline.transforms import WORK_MEM

# At most this many sessions by default: past 4 the rebuild waits on disk and WAL more than on CPU.
MAX_DEFAULT_PARALLELISM = 4
# Fewer sessions than this by default: one. Split into stage tables, 2 sessions rebuilt 1M leads 1.7x
# faster than one on 2 cores (docs/distributed.md), so any machine with 2 cores splits.
MIN_DEFAULT_SPLIT = 2
# Parts per session: ranges cut at the ANALYZE histogram hold about equal work, and each part pays its own
# planning and JIT compilation (~2 s for the credits' insert at 1M leads), so one each.
PARTS_PER_SESSION = 1
# No part smaller than this many blocks of the table it reads (8 kB each, ~25-50 leads a block): a part costs
# a transaction, temp tables and plans, ~10-50 ms, worth paying only for thousands of leads.
MIN_PART_BLOCKS = 256
# The lead-id bounds of "every lead" (one organization's rebuild passes these).
LOWEST_UUID = UUID(int=0)
HIGHEST_UUID = UUID(int=(1 << 128) - 1)


@dataclass(frozen=True)
class LeadRange:
    """The rows whose lead id lies in low..high (both included) of the table a part reads: the mirror's id for
    lead_attribution, lead_attribution's lead_id for the credits."""

    low: UUID
    high: UUID

    def params(self) -> dict[str, Any]:
        return {"low_lead": self.low, "high_lead": self.high}

    def partition_bound(self) -> sql.Composed:
        """This range as a range partition's bound on lead_id (`FOR VALUES ...`: upper bound excluded)."""
        low = sql.SQL("MINVALUE") if self.low == LOWEST_UUID else sql.Literal(self.low)
        high = sql.SQL("MAXVALUE") if self.high == HIGHEST_UUID else sql.Literal(UUID(int=self.high.int + 1))
        return sql.SQL("FROM ({}) TO ({})").format(low, high)

    def partition_check(self) -> sql.Composed:
        """A CHECK that states exactly the partition constraint of `partition_bound`, so that PostgreSQL attaches
        a table holding it without scanning its rows (it proves the constraint from this one)."""
        conditions: list[sql.Composable] = [sql.SQL("lead_id IS NOT NULL")]
        if self.low != LOWEST_UUID:
            conditions.append(sql.SQL("lead_id >= {}").format(sql.Literal(self.low)))
        if self.high != HIGHEST_UUID:
            conditions.append(sql.SQL("lead_id < {}").format(sql.Literal(UUID(int=self.high.int + 1))))
        return sql.SQL("CHECK ({})").format(sql.SQL(" AND ").join(conditions))


class _PartLike(Protocol):
    def params(self) -> dict[str, Any]: ...


PartT = TypeVar("PartT", bound=_PartLike)


def max_parts(parallelism: int) -> int:
    """The most parts a rebuild is cut into for `parallelism` sessions (the stage tables to make for them)."""
    return parallelism * PARTS_PER_SESSION


def part_count(blocks: int, parallelism: int, min_part_blocks: int | None = None) -> int:
    """How many parts a table of `blocks` blocks is cut into for `parallelism` sessions: parallelism x
    PARTS_PER_SESSION, fewer when a part would hold less than `min_part_blocks` (default MIN_PART_BLOCKS)."""
    if parallelism < 1:
        raise ValueError(f"parallelism must be >= 1, got {parallelism}")
    floor = MIN_PART_BLOCKS if min_part_blocks is None else min_part_blocks
    return max(1, min(max_parts(parallelism), blocks // max(1, floor)))


def plan_lead_ranges(sample: list[UUID], count: int) -> list[LeadRange]:
    """At most `count` ranges of lead ids that tile the whole uuid space, cut at evenly spaced entries of `sample`
    (sorted ids standing for the table's rows: its ANALYZE histogram), so each range holds about as many rows.
    Fewer ranges when the sample has fewer distinct cuts; one when it is empty."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    cuts = sorted({sample[len(sample) * i // count] for i in range(1, count)} - {LOWEST_UUID}) if sample else []
    lows = [LOWEST_UUID, *cuts]
    highs = [UUID(int=cut.int - 1) for cut in cuts] + [HIGHEST_UUID]
    return [LeadRange(low, high) for low, high in zip(lows, highs, strict=True)]


def lead_id_sample(conn: psycopg.Connection, table: str, column: str = "lead_id") -> list[UUID]:
    """The lead ids in `column` of `table`'s ANALYZE histogram (pg_stats: sorted, rows spread evenly between them;
    of its partitions taken together when it is partitioned), or, before any ANALYZE, 64 evenly spaced uuids
    (random version-4 ids spread evenly over the uuid space)."""
    schema, name = table.split(".")
    row = conn.execute(
        "SELECT histogram_bounds::text::uuid[] FROM pg_stats "
        "WHERE schemaname = %s AND tablename = %s AND attname = %s "
        "ORDER BY inherited DESC LIMIT 1",
        (schema, name, column),
    ).fetchone()
    if row and row[0]:
        return list(row[0])
    return [UUID(int=((1 << 128) * i) // 64) for i in range(64)]


def table_blocks(conn: psycopg.Connection, table: str) -> int:
    """The blocks `table` holds now, its partitions' when it is partitioned."""
    row = conn.execute(
        "SELECT sum(pg_relation_size(relid)) / current_setting('block_size')::bigint"
        " FROM (SELECT %(table)s::regclass AS relid UNION SELECT relid FROM pg_partition_tree(%(table)s::regclass)) t",
        {"table": table},
    ).fetchone()
    return int(row[0]) if row else 0


def default_parallelism(conn: psycopg.Connection) -> int:
    """The BI server's parallel-worker budget (`max_parallel_workers`; PostgreSQL shows no core count over
    SQL), capped by this machine's cores and MAX_DEFAULT_PARALLELISM; 1 when that is below MIN_DEFAULT_SPLIT."""
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
    parts: list[PartT],
    parallelism: int,
    work: Callable[[psycopg.Connection, PartT], tuple[int, ...]],
) -> tuple[int, ...]:
    """Run `work` for every part in its own transaction on `snapshot`, in up to `parallelism` new sessions
    (same server, user, password and settings as `conn`). What `work` returned, summed element by element.

    The first failure stops the sessions from starting new parts and is raised; parts already committed stay
    (each is a complete rebuild of its organizations from the snapshot).
    """
    pending: queue.Queue[PartT] = queue.Queue()
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
    part: PartT,
    work: Callable[[psycopg.Connection, PartT], tuple[int, ...]],
) -> tuple[int, ...]:
    with conn.transaction():
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        conn.execute("SET LOCAL timezone = 'UTC'")
        conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        return work(conn, part)
