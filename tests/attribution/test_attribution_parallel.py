"""Parallel full attribution rebuild (issue #18): split by ranges of lead ids across BI sessions writing stage
tables, loaded in one transaction (lead_attribution's, the credits' and the paths' attached as the partitions of
their ranges): the same tables as the one-session rebuild, nothing of a failed one, and plans that cover every
lead id exactly once."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperdash_pipeline.attribution import parallel
from hyperdash_pipeline.attribution import refresh as refresh_module
from hyperdash_pipeline.attribution.parallel import (
    HIGHEST_UUID,
    LOWEST_UUID,
    MIN_PART_BLOCKS,
    lead_id_sample,
    part_count,
    plan_lead_ranges,
)
from hyperdash_pipeline.attribution.refresh import (
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from hyperdash_pipeline.attribution.staging import STAGE_PREFIX
from hyperdash_pipeline.transforms import Transform, scalar, sql_steps
from tests.support.attribution_support import lead, upsert_leads
from tests.support.postgres import Databases

# Every table the rebuild writes, in a stable order; columns stamped with the time of the run left out.
TABLES = (
    "lead_attribution",
    "analytics.attribution_touch_credits",
    "analytics.attribution_paths",
    "analytics.markov_transitions",
    "analytics.campaign_credit_totals",
    "analytics.markov_attribution",
)
STAMPS = {"created_at", "computed_at", "refreshed_at"}
# Float sums regrouped in another order differ in the last bits: compared rounded.
_ROUND = 9
NEW_ORG = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of a block, so test-sized data is still split across sessions and parts."""
    monkeypatch.setattr(parallel, "MIN_PART_BLOCKS", 1)


def _rows(conn: psycopg.Connection, table: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    names = [c.name for c in conn.execute(f"SELECT * FROM {table} LIMIT 0").description or []]
    keep = [i for i, name in enumerate(names) if name not in STAMPS]
    return sorted(
        (tuple(round(row[i], _ROUND) if isinstance(row[i], float) else row[i] for i in keep) for row in rows),
        key=repr,
    )


def _quarantine(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT stage, source_ref, reason, payload::text FROM quarantine WHERE stage = 'lead_attribution'"
    ).fetchall()
    return sorted(rows)


def _tables(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    state = {table: _rows(conn, table) for table in TABLES}
    state["quarantine"] = _quarantine(conn)
    conn.rollback()
    return state


def _rebuild(conn: psycopg.Connection, parallelism: int) -> dict[str, int]:
    leads = refresh_lead_attribution(conn, full=True, parallelism=parallelism)
    credits = refresh_attribution_credits(conn, full=True, parallelism=parallelism)
    markov = refresh_markov_attribution(conn)
    return {
        "leads": leads.recomputed,
        "lead_rows": leads.row_count,
        "quarantined": leads.quarantined,
        "credit_rows": credits.row_count,
        "credited_leads": credits.leads_recomputed,
        "markov_rows": len(markov.rows),
    }


def _refreshed_then_rebuilt(conn: psycopg.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tables after an incremental refresh of the three, then after a one-session rebuild of the same data."""
    refresh_lead_attribution(conn)
    refresh_attribution_credits(conn)
    refresh_markov_attribution(conn)
    incremental = _tables(conn)
    _rebuild(conn, parallelism=1)
    return incremental, _tables(conn)


def _generate(conn: psycopg.Connection, leads: int) -> None:
    params = {"leads": leads, "deals": leads // 4, "campaigns": 60}
    for query in sql_steps("benchmarks/attribution_generate.sql").values():
        conn.execute(query, params if "%(" in query else None)
    conn.commit()


def _change(conn: psycopg.Connection) -> None:
    """Edits the rebuild must pick up: hard and soft deletes, a moved lead, a new organization, bad input."""
    conn.execute("DELETE FROM crm_raw.leads WHERE id IN (SELECT id FROM crm_raw.leads ORDER BY id LIMIT 40)")
    conn.execute(
        "UPDATE crm_raw.leads SET deleted_at = now(), _synced_at = now() "
        "WHERE id IN (SELECT id FROM crm_raw.leads ORDER BY id DESC LIMIT 25)"
    )
    conn.execute(
        "UPDATE crm_raw.leads SET organization_id = '00000000-0000-4000-8000-000000000002', _synced_at = now() "
        "WHERE id IN (SELECT id FROM crm_raw.leads WHERE organization_id = "
        "'00000000-0000-4000-8000-000000000001' ORDER BY id LIMIT 10)"
    )
    conn.commit()
    bad = [{"timestamp": "not a date", "channel": "meta"}, {"timestamp": "2026-10-01T00:00:00Z", "channel": "fax"}]
    upsert_leads(
        conn,
        [lead(organization_id=NEW_ORG, campaign_id=f"c{i}", utm_source="google", touchpoints=bad) for i in range(30)],
    )


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("parallelism", [2, 3])
def test_parallel_full_rebuild_equals_one_session(databases: Databases, parallelism: int) -> None:
    """From the same stale state (a rebuild, then deletes, moves and a new organization), the rebuild in
    `parallelism` sessions leaves every attribution table as the one-session rebuild does."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=6_000)
        _rebuild(conn, parallelism=1)
        _change(conn)
        parallel_stats = _rebuild(conn, parallelism=parallelism)
        parallel = _tables(conn)
        serial_stats = _rebuild(conn, parallelism=1)
        serial = _tables(conn)
    assert parallel_stats == serial_stats
    assert serial_stats["quarantined"] >= 30 and serial_stats["lead_rows"] == 6_000 - 40 - 25 + 30
    for table, rows in serial.items():
        assert rows, f"{table} is empty: the comparison would prove nothing"
        assert parallel[table] == rows, f"{table} differs between parallelism {parallelism} and 1"


@pytest.mark.usefixtures("small_parts")
def test_parallel_rebuild_is_followed_by_a_correct_incremental_refresh(databases: Databases) -> None:
    """After a parallel rebuild the incremental refresh goes on from its watermark: the same tables as a
    one-session rebuild of the changed data."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=3_000)
        _rebuild(conn, parallelism=2)
        _change(conn)
        incremental, serial = _refreshed_then_rebuilt(conn)
    # Quarantine left out: an incremental run does not re-check deals whose lead was deleted (the full one
    # quarantines them), whatever the previous rebuild's parallelism.
    for table in TABLES:
        assert incremental[table] == serial[table], f"{table}: incremental after a parallel rebuild differs"


@pytest.mark.usefixtures("small_parts")
def test_parallel_rebuild_leaves_every_organization_complete(databases: Databases) -> None:
    """After the rebuild (parts cut across organizations) every organization is complete, and the refresh's
    bookkeeping counts every lead and credit."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=2_000)
        leads = refresh_lead_attribution(conn, full=True, parallelism=2)
        credits = refresh_attribution_credits(conn, parallelism=2)
        per_org = conn.execute(
            "SELECT l.organization_id, count(*), count(la.lead_id) FROM crm_raw.leads l "
            "LEFT JOIN lead_attribution la ON la.lead_id = l.id WHERE l.deleted_at IS NULL GROUP BY 1"
        ).fetchall()
        credit_rows = conn.execute("SELECT count(*) FROM analytics.attribution_credits").fetchone()
    assert leads.full and leads.row_count == 2_000
    assert credits.full and credits.reason == "first run"
    assert len(per_org) == 5 and all(live == attributed for _, live, attributed in per_org)
    assert credit_rows and credits.row_count == credit_rows[0] and credits.leads_recomputed == 2_000


def _partitions(conn: psycopg.Connection, table: str) -> list[tuple[str, str, str, list[str]]]:
    """(name, bound, persistence, constraints but NOT NULL ones: PostgreSQL 18 lists those too) of each partition of
    `table`, by name (<table>_<part number>)."""
    rows = conn.execute(
        "SELECT c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid), c.relpersistence,"
        " array(SELECT conname FROM pg_constraint WHERE conrelid = c.oid AND contype <> 'n' ORDER BY 1)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (table,),
    ).fetchall()
    conn.rollback()
    return sorted(rows)


@pytest.mark.usefixtures("small_parts")
def test_a_split_credits_rebuild_attaches_each_parts_range_as_a_partition(databases: Databases) -> None:
    """The credits and paths are partitioned by lead id (migration 1807): a split rebuild leaves one UNLOGGED
    partition per part, bounded by its range of lead ids, each with its primary key and nothing else, the
    bounds tiling every lead id; a rebuild with fewer parts replaces them all; a one-session rebuild and an
    incremental refresh keep writing through them."""
    with psycopg.connect(databases.bi_url) as conn:
        assert [p[1] for p in _partitions(conn, "analytics.attribution_touch_credits")] == [
            "FOR VALUES FROM (MINVALUE) TO (MAXVALUE)"
        ]
        _generate(conn, leads=3_000)
        refresh_lead_attribution(conn, full=True)
        ranges = plan_lead_ranges(lead_id_sample(conn, "public.lead_attribution"), 3)
        conn.rollback()
        refresh_attribution_credits(conn, full=True, parallelism=3)
        for table in ("analytics.attribution_touch_credits", "analytics.attribution_paths"):
            name = table.split(".")[1]
            partitions = _partitions(conn, table)
            assert [p[0] for p in partitions] == [f"{name}_{n}" for n in range(3)]
            assert [p[2] for p in partitions] == ["u", "u", "u"], "a partition is not UNLOGGED"
            assert [p[3] for p in partitions] == [[f"{name}_{n}_pkey"] for n in range(3)]
            bounds = [p[1] for p in partitions]
            assert bounds[0].startswith("FOR VALUES FROM (MINVALUE) TO ('")
            cuts = [str(r.low) for r in ranges[1:]]
            assert bounds[0].endswith(f"TO ('{cuts[0]}')")
            assert bounds[1] == f"FOR VALUES FROM ('{cuts[0]}') TO ('{cuts[1]}')"
            assert bounds[2] == f"FOR VALUES FROM ('{cuts[1]}') TO (MAXVALUE)"
            counts = [scalar(conn, f"SELECT count(*) FROM {p[0]}") for p in partitions]
            conn.rollback()
            assert all(count > 0 for count in counts), counts
        split = _tables(conn)

        refresh_attribution_credits(conn, full=True, parallelism=2)
        assert len(_partitions(conn, "analytics.attribution_paths")) == 2
        assert _tables(conn) == split
        refresh_attribution_credits(conn, full=True, parallelism=1)
        assert _tables(conn) == split
        _change(conn)
        incremental, serial = _refreshed_then_rebuilt(conn)
        assert len(_partitions(conn, "analytics.attribution_touch_credits")) == 2
        assert _stage_tables(conn) == []
    for table in TABLES:
        assert incremental[table] == serial[table], f"{table}: incremental over the partitions differs"


@pytest.mark.usefixtures("small_parts")
def test_a_split_lead_attribution_rebuild_attaches_each_parts_range_as_a_partition(databases: Databases) -> None:
    """lead_attribution is partitioned by lead id (migration 1808): a split rebuild leaves one LOGGED partition per
    part, bounded by its range of the mirror's ids, each with the table's key, indexes and foreign key under the
    partition's name; a one-session rebuild and an incremental refresh keep writing through them, and upserts
    still find a lead's row by its unique lead_id."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=3_000)
        conn.execute("ANALYZE crm_raw.leads")
        conn.commit()
        ranges = plan_lead_ranges(lead_id_sample(conn, "crm_raw.leads", "id"), 3)
        conn.rollback()
        stats = refresh_lead_attribution(conn, full=True, parallelism=3)
        partitions = _partitions(conn, "public.lead_attribution")
        assert [p[0] for p in partitions] == [f"lead_attribution_{n}" for n in range(3)]
        assert [p[2] for p in partitions] == ["p", "p", "p"], "a partition of lead_attribution is UNLOGGED"
        assert [p[3] for p in partitions] == [
            sorted([f"lead_attribution_{n}_pkey", "lead_attribution_organization_id_fkey"]) for n in range(3)
        ]
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'public.lead_attribution_1'::regclass"
            " ORDER BY 1"
        ).fetchall()
        conn.rollback()
        assert [i for (i,) in indexes] == [
            "lead_attribution_1_campaign_idx",
            "lead_attribution_1_lead_id_key",
            "lead_attribution_1_pkey",
        ]
        cuts = [str(r.low) for r in ranges[1:]]
        assert [p[1] for p in partitions] == [
            f"FOR VALUES FROM (MINVALUE) TO ('{cuts[0]}')",
            f"FOR VALUES FROM ('{cuts[0]}') TO ('{cuts[1]}')",
            f"FOR VALUES FROM ('{cuts[1]}') TO (MAXVALUE)",
        ]
        counts = [scalar(conn, f"SELECT count(*) FROM {p[0]}") for p in partitions]
        conn.rollback()
        assert sum(counts) == stats.row_count == 3_000 and all(count > 500 for count in counts), counts
        split = _tables(conn)
        refresh_lead_attribution(conn, full=True, parallelism=1)
        assert _tables(conn) == split
        _change(conn)
        incremental, serial = _refreshed_then_rebuilt(conn)
        assert _stage_tables(conn) == []
    for table in TABLES:
        assert incremental[table] == serial[table], f"{table}: incremental over the partitions differs"


@pytest.mark.usefixtures("small_parts")
def test_partitions_set_logged_stay_logged_after_a_split_rebuild(databases: Databases) -> None:
    """An operator who set the credits' partitions LOGGED (for streaming replicas) keeps them LOGGED: a split
    rebuild attaches LOGGED partitions in their place, with the same rows as a one-session rebuild."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=2_000)
        refresh_lead_attribution(conn, full=True)
        refresh_attribution_credits(conn, full=True)
        expected = _tables(conn)
        tables = ("analytics.attribution_touch_credits", "analytics.attribution_paths")
        for name in [p[0] for table in tables for p in _partitions(conn, table)]:
            conn.execute(f"ALTER TABLE {name} SET LOGGED")
        conn.commit()
        refresh_attribution_credits(conn, full=True, parallelism=2)
        persistence = {table: [p[2] for p in _partitions(conn, table)] for table in tables}
        assert _tables(conn) == expected
    assert persistence == {
        "analytics.attribution_touch_credits": ["p", "p"],
        "analytics.attribution_paths": ["p", "p"],
    }


@given(blocks=st.integers(min_value=0, max_value=100_000), parallelism=st.integers(min_value=1, max_value=8))
def test_part_count_is_one_per_session_within_the_table(blocks: int, parallelism: int) -> None:
    """At least one part, one per session at most, and none of fewer blocks than the minimum (one part aside)."""
    count = part_count(blocks, parallelism, min_part_blocks=MIN_PART_BLOCKS)
    assert 1 <= count <= parallelism
    assert count == 1 or blocks // count >= MIN_PART_BLOCKS


def test_plan_keeps_a_small_table_whole() -> None:
    """Below the minimum part size nothing is split: a part is a transaction, not worth it for a few leads."""
    assert part_count(MIN_PART_BLOCKS - 1, parallelism=4) == 1
    assert part_count(MIN_PART_BLOCKS * 3, parallelism=4) == 3


def test_plan_refuses_no_sessions() -> None:
    with pytest.raises(ValueError, match="parallelism must be >= 1"):
        part_count(10, 0)
    with pytest.raises(ValueError, match="count must be >= 1"):
        plan_lead_ranges([], 0)


@given(sample=st.lists(st.uuids()).map(sorted), count=st.integers(min_value=1, max_value=8))
def test_lead_ranges_cover_every_lead_id_once(sample: list[uuid.UUID], count: int) -> None:
    """The parts tile the uuid space: from the lowest id to the highest, each starting one past where the
    last ended, so every lead falls in exactly one part, whatever ids the table holds; at most `count` of them."""
    ranges = plan_lead_ranges(sample, count)
    assert ranges[0].low == LOWEST_UUID and ranges[-1].high == HIGHEST_UUID
    assert all(r.low <= r.high for r in ranges)
    assert all(a.high.int + 1 == b.low.int for a, b in itertools.pairwise(ranges))
    assert 1 <= len(ranges) <= count


@given(sample=st.sets(st.uuids(), min_size=8, max_size=300).map(sorted), count=st.integers(min_value=1, max_value=8))
def test_lead_ranges_split_the_sample_evenly(sample: list[uuid.UUID], count: int) -> None:
    """Cut at evenly spaced ids of the table's histogram, the parts hold as many of its ids as each other, to one."""
    sizes = [sum(r.low <= x <= r.high for x in sample) for r in plan_lead_ranges(sample, count)]
    assert len(sizes) == count and max(sizes) - min(sizes) <= 1


def test_lead_ranges_from_the_statistics_hold_about_equal_leads(databases: Databases) -> None:
    """On a stored lead_attribution, ranges cut at its ANALYZE histogram hold every lead once and about as many
    each (a part's share of the rebuild); before any ANALYZE, evenly spaced uuids still cover every lead."""
    with psycopg.connect(databases.bi_url) as conn:
        before = plan_lead_ranges(lead_id_sample(conn, "public.lead_attribution"), 3)
        _generate(conn, leads=3_000)
        _rebuild(conn, parallelism=1)
        ranges = plan_lead_ranges(lead_id_sample(conn, "public.lead_attribution"), 3)
        counts = [
            scalar(conn, "SELECT count(*) FROM lead_attribution WHERE lead_id BETWEEN %s AND %s", (r.low, r.high))
            for r in (*ranges, *before)
        ]
        conn.rollback()
    assert len(ranges) == 3 and sum(counts[:3]) == 3_000
    assert all(abs(count - 1_000) <= 100 for count in counts[:3]), counts
    assert len(before) == 3 and sum(counts[3:]) == 3_000


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (3, 3), (4, 4), (8, 4)])
def test_default_parallelism_is_the_cores_up_to_four(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, cores: int, expected: int
) -> None:
    """A session per core, at most 4 (past that the rebuild waits on disk and WAL); one on one core."""
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: cores)
    with psycopg.connect(databases.bi_url) as conn:
        budget = int(conn.execute("SELECT current_setting('max_parallel_workers')::int").fetchone()[0])  # type: ignore[index]
        assert budget >= 4, "the test needs a server with max_parallel_workers >= 4 (PostgreSQL's default is 8)"
        assert parallel.default_parallelism(conn) == expected


def _stage_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE %s", (f"{STAGE_PREFIX}%",)).fetchall()
    conn.rollback()
    return [name for (name,) in rows]


@pytest.mark.usefixtures("small_parts")
def test_a_failed_part_leaves_every_stored_table_as_it_was_and_no_stage(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts write stage tables only: when one fails (the other may have committed its stage rows),
    lead_attribution, the credits and their state are as before the rebuild (readers never saw part of it),
    and no stage is left."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=3_000)
        _rebuild(conn, parallelism=1)
        _change(conn)
        calls = itertools.count()
        run = Transform.run

        def failing_part(self: Transform, part_conn: psycopg.Connection, plan: str, *args: Any, **kwargs: Any) -> Any:
            if plan == "stage_part" and next(calls) == 1:
                raise RuntimeError("injected failure of a part")
            return run(self, part_conn, plan, *args, **kwargs)

        monkeypatch.setattr(Transform, "run", failing_part)
        for refresh in (refresh_lead_attribution, refresh_attribution_credits):
            before = _tables(conn)
            states = conn.execute("SELECT * FROM analytics.attribution_state ORDER BY name").fetchall()
            conn.rollback()
            calls = itertools.count()
            with pytest.raises(RuntimeError, match="injected failure"):
                refresh(conn, full=True, parallelism=2)

            assert _tables(conn) == before, refresh.__name__
            assert conn.execute("SELECT * FROM analytics.attribution_state ORDER BY name").fetchall() == states
            conn.rollback()
            assert _stage_tables(conn) == []


@pytest.mark.usefixtures("small_parts")
def test_each_part_writes_stages_of_its_own_and_a_crashed_rebuilds_stages_are_dropped(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two parts never append to one stage table (they would wait on its extension lock), and the stages a
    crashed rebuild with more parts left behind are gone after the next rebuild, which still equals one session."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=3_000)
        _rebuild(conn, parallelism=1)
        expected = _tables(conn)
        for part in range(6):  # what a killed rebuild of 6 parts leaves
            left = f"public.{STAGE_PREFIX}public_lead_attribution_{part}"
            conn.execute(f"CREATE UNLOGGED TABLE {left} (LIKE public.lead_attribution)")
        conn.commit()
        stages_by_part: list[tuple[str, set[str]]] = []
        run = Transform.run

        def recording(self: Transform, part_conn: psycopg.Connection, plan: str, *args: Any, **kwargs: Any) -> Any:
            if plan == "stage_part":
                stages_by_part.append((self.path, set(kwargs["tables"].values())))
            return run(self, part_conn, plan, *args, **kwargs)

        monkeypatch.setattr(Transform, "run", recording)
        _rebuild(conn, parallelism=2)
        for path in {path for path, _ in stages_by_part}:
            parts = [stages for part_path, stages in stages_by_part if part_path == path]
            assert len(parts) == 2, f"{path}: {len(parts)} parts"
            assert not parts[0] & parts[1], f"{path}: parts shared {parts[0] & parts[1]}"
        assert _tables(conn) == expected
        assert _stage_tables(conn) == []


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("parallelism", [1, 2])
def test_a_credits_rebuild_over_a_lead_deleted_from_the_mirror_since_lead_attribution_credits_it_unassigned(
    databases: Databases, parallelism: int
) -> None:
    """A lead deleted from the mirror after lead_attribution's refresh and before a full credits rebuild: the
    lead's own touch (it has no touchpoint in the window) has no utm fields left to derive a channel from, so
    it is credited to 'unassigned' instead of failing the rebuild; the next refresh removes the lead."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=2_000)
        _rebuild(conn, parallelism=1)
        own = conn.execute(
            "SELECT lead_id FROM analytics.attribution_touch_credits WHERE touches = 0 ORDER BY lead_id LIMIT 1"
        ).fetchone()
        assert own is not None, "the generated data has a lead credited on its own touch"
        conn.execute("DELETE FROM crm_raw.leads WHERE id = %s", own)
        conn.commit()

        refresh_attribution_credits(conn, full=True, parallelism=parallelism)
        credited = conn.execute(
            "SELECT channel, touches FROM analytics.attribution_touch_credits WHERE lead_id = %s", own
        ).fetchall()
        conn.rollback()
        assert credited == [("unassigned", 0)]

        incremental, serial = _refreshed_then_rebuilt(conn)
    assert not any(row[1] == own[0] for row in incremental["analytics.attribution_touch_credits"])
    for table in TABLES:
        assert incremental[table] == serial[table], f"{table}: the refresh after the rebuild differs"


def _delete_one(url: str, lead_id: uuid.UUID) -> None:
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("DELETE FROM crm_raw.leads WHERE id = %s", (lead_id,))


def _recopy_without(url: str, lead_id: uuid.UUID) -> None:
    """A full re-copy of the mirror (truncate, copy back) that no longer holds the lead, its stamps kept."""
    with psycopg.connect(url) as other:
        other.execute("CREATE TEMP TABLE kept AS SELECT * FROM crm_raw.leads WHERE id <> %s", (lead_id,))
        other.execute("TRUNCATE crm_raw.leads")
        other.execute("INSERT INTO crm_raw.leads SELECT * FROM kept")


@pytest.mark.usefixtures("small_parts")
def test_a_split_rebuild_after_a_recopy_of_the_mirror_consumes_its_truncation_marker(databases: Databases) -> None:
    """The mirror re-copied (truncated, copied back without one lead) before a split rebuild: the rebuild read
    the re-copy, so it drops the lead and consumes the truncation marker; the next refresh does not check every
    stored lead against the mirror again, and equals a one-session rebuild."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=2_000)
        _rebuild(conn, parallelism=1)
        gone = conn.execute("SELECT id FROM crm_raw.leads WHERE deleted_at IS NULL ORDER BY id LIMIT 1").fetchone()
        conn.rollback()
        assert gone is not None
        _recopy_without(databases.bi_url, gone[0])
        markers = "SELECT count(*) FROM analytics.crm_lead_deletions WHERE lead_id IS NULL"
        assert conn.execute(markers).fetchone() == (1,)
        conn.rollback()

        refresh_lead_attribution(conn, full=True, parallelism=2)
        assert conn.execute(markers).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM lead_attribution WHERE lead_id = %s", gone).fetchone() == (0,)
        conn.rollback()
        refresh_attribution_credits(conn, full=True, parallelism=2)

        incremental, serial = _refreshed_then_rebuilt(conn)
    for table in TABLES:
        assert incremental[table] == serial[table], f"{table}: the refresh after the rebuild differs"


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("removal", [_delete_one, _recopy_without], ids=["deleted", "re-copied without it"])
def test_a_lead_removed_while_the_parts_ran_is_gone_after_the_next_refresh(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, removal: Any
) -> None:
    """A lead removed from the mirror after the parts' snapshot and before the load: the rebuild stores it (its
    parts saw it), its removal stays queued, and the next incremental refresh removes it: the tables then equal
    a one-session rebuild of the data."""
    with psycopg.connect(databases.bi_url) as conn:
        _generate(conn, leads=2_000)
        _rebuild(conn, parallelism=1)
        gone = conn.execute("SELECT id FROM crm_raw.leads WHERE deleted_at IS NULL ORDER BY id LIMIT 1").fetchone()
        conn.rollback()
        assert gone is not None
        stage_all_leads = refresh_module._stage_all_leads

        def stage_then_remove(*args: Any) -> Any:
            staged = stage_all_leads(*args)
            removal(databases.bi_url, gone[0])
            return staged

        monkeypatch.setattr(refresh_module, "_stage_all_leads", stage_then_remove)
        refresh_lead_attribution(conn, full=True, parallelism=2)
        monkeypatch.undo()
        stored = conn.execute("SELECT count(*) FROM lead_attribution WHERE lead_id = %s", gone).fetchone()
        queued = conn.execute(
            "SELECT count(*) FROM analytics.crm_lead_deletions WHERE lead_id = %s OR lead_id IS NULL", gone
        ).fetchone()
        conn.rollback()
        assert stored == (1,) and queued == (1,)

        incremental, serial = _refreshed_then_rebuilt(conn)
    assert not any(row[2] == gone[0] for row in incremental["lead_attribution"])
    for table in TABLES:
        assert incremental[table] == serial[table], f"{table}: the refresh after the rebuild differs"
