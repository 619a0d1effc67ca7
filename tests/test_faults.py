"""Faults in the middle of a job: every backend of the CRM and BI databases is terminated (as a server restart
or a failover would) while the sync is writing; afterwards the rerun (Dagster's retry policy, without a person)
leaves BI exactly equal to the CRM, and a reader never saw a half-written table."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import psycopg
import pytest
from dagster import materialize
from psycopg.conninfo import conninfo_to_dict
from sync_data import populate
from test_sync_engine import assert_exact_mirror

from hyperdash_pipeline.attribution.refresh import refresh_attribution_credits, refresh_lead_attribution
from hyperdash_pipeline.correlation.refresh import correlation_transaction, refresh_correlation
from hyperdash_pipeline.insights.decide import DecisionRule
from hyperdash_pipeline.sync import run_sync
from hyperdash_pipeline.sync.definitions import crm_raw_sync

# A slow row trigger on one mirror table holds the sync inside its write long enough to be hit reliably.
_SLOW = """
CREATE FUNCTION test_slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$;
CREATE TRIGGER test_slow BEFORE INSERT OR UPDATE ON crm_raw.notes FOR EACH ROW EXECUTE FUNCTION test_slow_row();
"""


def _execute(url: str, statement: str) -> list[tuple]:
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def _database(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


@contextmanager
def terminate_all_backends_mid_write(
    databases, application: str = "hyperdash-sync/%", query: str = "%crm_raw%notes%"
) -> Iterator[threading.Event]:
    """Once a statement of `application` matching `query` has been running for 0.3 s, terminate every backend
    of both databases (the job's and everyone else's). The event is set when that happened."""
    fired, stop = threading.Event(), threading.Event()
    names = [_database(databases.crm_url), _database(databases.bi_url)]

    def watch() -> None:
        with closing(psycopg.connect(databases.bi_url, autocommit=True)) as conn:
            while not stop.is_set():
                busy = conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = ANY(%s) AND application_name LIKE %s "
                    "AND state = 'active' AND query ILIKE %s AND clock_timestamp() - query_start > interval '0.3 s' "
                    "AND pid <> pg_backend_pid()",
                    [names, application, query],
                ).fetchone()
                if busy:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                        [names],
                    )
                    fired.set()
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield fired
    finally:
        stop.set()
        thread.join(timeout=10)


@contextmanager
def reader_counts(url: str, table: str) -> Iterator[list[int]]:
    """Counts a reader sees while the block runs (each read in its own statement)."""
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                with closing(psycopg.connect(url, autocommit=True)) as conn:
                    while not stop.is_set():
                        seen.append(int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]))  # type: ignore[index]
                        time.sleep(0.02)
            except psycopg.OperationalError:
                time.sleep(0.05)  # terminated with everyone else: reconnect

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def synced(databases):
    populate(databases.crm_url, 1500)
    run_sync(databases.crm_url, databases.bi_url)
    _execute(databases.bi_url, _SLOW)
    return databases


def _change_crm(url: str) -> None:
    _execute(url, "UPDATE notes SET body = body || ' (edited)' WHERE id IN (SELECT id FROM notes LIMIT 600)")
    _execute(url, "DELETE FROM leads WHERE id IN (SELECT id FROM leads ORDER BY id LIMIT 20)")
    populate(url, 300, org="00000000-0000-0000-0000-0000000000b2")


@pytest.mark.slow
@pytest.mark.parametrize("full", [True, False], ids=["full sync", "incremental sync"])
def test_a_sync_whose_backends_are_terminated_mid_write_is_exact_after_the_rerun(synced, full: bool) -> None:
    _change_crm(synced.crm_url)
    before = int(_execute(synced.bi_url, "SELECT count(*) FROM crm_raw.notes")[0][0])
    with (
        reader_counts(synced.bi_url, "crm_raw.notes") as seen,
        terminate_all_backends_mid_write(synced) as fired,
        pytest.raises(psycopg.OperationalError),
    ):
        run_sync(synced.crm_url, synced.bi_url, full=full)
    assert fired.is_set()
    assert int(_execute(synced.bi_url, "SELECT count(*) FROM crm_raw.notes")[0][0]) == before, "nothing half-done"
    run_sync(synced.crm_url, synced.bi_url)
    after = int(_execute(synced.bi_url, "SELECT count(*) FROM crm_raw.notes")[0][0])
    assert set(seen) <= {before, after}, "a reader saw a half-written crm_raw.notes"
    assert_exact_mirror(synced)


@pytest.mark.slow
def test_dagster_retries_a_sync_whose_backends_were_terminated_and_ends_exact(synced) -> None:
    _change_crm(synced.crm_url)
    with terminate_all_backends_mid_write(synced) as fired:
        result = materialize([crm_raw_sync], resources={"crm": synced.crm, "bi": synced.bi})
    assert fired.is_set()
    assert result.success
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) == 1
    assert_exact_mirror(synced)


def _attribution_content(url: str) -> tuple[int, str]:
    """lead_attribution without its surrogate id and insert time: what a clean rebuild must reproduce."""
    row = _execute(
        url,
        "SELECT count(*), md5(coalesce(string_agg((to_jsonb(t) - 'id' - 'created_at')::text, '|' "
        "ORDER BY lead_id), '')) FROM lead_attribution t",
    )[0]
    return int(row[0]), str(row[1])


def _full_attribution(url: str, application: str = "hyperdash-test/attribution") -> None:
    with closing(psycopg.connect(url, application_name=application)) as conn:
        refresh_lead_attribution(conn, full=True)


@pytest.mark.slow
def test_an_attribution_full_rebuild_cut_by_terminated_backends_keeps_the_old_table_then_rebuilds_exactly(
    synced,
) -> None:
    _full_attribution(synced.bi_url)
    old = _attribution_content(synced.bi_url)
    _change_crm(synced.crm_url)
    run_sync(synced.crm_url, synced.bi_url)
    _execute(
        synced.bi_url,
        "CREATE TRIGGER test_slow BEFORE INSERT ON lead_attribution FOR EACH ROW EXECUTE FUNCTION test_slow_row()",
    )
    with (
        terminate_all_backends_mid_write(synced, "hyperdash-test/attribution", "%lead_attribution%") as fired,
        pytest.raises(psycopg.OperationalError),
    ):
        _full_attribution(synced.bi_url)
    assert fired.is_set()
    assert _attribution_content(synced.bi_url) == old, "a reader still sees the whole previous table"
    _full_attribution(synced.bi_url)  # the rerun
    rerun = _attribution_content(synced.bi_url)
    assert rerun != old
    _full_attribution(synced.bi_url, "hyperdash-test/clean")
    assert _attribution_content(synced.bi_url) == rerun, "the rerun equals a clean rebuild"


def _correlation_content(url: str) -> list[tuple]:
    """The three correlation tables without their build times: what a clean rebuild must reproduce."""
    return [
        tuple(
            _execute(
                url,
                f"SELECT count(*), md5(coalesce(string_agg((to_jsonb(t) - 'built_at')::text, '|' "
                f"ORDER BY (to_jsonb(t) - 'built_at')::text), '')) FROM analytics.{table} t",
            )[0]
        )
        for table in ("campaign_lead_quality", "creative_performance", "campaign_weekly")
    ]


def _full_correlation(url: str, application: str = "hyperdash-test/correlation") -> None:
    with closing(psycopg.connect(url, application_name=application)) as conn:
        with correlation_transaction(conn):
            refresh_correlation(conn, DecisionRule(min_leads=3, confidence=0.95), full=True)
        conn.commit()


@pytest.mark.slow
def test_a_correlation_refresh_cut_by_terminated_backends_keeps_the_old_tables_then_rebuilds_exactly(synced) -> None:
    with closing(psycopg.connect(synced.bi_url)) as conn:
        refresh_lead_attribution(conn, full=True)
        refresh_attribution_credits(conn, full=True)
    _full_correlation(synced.bi_url)
    old = _correlation_content(synced.bi_url)
    _change_crm(synced.crm_url)
    run_sync(synced.crm_url, synced.bi_url)
    with closing(psycopg.connect(synced.bi_url)) as conn:
        refresh_lead_attribution(conn)
        refresh_attribution_credits(conn)
    _execute(
        synced.bi_url,
        "CREATE TRIGGER test_slow BEFORE INSERT ON analytics.creative_performance "
        "FOR EACH ROW EXECUTE FUNCTION test_slow_row()",
    )
    with (
        terminate_all_backends_mid_write(synced, "hyperdash-test/correlation", "%creative_performance%") as fired,
        pytest.raises(psycopg.OperationalError),
    ):
        _full_correlation(synced.bi_url)
    assert fired.is_set()
    assert _correlation_content(synced.bi_url) == old, "a reader still sees the previous tables, whole"
    _full_correlation(synced.bi_url)  # the rerun
    rerun = _correlation_content(synced.bi_url)
    assert rerun != old
    _full_correlation(synced.bi_url, "hyperdash-test/clean")
    assert _correlation_content(synced.bi_url) == rerun, "the rerun equals a clean rebuild"


def _meta_day(bi_url: str) -> list[tuple]:
    return _execute(bi_url, "SELECT ad_id, spend::text FROM campaign_metrics WHERE source = 'meta' ORDER BY ad_id")


@pytest.mark.slow
def test_an_ad_metrics_load_cut_by_terminated_backends_keeps_the_day_then_loads_it_exactly(databases) -> None:
    from ad_platform_server import Answer, ReplayServer, meta_page, meta_row

    from hyperdash_pipeline.ingestion.assets import build_meta_asset
    from hyperdash_pipeline.ingestion.meta import MetaAdsResource

    path, token, day = "/v25.0/act_111/insights", "TEST-META-TOKEN", "2024-03-01"
    org = _execute(databases.bi_url, "INSERT INTO organizations (name, slug, reporting_currency) "
                   "VALUES ('Acme', 'acme', 'BRL') RETURNING id")[0][0]  # fmt: skip
    _execute(databases.bi_url, f"INSERT INTO integrations (organization_id, provider, account_id) "
             f"VALUES ('{org}', 'meta', 'act_111')")  # fmt: skip
    asset = build_meta_asset(retry_policy=None)

    def answer(spend: str) -> Answer:
        rows = [meta_row(f"ad{i:03d}", day, spend=spend) for i in range(400)]
        return Answer(200, meta_page(rows, None, path))

    with ReplayServer() as server:
        server.add(path, answer("1.00"), answer("2.00"), answer("2.00"))
        resources = {"bi": databases.bi, "meta_ads": MetaAdsResource(api_base_url=server.base_url, access_token=token)}
        assert materialize([asset], partition_key=day, resources=resources).success
        first = _meta_day(databases.bi_url)
        assert len(first) == 400 and {spend for _, spend in first} == {"1.00"}
        _execute(databases.bi_url, _SLOW.replace("crm_raw.notes", "campaign_metrics"))
        with terminate_all_backends_mid_write(databases, "%", "%campaign_metrics%") as fired:
            cut = materialize([asset], partition_key=day, resources=resources, raise_on_error=False)
        assert fired.is_set() and not cut.success
        assert _meta_day(databases.bi_url) == first, "the day is either the old load or the new one, whole"
        assert materialize([asset], partition_key=day, resources=resources).success  # the rerun
    assert _meta_day(databases.bi_url) == [(ad, "2.00") for ad, _ in first]
