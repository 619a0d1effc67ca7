"""`hyperdash seed`: reproducible, realistically shaped sample data, checked the way an analyst would."""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TypedDict

import psycopg
import pytest

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.conventions import CRM_TABLES
from hyperdash_pipeline.sample_data import SampleDataError, seed_sample_data
from hyperdash_pipeline.sample_data import seed as seed_module
from hyperdash_pipeline.sample_data.seed import BI_SEEDED_TABLES, STAGING_SCHEMA
from hyperdash_pipeline.settings import DAGSTER_URL_VAR
from hyperdash_pipeline.transforms import scalar

TODAY = date(2026, 6, 30)
DAYS = 90
LEADS = 4_000


class SeedRun(TypedDict):
    """The `seed_sample_data` options a test repeats across runs."""

    leads: int
    seed: int
    days: int
    today: date


@pytest.fixture
def other_databases(pg_server, templates) -> Iterator[tuple[str, str]]:
    """A second fresh, migrated CRM + BI pair (the `databases` fixture gives the first)."""
    tag = uuid.uuid4().hex[:8]
    names = (f"hd_seed_{tag}_crm", f"hd_seed_{tag}_bi")
    yield (
        pg_server.create_database(names[0], template=templates.crm),
        pg_server.create_database(names[1], template=templates.bi),
    )
    for name in names:
        pg_server.drop_database(name)


@pytest.fixture
def seeded(databases):
    summary = seed_sample_data(databases.crm_url, databases.bi_url, leads=LEADS, seed=7, days=DAYS, today=TODAY)
    return databases, summary


def _checksums(url: str, tables: tuple[str, ...]) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        checksum = "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t"
        return {table: scalar(conn, checksum.format(table)) for table in tables}


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute(query, params).fetchall()


def test_same_seed_gives_identical_tables_and_another_seed_differs(databases, other_databases):
    kwargs: SeedRun = {"leads": 1_500, "seed": 11, "days": 60, "today": TODAY}
    seed_sample_data(databases.crm_url, databases.bi_url, **kwargs)
    seed_sample_data(*other_databases, **kwargs)
    first = _checksums(databases.crm_url, CRM_TABLES) | _checksums(databases.bi_url, BI_SEEDED_TABLES)
    second = _checksums(other_databases[0], CRM_TABLES) | _checksums(other_databases[1], BI_SEEDED_TABLES)
    assert first == second

    seed_sample_data(*other_databases, **(kwargs | {"seed": 12}), reset=True)
    third = _checksums(other_databases[0], CRM_TABLES) | _checksums(other_databases[1], BI_SEEDED_TABLES)
    differing = {table for table in first if first[table] != third[table]}
    assert differing >= {"leads", "deals", "contacts", "campaign_metrics", "organizations"}


def test_the_rows_do_not_depend_on_how_many_workers_generate_them(databases, other_databases):
    kwargs: SeedRun = {"leads": 1_001, "seed": 5, "days": 30, "today": TODAY}
    seed_sample_data(databases.crm_url, databases.bi_url, workers=1, **kwargs)
    seed_sample_data(*other_databases, workers=3, **kwargs)
    assert _checksums(databases.crm_url, CRM_TABLES) == _checksums(other_databases[0], CRM_TABLES)
    assert _rows(other_databases[0], "SELECT count(*) FROM leads")[0][0] == 1_001


def test_sizes_and_proportions_are_as_asked(seeded):
    dbs, summary = seeded
    assert summary.counts["crm.leads"] == LEADS
    assert summary.counts["bi.organizations"] == 3
    assert summary.counts["bi.integrations"] == 6
    (total, with_deal, two_deals, organic, avg_touches, min_touches, max_touches) = _rows(
        dbs.crm_url,
        """
        WITH per_lead AS (SELECT l.id, l.campaign_id, jsonb_array_length(l.touchpoints) AS touches,
                                 (SELECT count(*) FROM deals d WHERE d.lead_id = l.id) AS deals
                          FROM leads l)
        SELECT count(*), count(*) FILTER (WHERE deals > 0), count(*) FILTER (WHERE deals = 2),
               count(*) FILTER (WHERE campaign_id IS NULL), avg(touches), min(touches), max(touches)
        FROM per_lead
        """,
    )[0]
    assert total == LEADS
    assert 0.07 <= with_deal / total <= 0.14
    assert 0 < two_deals < with_deal / 2
    assert 0.10 <= organic / total <= 0.20
    assert 2.6 <= float(avg_touches) <= 3.4
    assert (min_touches, max_touches) == (1, 6)
    for table, count in summary.counts.items():
        assert (
            count
            == _rows(
                dbs.crm_url if table.startswith("crm.") else dbs.bi_url,
                f"SELECT count(*) FROM {table.split('.', 1)[1]}",
            )[0][0]
        )


def test_times_lie_in_the_window_and_deals_close_only_when_decided(seeded):
    dbs, _ = seeded
    start, end = TODAY - timedelta(days=DAYS), TODAY
    for table in CRM_TABLES:
        (earliest, latest_created, latest_updated, backwards) = _rows(
            dbs.crm_url,
            f"SELECT min(created_at)::date, max(created_at), max(updated_at), "
            f"count(*) FILTER (WHERE updated_at < created_at) FROM {table}",
        )[0]
        assert earliest >= start, table
        assert latest_created.date() < end and latest_updated.date() < end, table
        assert backwards == 0, table
    stages = dict(
        _rows(
            dbs.crm_url,
            "SELECT stage, count(*) FILTER (WHERE (closed_at IS NULL) = (stage = 'open')) * 1.0 / count(*) "
            "FROM deals GROUP BY stage",
        )
    )
    assert set(stages) == {"open", "won", "lost"}
    assert all(share == 1 for share in stages.values())
    currencies = dict(_rows(dbs.bi_url, "SELECT id, reporting_currency FROM organizations"))
    for org, currency in _rows(dbs.crm_url, "SELECT DISTINCT organization_id, currency FROM deals"):
        assert currencies[org] == currency
    assert {org for (org,) in _rows(dbs.crm_url, "SELECT DISTINCT organization_id FROM leads")} == set(currencies)


def test_touchpoints_are_ordered_json_arrays_ending_at_the_lead(seeded):
    dbs, _ = seeded
    (bad_arrays, bad_touches, unordered, paid_last_mismatch) = _rows(
        dbs.crm_url,
        """
        WITH touches AS (
            SELECT l.id, l.created_at, l.campaign_id, l.ad_id, t.touch, t.n,
                   (t.touch->>'timestamp')::timestamptz AS at,
                   jsonb_array_length(l.touchpoints) AS total
            FROM leads l CROSS JOIN LATERAL jsonb_array_elements(l.touchpoints) WITH ORDINALITY AS t (touch, n)
        )
        SELECT (SELECT count(*) FROM leads WHERE jsonb_typeof(touchpoints) IS DISTINCT FROM 'array'
                                            OR jsonb_array_length(touchpoints) NOT BETWEEN 1 AND 6),
               count(*) FILTER (WHERE jsonb_typeof(touch) <> 'object' OR NOT touch ? 'channel'
                                OR at > created_at OR at < created_at - interval '30 days'),
               (SELECT count(*) FROM (SELECT id, array_agg(at ORDER BY n) AS ats FROM touches GROUP BY id) x
                WHERE ats <> (SELECT array_agg(a ORDER BY a) FROM unnest(ats) a)),
               count(*) FILTER (WHERE n = total AND campaign_id IS NOT NULL
                                AND (touch->>'campaign_id' IS DISTINCT FROM campaign_id
                                     OR touch->>'ad_id' IS DISTINCT FROM ad_id))
        FROM touches
        """,
    )[0]
    assert (bad_arrays, bad_touches, unordered, paid_last_mismatch) == (0, 0, 0, 0)


def test_every_paid_lead_has_metrics_for_its_ad_and_day(seeded):
    dbs, _ = seeded
    lead_days = set(
        _rows(
            dbs.crm_url,
            "SELECT DISTINCT organization_id, campaign_id, ad_set_id, ad_id, (created_at AT TIME ZONE 'UTC')::date "
            "FROM leads WHERE campaign_id IS NOT NULL",
        )
    )
    metric_days = set(
        _rows(dbs.bi_url, "SELECT organization_id, campaign_id, ad_set_id, ad_id, date FROM campaign_metrics")
    )
    assert lead_days and lead_days <= metric_days
    sources = {s for (s,) in _rows(dbs.bi_url, "SELECT DISTINCT source FROM campaign_metrics")}
    assert sources == {"meta", "google"}


def _campaign_stats(dbs) -> list[dict]:
    crm = {
        (org, campaign): (leads, customers, revenue)
        for org, campaign, leads, customers, revenue in _rows(
            dbs.crm_url,
            """
            SELECT l.organization_id, l.campaign_id, count(*),
                   count(*) FILTER (WHERE w.revenue IS NOT NULL), coalesce(sum(w.revenue), 0)
            FROM leads l
            LEFT JOIN LATERAL (SELECT sum(amount) AS revenue FROM deals d
                               WHERE d.lead_id = l.id AND d.stage = 'won' HAVING count(*) > 0) w ON true
            WHERE l.campaign_id IS NOT NULL AND l.deleted_at IS NULL
            GROUP BY 1, 2
            """,
        )
    }
    stats = []
    for org, campaign, source, spend, value in _rows(
        dbs.bi_url,
        "SELECT organization_id, campaign_id, min(source), sum(spend), sum(conversion_value) "
        "FROM campaign_metrics GROUP BY 1, 2",
    ):
        leads, customers, revenue = crm[(org, campaign)]
        stats.append(
            {
                "org": org,
                "source": source,
                "cpl": float(spend) / leads,
                "rate": customers / leads,
                "real_roas": float(revenue) / float(spend),
                "platform_roas": float(value) / float(spend),
            }
        )
    return stats


def test_cheap_campaigns_with_poor_leads_and_dear_ones_with_good_leads(seeded):
    dbs, _ = seeded
    stats = _campaign_stats(dbs)
    for org in {s["org"] for s in stats}:
        mine = [s for s in stats if s["org"] == org]
        cpl_median = statistics.median(s["cpl"] for s in mine)
        rate_median = statistics.median(s["rate"] for s in mine)
        assert any(s["cpl"] < cpl_median and s["rate"] < rate_median for s in mine), org
        assert any(s["cpl"] > cpl_median and s["rate"] > rate_median for s in mine), org
    # the pixel flatters some Meta campaigns well beyond what closed deals say
    assert any(s["source"] == "meta" and s["platform_roas"] > 1.5 * s["real_roas"] for s in stats)
    assert any(s["platform_roas"] < s["real_roas"] for s in stats)


def test_hook_rates_spread_and_paused_ads_are_small_samples(seeded):
    dbs, _ = seeded
    hook_rates = [
        float(rate)
        for (rate,) in _rows(
            dbs.bi_url,
            "SELECT sum(video_3s_views)::numeric / sum(impressions) FROM campaign_metrics "
            "GROUP BY ad_id HAVING sum(video_3s_views) > 0",
        )
    ]
    assert len(hook_rates) >= 20
    assert min(hook_rates) < 0.15 and max(hook_rates) > 0.38
    short_ads = {
        ad for (ad,) in _rows(dbs.bi_url, "SELECT ad_id FROM campaign_metrics GROUP BY ad_id HAVING count(*) <= 10")
    }
    assert short_ads
    leads_per_ad = dict(_rows(dbs.crm_url, "SELECT ad_id, count(*) FROM leads WHERE ad_id IS NOT NULL GROUP BY 1"))
    median_leads = statistics.median(leads_per_ad.values())
    assert all(leads_per_ad.get(ad, 0) < median_leads / 3 for ad in short_ads)


def test_refuses_to_seed_over_data_and_reset_replaces_it(databases):
    seed_sample_data(databases.crm_url, databases.bi_url, leads=300, today=TODAY)
    with pytest.raises(SampleDataError, match="--reset"):
        seed_sample_data(databases.crm_url, databases.bi_url, leads=300, today=TODAY)
    summary = seed_sample_data(databases.crm_url, databases.bi_url, leads=200, today=TODAY, reset=True)
    assert summary.counts["crm.leads"] == 200
    assert _rows(databases.crm_url, "SELECT count(*) FROM leads")[0][0] == 200
    assert "crm_raw.leads" in summary.reset_tables


def test_bad_arguments_and_unmigrated_databases_are_named(empty_database, databases):
    with pytest.raises(SampleDataError, match="leads must be at least 1"):
        seed_sample_data(databases.crm_url, databases.bi_url, leads=0)
    with pytest.raises(SampleDataError, match="hyperdash migrate"):
        seed_sample_data(empty_database, databases.bi_url, leads=10)


def test_cli_seeds_prints_a_summary_and_refuses_a_second_seed(databases, monkeypatch, capsys):
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)  # set, so no embedded server is started
    assert main(["seed", "--leads", "500"]) == 0
    out = capsys.readouterr().out
    assert "leads 500" in out and "campaign_metrics" in out and " s\n" in out

    assert main(["seed", "--leads", "500"]) == 1
    assert "--reset" in capsys.readouterr().err

    assert main(["seed", "--leads", "400", "--seed", "3", "--reset", "--workers", "2"]) == 0
    assert "leads 400" in capsys.readouterr().out

    assert main(["seed", "--leads", "300", "--reset", "--json"]) == 0
    captured = capsys.readouterr()
    assert "seed: leads generated: 300/300 (100.0%)" in captured.err  # progress on stderr, JSON on stdout
    summary = json.loads(captured.out)
    assert summary["counts"]["crm.leads"] == 300 and summary["seed"] == 42


def _crm_schema(url: str) -> set[tuple[str, str]]:
    """Every index and constraint definition of the CRM tables."""
    return set(
        _rows(
            url,
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s) "
            "UNION ALL SELECT conrelid::regclass::text, conname || ' ' || pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[])",
            (list(CRM_TABLES), list(CRM_TABLES)),
        )
    )


def _staging_schemas(url: str) -> list[tuple]:
    return _rows(url, "SELECT nspname FROM pg_namespace WHERE nspname = %s", (STAGING_SCHEMA,))


def test_keys_and_indexes_dropped_for_the_load_are_all_back(databases):
    before = _crm_schema(databases.crm_url)
    assert any("FOREIGN KEY" in definition for _, definition in before)
    seed_sample_data(databases.crm_url, databases.bi_url, leads=300, today=TODAY, workers=2)
    assert _crm_schema(databases.crm_url) == before
    assert _staging_schemas(databases.crm_url) == []


def test_the_seeded_tables_have_statistics_for_the_planner(databases):
    """A seed leaves every table it wrote analysed (what autovacuum, off on some servers, would do later): the
    planner of the sync's first poll and first copy sees their real size, not a guess."""
    seed_sample_data(databases.crm_url, databases.bi_url, leads=300, today=TODAY, workers=2)
    analysed = "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public' AND tablename = ANY(%s)"
    assert {name for (name,) in _rows(databases.crm_url, analysed, (list(CRM_TABLES),))} == set(CRM_TABLES)
    assert {name for (name,) in _rows(databases.bi_url, analysed, (list(BI_SEEDED_TABLES),))} == set(BI_SEEDED_TABLES)


def test_a_failed_seed_leaves_no_rows_and_the_crm_schema_intact(databases):
    before = _crm_schema(databases.crm_url)
    with psycopg.connect(databases.bi_url, autocommit=True) as bi:
        bi.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'metrics store is read-only'; END $$"
        )
        bi.execute("CREATE TRIGGER refuse BEFORE INSERT ON campaign_metrics FOR EACH ROW EXECUTE FUNCTION refuse()")
    with pytest.raises(psycopg.errors.RaiseException, match="read-only"):
        seed_sample_data(databases.crm_url, databases.bi_url, leads=300, today=TODAY, workers=2)
    assert _crm_schema(databases.crm_url) == before
    assert _staging_schemas(databases.crm_url) == []
    for table in CRM_TABLES:
        assert _rows(databases.crm_url, f"SELECT count(*) FROM {table}")[0][0] == 0
    assert _rows(databases.bi_url, "SELECT count(*) FROM organizations")[0][0] == 0


def test_a_seed_failing_while_moving_crm_rows_commits_nothing_anywhere(databases):
    before = _crm_schema(databases.crm_url)
    with psycopg.connect(databases.crm_url, autocommit=True) as crm:
        crm.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'deals are frozen'; END $$"
        )
        crm.execute("CREATE TRIGGER refuse BEFORE INSERT ON deals FOR EACH ROW EXECUTE FUNCTION refuse()")
    with pytest.raises(psycopg.errors.RaiseException, match="frozen"):
        seed_sample_data(databases.crm_url, databases.bi_url, leads=2_000, today=TODAY, workers=2)
    assert _crm_schema(databases.crm_url) == before
    assert _staging_schemas(databases.crm_url) == []
    for table in CRM_TABLES:
        assert _rows(databases.crm_url, f"SELECT count(*) FROM {table}")[0][0] == 0
    for table in BI_SEEDED_TABLES:
        assert _rows(databases.bi_url, f"SELECT count(*) FROM {table}")[0][0] == 0


def test_a_failing_worker_stops_the_others_and_commits_nothing(databases, monkeypatch):
    generate = seed_module._generate_crm_range

    def fail_on_the_second_range(conn: psycopg.Connection, params: dict) -> None:
        if params["first_lead"] > 1:
            conn.execute("SELECT 1 / 0")  # a real server-side error in that worker's session
        generate(conn, params)

    monkeypatch.setattr(seed_module, "_generate_crm_range", fail_on_the_second_range)
    before = _crm_schema(databases.crm_url)
    with pytest.raises(psycopg.errors.DivisionByZero):
        seed_sample_data(databases.crm_url, databases.bi_url, leads=3_000, today=TODAY, workers=2)
    assert _crm_schema(databases.crm_url) == before
    assert _staging_schemas(databases.crm_url) == []
    for table in CRM_TABLES:
        assert _rows(databases.crm_url, f"SELECT count(*) FROM {table}")[0][0] == 0
    assert _rows(databases.bi_url, "SELECT count(*) FROM organizations")[0][0] == 0


def test_progress_hears_of_every_generated_range(databases):
    heard: list[tuple[int, int]] = []
    seed_sample_data(
        databases.crm_url,
        databases.bi_url,
        leads=3_000,
        today=TODAY,
        workers=2,
        on_progress=lambda d, t: heard.append((d, t)),
    )
    assert heard == sorted(heard) and heard[-1] == (3_000, 3_000) and len(heard) >= 2


def test_more_ranges_than_sessions_give_the_same_rows(databases, other_databases, monkeypatch):
    """Sessions take range after range, each range in a session of its own: same rows as one range."""
    kwargs: SeedRun = {"leads": 4_000, "seed": 5, "days": 30, "today": TODAY}
    seed_sample_data(databases.crm_url, databases.bi_url, workers=1, **kwargs)
    monkeypatch.setattr(seed_module, "MIN_LEADS_PER_WORKER", 500)  # 4,000 leads -> 8 ranges on 2 sessions
    assert len(seed_module._lead_ranges(4_000, 2)) == 8
    heard: list[tuple[int, int]] = []
    seed_sample_data(*other_databases, workers=2, on_progress=lambda d, t: heard.append((d, t)), **kwargs)
    assert _checksums(databases.crm_url, CRM_TABLES) == _checksums(other_databases[0], CRM_TABLES)
    assert len(heard) == 8 and heard[-1] == (4_000, 4_000)
