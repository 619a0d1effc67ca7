"""analytics.is_timestamptz under a parallel plan: the quarantine check must work whatever plan PostgreSQL picks.

On PostgreSQL < 16 the function is PL/pgSQL with an EXCEPTION block, which a parallel worker cannot run
(bi/1804); a one-session full rebuild of lead_attribution on PostgreSQL 15 failed at 1M leads that way.
"""

from __future__ import annotations

import psycopg

from tests.support.postgres import Databases

VALUES = ["2026-03-01T10:00:00Z", "not a time", "2026-02-30T00:00:00Z", "2026-12-05 18:00:00+00", ""]


def _force_parallel(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    forcing = "debug_parallel_query" if row and row[0] >= 160000 else "force_parallel_mode"
    conn.execute(f"SET {forcing} = on")
    for setting in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size"):
        conn.execute(f"SET {setting} = 0")
    conn.execute("SET max_parallel_workers_per_gather = 2")


def test_is_timestamptz_answers_under_a_forced_parallel_plan(databases: Databases) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        conn.execute("CREATE TABLE touch_times (value text)")
        conn.execute("INSERT INTO touch_times SELECT v FROM unnest(%s::text[]) v, generate_series(1, 2000)", [VALUES])
        conn.execute("ANALYZE touch_times")
        _force_parallel(conn)
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE analytics.is_timestamptz(value)), count(*) FROM touch_times"
        ).fetchone()
    assert row == (2 * 2000, 5 * 2000)


def test_is_timestamptz_is_parallel_safe_only_where_it_cannot_raise(databases: Databases) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        row = conn.execute(
            "SELECT l.lanname, p.proparallel FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.oid = 'analytics.is_timestamptz(text)'::regprocedure"
        ).fetchone()
    assert row in {("sql", "s"), ("plpgsql", "u")}
