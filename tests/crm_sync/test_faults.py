"""Faults in the middle of a job: every backend of the CRM and BI databases is terminated (as a server restart
or a failover would) while the sync is writing; afterwards the rerun (Dagster's retry policy, without a person)
leaves BI exactly equal to the CRM, and a reader never saw a half-written table. The same for a webhook burst:
the CRM's backends are terminated, again and again, while the real `hyperdash webhook` is taking leads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from dagster import materialize
from psycopg.conninfo import conninfo_to_dict

from hyperdash_pipeline.attribution.refresh import refresh_attribution_credits, refresh_lead_attribution
from hyperdash_pipeline.cli import main
from hyperdash_pipeline.correlation.refresh import correlation_transaction, refresh_correlation
from hyperdash_pipeline.dagster_home import prepare_dagster_home
from hyperdash_pipeline.defs.crm_sync.mirror import crm_raw_sync
from hyperdash_pipeline.insights.decide import DecisionRule
from hyperdash_pipeline.sync import run_sync
from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.ports import free_port
from tests.support.sync_data import assert_exact_mirror, populate
from tests.support.webhook import JSON, Org, create_source, lead
from tests.support.webhook_server import WebhookServer

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
    from hyperdash_pipeline.defs.ad_platforms.assets import build_meta_asset
    from hyperdash_pipeline.ingestion.meta import MetaAdsResource
    from tests.support.ad_platform_server import Answer, ReplayServer, meta_page, meta_row

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


@contextmanager
def terminate_crm_backends_repeatedly(
    crm_url: str, start: threading.Event, rounds: int = 5, every: float = 0.3
) -> Iterator[list[tuple[int, int]]]:
    """Once `start` is set, terminate every backend of the CRM database but our own, `rounds` times about
    `every` seconds apart (a restart that flaps), each time as soon as a lead is being written if one comes
    within `every`. Yields, per round, how many backends it terminated and how many were writing a lead."""
    terminated: list[tuple[int, int]] = []
    stop = threading.Event()
    writing = "state = 'active' AND query ILIKE '%%INSERT INTO leads%%' AND pid <> pg_backend_pid()"

    def flap() -> None:
        while not start.wait(0.05):
            if stop.is_set():
                return
        with closing(psycopg.connect(crm_url, autocommit=True)) as conn:
            for _ in range(rounds):
                deadline = time.monotonic() + every
                while (
                    time.monotonic() < deadline
                    and not conn.execute(
                        f"SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND {writing}"
                    ).fetchone()
                ):
                    time.sleep(0.005)
                rows = conn.execute(
                    f"SELECT pg_terminate_backend(pid), {writing} FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
                terminated.append((sum(1 for done, _ in rows if done), sum(1 for _, busy in rows if busy)))
                time.sleep(every)

    thread = threading.Thread(target=flap, daemon=True)
    thread.start()
    try:
        yield terminated
    finally:
        stop.set()
        thread.join(timeout=30)


_FINAL = (200, 201, 202)  # 200: an earlier attempt of this key had written it; 202: spooled, written later


def _send_like_a_sender(base_url: str, org: Org, index: int, attempts: int = 20) -> tuple[str, list[int], dict]:
    """Post one lead as a real sender does: a 2xx is final; a 503, 500 or a broken connection is retried
    with the same Idempotency-Key and a fresh signature after Retry-After. (email, statuses, final body)."""
    email = f"fault-{index}@example.com"
    raw = json.dumps(lead(org, email=email, name=f"Lead {index}")).encode()
    statuses: list[int] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(attempts):
            headers = signed_headers(org.secret, raw, content_type=JSON, idempotency_key=f"fault-{index}")
            try:
                answer = client.post("/webhooks/leads", content=raw, headers=headers)
            except httpx.TransportError:
                statuses.append(0)
                time.sleep(1.0)  # a new second: the next attempt's signature differs
                continue
            statuses.append(answer.status_code)
            if answer.status_code not in (500, 503):
                return email, statuses, answer.json()
            time.sleep(float(answer.headers.get("retry-after", "1")))
    return email, statuses, {}


def _wait_ready_and_drained(server: WebhookServer, spooled: bool, seconds: float = 60) -> dict:
    """/readyz once it answers 200 with nothing left in the spool (the CRM's pool has recovered)."""
    deadline = time.monotonic() + seconds
    body: dict = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.base_url}/readyz", timeout=5)
        body = answer.json()
        if answer.status_code == 200 and (not spooled or body.get("spool", {}).get("waiting") == 0):
            return body
        time.sleep(0.5)
    pytest.fail(f"the webhook did not recover within {seconds} s: /readyz says {body}")


@pytest.mark.slow
@pytest.mark.parametrize("spool", ["spool", "off"], ids=["with its spool", "without a spool (503 + Retry-After)"])
def test_a_webhook_burst_whose_crm_backends_are_terminated_loses_no_lead_and_syncs_exactly(
    databases, capsys: pytest.CaptureFixture[str], tmp_path: Path, home_dir: Path, monkeypatch, spool: str
) -> None:
    org = create_source(capsys, "acme")
    _execute(databases.crm_url, _SLOW.replace("crm_raw.notes", "leads").replace("0.002", "0.005"))  # writes in flight
    server = WebhookServer(free_port(), tmp_path / "spool.sqlite3", databases.crm_url, tmp_path / "webhook.log")
    spooled = spool == "spool"
    server.start(HYPERDASH_WEBHOOK_SPOOL=str(server.spool) if spooled else "off")
    count, answered, lock, start = 200, [0], threading.Lock(), threading.Event()

    def send(index: int) -> tuple[str, list[int], dict]:
        result = _send_like_a_sender(server.base_url, org, index)
        with lock:
            answered[0] += 1
            if answered[0] == 40:
                start.set()
        return result

    try:
        with (
            terminate_crm_backends_repeatedly(databases.crm_url, start) as terminated,
            ThreadPoolExecutor(max_workers=16) as pool,
        ):
            results = list(pool.map(send, range(count)))
        ready = _wait_ready_and_drained(server, spooled)
        idle = _execute(  # and once more while the webhook is idle, as a nightly restart would
            databases.crm_url,
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )[0][0]
        after = _send_like_a_sender(server.base_url, org, count)  # the pool replaced its dead connections at once
        assert server.process is not None and server.process.poll() is None, "the webhook is still running"
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log and "internal_error" not in log, log[-3000:]
    assert len(terminated) == 5 and sum(writing for _, writing in terminated) > 0, f"no write was cut: {terminated}"
    assert {statuses[-1] for _, statuses, _ in results} <= set(_FINAL), [r for r in results if r[1][-1] not in _FINAL]
    assert idle > 0 and after[1] == [201], after
    if spooled:
        assert ready["spool"] == {"waiting": 0, "refused": 0}

    rows = _execute(databases.crm_url, "SELECT email, id::text FROM leads")
    emails = [email for email, _ in rows]
    assert len(emails) == len(set(emails)), "a lead was written twice"
    assert set(emails) == {email for email, _, _ in results} | {after[0]}, "a lead was lost"
    in_crm = dict(rows)
    for email, _, body in [*results, after]:
        if "lead_id" in body:
            assert in_crm[email] == body["lead_id"], f"{email} was answered with another lead's id"
    half_written = _execute(
        databases.crm_url,
        "SELECT count(*) FROM leads l LEFT JOIN contacts c ON c.id = l.contact_id "
        "LEFT JOIN webhook_requests r ON r.lead_id = l.id WHERE c.id IS NULL OR r.lead_id IS NULL",
    )[0][0]
    assert half_written == 0, "a lead without its contact or request row"

    monkeypatch.setenv("HYPERDASH_HOME", str(home_dir))
    monkeypatch.setenv("DAGSTER_PG_URL", databases.bi_url)  # set, so no embedded server is started
    monkeypatch.setenv("DAGSTER_HOME", str(home_dir / "dagster"))  # restored after the test
    prepare_dagster_home(home_dir)  # this home's instance, with the repository's dagster.yaml
    with reader_counts(databases.bi_url, "crm_raw.leads") as seen:
        assert main(["sync", "--quiet"]) == 0
    assert set(seen) <= {0, count + 1}, "a reader saw a half-written crm_raw.leads"
    crm_ids = {i for (i,) in _execute(databases.crm_url, "SELECT id::text FROM leads")}
    assert {i for (i,) in _execute(databases.bi_url, "SELECT id::text FROM crm_raw.leads")} == crm_ids
    assert_exact_mirror(databases)
