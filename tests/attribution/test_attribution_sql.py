"""lead_attribution, attribution_credits and markov_attribution computed in a real BI PostgreSQL."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from hyperdash_pipeline.attribution.refresh import (
    CREDITS_STORAGE,
    CreditSettings,
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from tests.support.attribution_support import (
    NOW,
    ORG,
    credits_by_lead,
    fetch_all,
    lead,
    touch,
    upsert_deal,
    upsert_leads,
)

DAY = timedelta(days=1)


@pytest.fixture
def bi(databases) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(databases.bi_url)
    conn.execute("INSERT INTO organizations (id, name, slug) VALUES (%s, 'Acme', 'acme')", (ORG,))
    conn.commit()
    yield conn
    conn.close()


def _metrics(
    conn: psycopg.Connection, campaign_id: str, day_offset: int, spend: float, conversions: float, value: float
):
    conn.execute(
        "INSERT INTO campaign_metrics (organization_id, source, campaign_id, date, spend, conversions, "
        "conversion_value) VALUES (%s, 'meta', %s, %s, %s, %s, %s)",
        (ORG, campaign_id, (NOW + day_offset * DAY).date(), spend, conversions, value),
    )
    conn.commit()


def _attribution(conn: psycopg.Connection) -> dict[str, dict]:
    return {str(r["lead_id"]): r for r in fetch_all(conn, "SELECT * FROM lead_attribution")}


def test_lead_attribution_hand_computed(bi: psycopg.Connection) -> None:
    for offset, spend, conversions, value in [(-8, 999, 1, 999), (-6, 100, 4, 300), (0, 50, 1, 0), (1, 999, 1, 999)]:
        _metrics(bi, "c1", offset, spend, conversions, value)
    other_org = uuid.uuid4()
    leads = {
        "fb": lead(fbclid="abc", utm_source="Google", campaign_id="c1", utm_medium=" CPC ", utm_campaign="Spring"),
        "organic": lead(),
        "adwords": lead(utm_source=" AdWords "),
        "gclid": lead(gclid="xyz", campaign_id="g9"),
        "newsletter": lead(utm_source="Newsletter", organization_id=other_org),
        "deleted": lead(deleted_at=NOW),
    }
    upsert_leads(bi, list(leads.values()))

    stats = refresh_lead_attribution(bi)

    rows = _attribution(bi)
    assert stats.full and stats.row_count == 5 and stats.organizations_created == 1
    assert str(leads["deleted"]["id"]) not in rows
    fb = rows[str(leads["fb"]["id"])]
    assert (fb["source"], fb["campaign_id"], fb["medium"], fb["utm_campaign"]) == ("meta", "c1", "cpc", "Spring")
    # 7 days ending on the conversion date: offsets -6 and 0 -> spend 150, conversions 5, value 300.
    assert fb["cpa_at_conversion"] == Decimal("30.00") and fb["roas"] == Decimal("2.00")
    assert fb["conversion_date"] == NOW.replace(tzinfo=None)
    assert fb["first_touch"] == fb["last_touch"] == NOW.replace(tzinfo=None)
    organic = rows[str(leads["organic"]["id"])]
    assert (organic["source"], organic["campaign_id"], organic["cpa_at_conversion"]) == ("organic", "(organic)", None)
    assert rows[str(leads["adwords"]["id"])]["source"] == "google"
    assert rows[str(leads["gclid"]["id"])]["source"] == "google"
    assert rows[str(leads["newsletter"]["id"])]["source"] == "newsletter"
    placeholder = fetch_all(bi, "SELECT name FROM organizations WHERE id = %s", (other_org,))
    assert placeholder == [{"name": f"Organization {other_org}"}]


def test_credits_hand_computed(bi: psycopg.Connection) -> None:
    touches = [
        touch(NOW - 40 * DAY, "meta", campaign_id="c1"),  # outside the 30-day lookback
        touch(NOW - 10 * DAY, "facebook", campaign_id="c1", ad_id="a1"),
        touch(NOW - 9 * DAY, "meta", campaign_id="c1", ad_id="a2"),  # collapses into the previous one
        touch(NOW - 3 * DAY, "google", campaign_id="g1"),
        touch(NOW - 1 * DAY, "email"),
    ]
    row = lead(touchpoints=list(reversed(touches)), campaign_id="c1", fbclid="f")
    upsert_leads(bi, [row])
    upsert_deal(bi, row["id"], "won", 100)
    upsert_deal(bi, row["id"], "won", 50)
    upsert_deal(bi, row["id"], "lost", 999)
    upsert_deal(bi, row["id"], "won", 500, deleted_at=NOW)

    refresh_lead_attribution(bi)
    stats = refresh_attribution_credits(bi)

    assert stats.full and stats.reason == "first run"
    rows = fetch_all(bi, "SELECT * FROM analytics.attribution_credits ORDER BY model, touch_index")
    path = [(r["channel"], r["campaign_id"], r["ad_id"]) for r in rows if r["model"] == "linear"]
    # Channel labels map to channel groups (facebook and meta are both paid_social, so they collapse).
    assert path == [("paid_social", "c1", "a1"), ("paid_search", "g1", None), ("email", "(email)", None)]
    raw = [r["channel_raw"] for r in rows if r["model"] == "linear"]
    assert raw == ["facebook", "google", "email"]
    got = credits_by_lead(bi)
    lead_id = str(row["id"])
    assert got[(lead_id, "first_touch")] == [1, 0, 0]
    assert got[(lead_id, "last_touch")] == [0, 0, 1]
    assert got[(lead_id, "linear")] == pytest.approx([1 / 3] * 3)
    assert got[(lead_id, "position_based")] == pytest.approx([0.4, 0.2, 0.4])
    weights = [2 ** (-10 / 7), 2 ** (-3 / 7), 2 ** (-1 / 7)]
    assert got[(lead_id, "time_decay")] == pytest.approx([w / sum(weights) for w in weights], abs=1e-12)
    revenue = {r["touch_index"]: r["revenue_credit"] for r in rows if r["model"] == "position_based"}
    assert revenue == {0: Decimal("60.000000"), 1: Decimal("30.000000"), 2: Decimal("60.000000")}


def test_credits_view_has_exactly_the_contract_columns(bi: psycopg.Connection) -> None:
    """analytics.attribution_credits (a view over the per-touch storage) shows the contract's columns."""
    columns = fetch_all(
        bi,
        "SELECT column_name AS name, data_type AS type FROM information_schema.columns "
        "WHERE table_schema = 'analytics' AND table_name = 'attribution_credits' ORDER BY ordinal_position",
    )
    assert [(c["name"], c["type"]) for c in columns] == [
        ("organization_id", "uuid"),
        ("lead_id", "uuid"),
        ("touch_index", "integer"),
        ("channel", "text"),
        ("campaign_id", "text"),
        ("ad_id", "text"),
        ("model", "text"),
        ("credit", "double precision"),
        ("revenue_credit", "numeric"),
        ("channel_raw", "text"),
    ]


def test_credits_lost_by_crash_recovery_are_rebuilt(bi: psycopg.Connection) -> None:
    """The credits storage is UNLOGGED: crash recovery empties it; the next refresh notices and rebuilds."""
    rows = [lead(touchpoints=[touch(NOW - DAY, "meta", campaign_id="c1")]) for _ in range(3)]
    upsert_leads(bi, rows)
    refresh_lead_attribution(bi)
    first = refresh_attribution_credits(bi)
    before = fetch_all(bi, "SELECT * FROM analytics.attribution_credits ORDER BY lead_id, model, touch_index")
    assert first.row_count == len(before) == 15
    # Partitioned (migration 1807): its partitions hold the rows, and they are UNLOGGED.
    persistence = (
        "SELECT c.relpersistence AS p FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass"
    )
    assert fetch_all(bi, persistence, (CREDITS_STORAGE,)) == [{"p": "u"}]
    # What crash recovery does to an UNLOGGED table (and to the paths and transitions beside it).
    bi.execute(f"TRUNCATE {CREDITS_STORAGE}, analytics.attribution_paths, analytics.markov_transitions")
    bi.commit()

    stats = refresh_attribution_credits(bi)

    assert stats.full and stats.reason == "credits were lost (UNLOGGED table emptied by crash recovery)"
    assert fetch_all(bi, "SELECT * FROM analytics.attribution_credits ORDER BY lead_id, model, touch_index") == before
    assert stats.row_count == 15
    markov = refresh_markov_attribution(bi)
    assert {r.touch for r in markov.rows} == {"paid_social", "c1"}


def test_credits_row_count_is_kept_exactly(bi: psycopg.Connection) -> None:
    """The row count reported by an incremental refresh is kept, not counted: it must equal a count."""
    rows = [lead(touchpoints=[touch(NOW - DAY, "meta"), touch(NOW - 2 * DAY, "email")]) for _ in range(4)]
    upsert_leads(bi, rows)
    refresh_lead_attribution(bi)
    refresh_attribution_credits(bi)
    changed = dict(rows[0], touchpoints=[touch(NOW - DAY, "meta")])
    upsert_leads(bi, [changed])
    bi.execute("UPDATE crm_raw.leads SET deleted_at = now(), _synced_at = now() WHERE id = %s", (rows[1]["id"],))
    bi.commit()
    refresh_lead_attribution(bi)

    stats = refresh_attribution_credits(bi)

    assert not stats.full
    assert stats.row_count == fetch_all(bi, "SELECT count(*) AS n FROM analytics.attribution_credits")[0]["n"] == 25


def test_credits_settings_change_rebuilds(bi: psycopg.Connection) -> None:
    row = lead(touchpoints=[touch(NOW - 2 * DAY, "meta"), touch(NOW - 1 * DAY, "meta"), touch(NOW - DAY, "email")])
    upsert_leads(bi, [row])
    refresh_lead_attribution(bi)
    refresh_attribution_credits(bi)
    stats = refresh_attribution_credits(bi, CreditSettings(collapse=False, models=("linear", "position_based")))
    assert stats.full and stats.reason == "configuration or channel map changed"
    got = credits_by_lead(bi)
    assert set(got) == {(str(row["id"]), "linear"), (str(row["id"]), "position_based")}
    assert got[(str(row["id"]), "position_based")] == pytest.approx([0.4, 0.2, 0.4])
    assert refresh_attribution_credits(
        bi, CreditSettings(collapse=False, models=("linear", "position_based"))
    ).reason == ("incremental")


def test_no_touchpoints_and_out_of_window_fall_back_to_the_lead(bi: psycopg.Connection) -> None:
    bare = lead(utm_source="google", campaign_id="g1", ad_id="ad7")
    stale = lead(touchpoints=[touch(NOW - 45 * DAY, "meta", campaign_id="c1")], utm_source="ig")
    upsert_leads(bi, [bare, stale])
    refresh_lead_attribution(bi)
    refresh_attribution_credits(bi)
    rows = fetch_all(
        bi, "SELECT lead_id, channel, campaign_id, ad_id FROM analytics.attribution_credits WHERE model = 'linear'"
    )
    by_lead = {str(r["lead_id"]): (r["channel"], r["campaign_id"], r["ad_id"]) for r in rows}
    # The lead's own touch derives its channel from its utm fields: a search engine / social network as
    # source without a medium is organic (GA4's rule).
    assert by_lead == {
        str(bare["id"]): ("organic_search", "g1", "ad7"),
        str(stale["id"]): ("organic_social", "(meta)", None),
    }


def test_quarantine_bad_input_and_keep_the_rest(bi: psycopg.Connection) -> None:
    good = touch(NOW - DAY, "google", campaign_id="g1")
    leads = {
        "object": lead(touchpoints={"timestamp": NOW.isoformat(), "channel": "meta"}),
        "no_ts": lead(touchpoints=[{"channel": "meta"}, good]),
        "bad_ts": lead(touchpoints=[{"timestamp": "yesterday-ish", "channel": "meta"}, good]),
        "number_ts": lead(touchpoints=[{"timestamp": 1700000000, "channel": "meta"}, good]),
        "future": lead(touchpoints=[touch(NOW.replace(year=2999), "meta"), good]),
        "unknown": lead(touchpoints=[touch(NOW - DAY, "carrier_pigeon"), good]),
        "fine": lead(touchpoints=[good]),
    }
    upsert_leads(bi, list(leads.values()))
    upsert_deal(bi, leads["fine"]["id"], "won", -10)
    upsert_deal(bi, uuid.uuid4(), "won", 10)
    upsert_deal(bi, leads["fine"]["id"], "won", 25)

    stats = refresh_lead_attribution(bi)
    refresh_attribution_credits(bi)

    reasons = sorted(
        r["reason"] for r in fetch_all(bi, "SELECT reason FROM quarantine WHERE stage = 'lead_attribution'")
    )
    assert reasons == sorted(
        [
            "touchpoints is not a JSON array",
            "touchpoint has no timestamp",
            "touchpoint timestamp does not parse",
            "touchpoint timestamp does not parse",
            "touchpoint timestamp is in the future",
            "negative deal amount",
            "deal refers to a lead that does not exist",
        ]
    )
    assert stats.quarantined == 7 and stats.row_count == len(leads)
    rows = _attribution(bi)
    for name in ("no_ts", "bad_ts", "number_ts", "future", "fine"):
        assert [t["channel"] for t in rows[str(leads[name]["id"])]["touchpoints"]] == ["google"], name
    # A label no alias maps is a touch like any other: kept, never quarantined.
    assert [t["channel"] for t in rows[str(leads["unknown"]["id"])]["touchpoints"]] == ["carrier_pigeon", "google"]
    assert rows[str(leads["object"]["id"])]["touchpoints"] is None
    revenue = fetch_all(
        bi, "SELECT won_revenue FROM analytics.lead_outcomes WHERE lead_id = %s", (leads["fine"]["id"],)
    )
    assert revenue == [{"won_revenue": Decimal("25.00")}]
    # Re-running does not duplicate quarantine rows of unchanged input.
    refresh_lead_attribution(bi, full=True)
    assert fetch_all(bi, "SELECT count(*) AS n FROM quarantine") == [{"n": 7}]


def _row_versions(conn: psycopg.Connection, table: str) -> dict[tuple, str]:
    key = "lead_id" if table == "lead_attribution" else "lead_id, touch_index"
    return {
        tuple(str(v) for v in list(r.values())[:-1]): r["xmin"]
        for r in fetch_all(conn, f"SELECT {key}, xmin::text AS xmin FROM {table}")
    }


def test_incremental_recomputes_only_changed_leads_and_follows_deals(bi: psycopg.Connection) -> None:
    leads = [lead(touchpoints=[touch(NOW - (i % 5 + 1) * DAY, "meta", campaign_id=f"c{i % 3}")]) for i in range(20)]
    upsert_leads(bi, leads)
    refresh_lead_attribution(bi)
    refresh_attribution_credits(bi)
    refresh_markov_attribution(bi)
    before_la = _row_versions(bi, "lead_attribution")
    before_credits = _row_versions(bi, CREDITS_STORAGE)

    edited = {**leads[0], "utm_source": "google", "touchpoints": [touch(NOW - DAY, "google", campaign_id="g1")]}
    upsert_leads(bi, [edited])
    upsert_deal(bi, leads[1]["id"], "won", 400)
    bi.execute("DELETE FROM crm_raw.leads WHERE id = %s", (leads[2]["id"],))
    bi.commit()
    upsert_leads(bi, [{**leads[3], "deleted_at": NOW}])

    stats = refresh_lead_attribution(bi)
    credit_stats = refresh_attribution_credits(bi)
    markov = refresh_markov_attribution(bi)

    assert not stats.full and (stats.recomputed, stats.removed, stats.outcomes_changed) == (2, 2, 1)
    assert not credit_stats.full and credit_stats.leads_recomputed == 4
    after_la = _row_versions(bi, "lead_attribution")
    changed = {k for k in before_la if k in after_la and before_la[k] != after_la[k]}
    assert changed == {(str(leads[0]["id"]),), (str(leads[1]["id"]),)}
    assert set(before_la) - set(after_la) == {(str(leads[2]["id"]),), (str(leads[3]["id"]),)}
    after_credits = _row_versions(bi, CREDITS_STORAGE)
    recomputed_leads = {k[0] for k in after_credits if before_credits.get(k) != after_credits[k]}
    assert recomputed_leads == {str(leads[0]["id"]), str(leads[1]["id"])}
    assert _attribution(bi)[str(leads[0]["id"])]["source"] == "google"
    revenue = fetch_all(
        bi,
        "SELECT sum(revenue_credit) AS r FROM analytics.attribution_credits WHERE lead_id = %s AND model = 'linear'",
        (leads[1]["id"],),
    )
    assert revenue == [{"r": Decimal("400.000000")}]
    assert markov.customers == 1
    # The incrementally kept transition counts equal a recount from scratch.
    transitions = "SELECT * FROM analytics.markov_transitions ORDER BY 1, 2, 3, 4"
    incremental_counts = fetch_all(bi, transitions)
    refresh_attribution_credits(bi, full=True)
    assert fetch_all(bi, transitions) == incremental_counts

    # The deal is lost again: the lead's revenue goes back to 0; nothing else is touched.
    upsert_deal(bi, leads[1]["id"], "lost", 400, deal_id=fetch_all(bi, "SELECT id FROM crm_raw.deals")[0]["id"])
    stats = refresh_lead_attribution(bi)
    assert (stats.recomputed, stats.removed, stats.outcomes_changed) == (1, 0, 1)
    refresh_attribution_credits(bi)
    assert fetch_all(bi, "SELECT count(*) AS n FROM analytics.attribution_credits WHERE revenue_credit > 0") == [
        {"n": 0}
    ]
    # Nothing changed: nothing recomputed.
    stats = refresh_lead_attribution(bi)
    assert (stats.recomputed, stats.removed, stats.outcomes_changed) == (0, 0, 0)


def test_watermark_does_not_pass_an_open_transaction(databases, bi: psycopg.Connection) -> None:
    """A sync transaction that started before the refresh and commits after it is picked up next time."""
    first = lead()
    upsert_leads(bi, [first])
    slow = psycopg.connect(databases.bi_url)
    late = lead()
    slow.execute("SELECT 1")  # opens the transaction: its now() is fixed from here
    upsert_leads(bi, [lead()])
    refresh_lead_attribution(bi)
    with slow.cursor() as cur:
        cur.execute(
            "INSERT INTO crm_raw.leads (id, organization_id, status, attribution_synced, created_at, updated_at) "
            "VALUES (%s, %s, 'new', false, %s, %s)",
            (late["id"], ORG, NOW, NOW),
        )
    slow.commit()
    slow.close()
    stats = refresh_lead_attribution(bi)
    # The watermark stayed below the open transaction's start: the late lead and the one synced after that
    # start are read again (recomputing is idempotent); nothing committed is missed.
    assert stats.recomputed == 2
    assert str(late["id"]) in _attribution(bi)
    assert refresh_lead_attribution(bi).recomputed == 0


def test_markov_vignette_hand_computed(bi: psycopg.Connection) -> None:
    """ChannelAttribution's vignette paths: A>B>A>B>B>A, A>B>B>A>A, A>A, all converting.
    By hand: P(conversion) = 1; without A nothing converts (effect 1); without B only the A->A->conversion
    flow survives: from A, 3/8 convert and 2/8 loop, so P = (3/8)/(6/8) = 0.5 (effect 0.5).
    Three conversions split 1 : 0.5 -> A 2, B 1."""
    paths = ["ABABBA", "ABBAA", "AA"]
    leads = []
    for path in paths:
        touches = [touch(NOW - (len(path) - i) * DAY, "other", campaign_id=ch) for i, ch in enumerate(path)]
        leads.append(lead(touchpoints=touches))
    upsert_leads(bi, leads)
    for row in leads:
        upsert_deal(bi, row["id"], "won", 10)
    refresh_lead_attribution(bi)
    refresh_attribution_credits(bi, CreditSettings(collapse=False))
    refresh_markov_attribution(bi)
    rows = fetch_all(bi, "SELECT * FROM analytics.markov_attribution WHERE dimension = 'campaign' ORDER BY touch")
    assert [(r["touch"], r["removal_effect"], r["attributed_conversions"]) for r in rows] == [
        ("A", pytest.approx(1.0), pytest.approx(2.0)),
        ("B", pytest.approx(0.5), pytest.approx(1.0)),
    ]
    assert [r["attributed_revenue"] for r in rows] == [Decimal("20.000000"), Decimal("10.000000")]
    channel = fetch_all(
        bi, "SELECT touch, attributed_conversions FROM analytics.markov_attribution WHERE dimension = 'channel'"
    )
    assert channel == [{"touch": "other", "attributed_conversions": pytest.approx(3.0)}]
    assert math.isclose(sum(r["attributed_conversions"] for r in rows), 3.0)


def test_full_rebuild_restores_indexes_and_constraints(bi: psycopg.Connection) -> None:
    definitions = """
        SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def
        FROM pg_constraint
        WHERE conrelid IN ('lead_attribution'::regclass, 'analytics.attribution_touch_credits'::regclass)
        UNION ALL
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE tablename IN ('lead_attribution', 'attribution_touch_credits')
        ORDER BY 1, 2, 3"""
    before = fetch_all(bi, definitions)
    upsert_leads(bi, [lead(touchpoints=[touch(NOW - DAY, "meta")]), lead()])
    refresh_lead_attribution(bi, full=True)
    refresh_attribution_credits(bi, full=True)
    assert fetch_all(bi, definitions) == before
    with pytest.raises(psycopg.errors.UniqueViolation):
        bi.execute(
            "INSERT INTO lead_attribution (organization_id, lead_id, campaign_id, conversion_date) "
            "SELECT organization_id, lead_id, campaign_id, conversion_date FROM lead_attribution LIMIT 1"
        )
    bi.rollback()


def test_row_ids_survive_a_full_rebuild(bi: psycopg.Connection) -> None:
    """A consumer holding lead_attribution.id keeps pointing at the same lead after a rebuild."""
    upsert_leads(bi, [lead(), lead()])
    refresh_lead_attribution(bi, full=True)
    ids = "SELECT lead_id, id FROM lead_attribution ORDER BY lead_id"
    first = {(r["lead_id"], r["id"]) for r in fetch_all(bi, ids)}
    upsert_leads(bi, [lead()])
    refresh_lead_attribution(bi)  # an incremental run adds a row
    refresh_lead_attribution(bi, full=True)
    again = {(r["lead_id"], r["id"]) for r in fetch_all(bi, ids)}
    assert len(first) == 2 and len(again) == 3
    assert first <= again


def test_a_truncated_mirror_drops_the_leads_it_no_longer_holds(bi: psycopg.Connection) -> None:
    """A full re-copy truncates crm_raw.leads: the next incremental refresh finds every lead that is gone."""
    leads = [lead() for _ in range(4)]
    upsert_leads(bi, leads)
    refresh_lead_attribution(bi)
    kept = leads[:2]
    bi.execute("TRUNCATE crm_raw.leads")
    bi.commit()
    upsert_leads(bi, kept)  # the re-copy brings back what the CRM still holds
    stats = refresh_lead_attribution(bi)
    assert not stats.full and stats.removed == 2
    remaining = {r["lead_id"] for r in fetch_all(bi, "SELECT lead_id FROM lead_attribution")}
    assert remaining == {r["id"] for r in kept}
    assert fetch_all(bi, "SELECT count(*) AS n FROM analytics.crm_lead_deletions") == [{"n": 0}]  # consumed


def test_time_decay_holds_at_the_longest_lookback_allowed(bi: psycopg.Connection) -> None:
    """999 and 998 half-lives back: weights 2^-999 and 2^-998, still normal floats, shares 1/3 and 2/3."""
    settings = CreditSettings(lookback_days=1000, half_life_days=1.0)
    row = lead(touchpoints=[touch(NOW - 999 * DAY, "meta"), touch(NOW - 998 * DAY, "google")])
    upsert_leads(bi, [row])
    refresh_lead_attribution(bi)
    refresh_attribution_credits(bi, settings)
    assert credits_by_lead(bi)[(str(row["id"]), "time_decay")] == pytest.approx([1 / 3, 2 / 3], abs=1e-12)
    with pytest.raises(ValueError, match="at most 1000 half-lives"):
        CreditSettings(lookback_days=1001, half_life_days=1.0)


def _mirror_scans(bi: psycopg.Connection) -> int:
    """Sequential scans of crm_raw.leads so far, this session's included (flushed to the shared counters)."""
    bi.execute("SELECT pg_stat_force_next_flush()")
    bi.commit()
    bi.execute("SELECT pg_stat_clear_snapshot()")
    row = bi.execute(
        "SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = 'crm_raw' AND relname = 'leads'"
    ).fetchone()
    bi.commit()
    assert row is not None
    return int(row[0])


def test_an_incremental_refresh_reads_the_changed_leads_by_key(bi: psycopg.Connection) -> None:
    """A few changed leads among 200,000 are looked up by primary key, never by a scan of the whole mirror: the
    steps that find them plan on their own count, not on an estimate that includes every stored lead."""
    bi.execute("ALTER TABLE crm_raw.leads SET (autovacuum_enabled = off)")
    bi.execute(
        "INSERT INTO crm_raw.leads (id, organization_id, status, attribution_synced, created_at, updated_at) "
        "SELECT gen_random_uuid(), %s, 'new', false, %s, %s FROM generate_series(1, 200000)",
        (ORG, NOW, NOW),
    )
    bi.execute("ANALYZE crm_raw.leads")  # as a full sync leaves it
    bi.commit()
    refresh_lead_attribution(bi)
    # The full rebuild leaves its table analysed too (an estimate close to the 200,000 rows, not -1 or 0).
    assert fetch_all(
        bi, "SELECT reltuples > 190000 AS analysed FROM pg_class WHERE oid = 'lead_attribution'::regclass"
    )[0]["analysed"]
    upsert_leads(bi, [lead(status="won") for _ in range(5)])
    before = _mirror_scans(bi)
    stats = refresh_lead_attribution(bi)
    assert (stats.full, stats.recomputed) == (False, 5)
    assert _mirror_scans(bi) == before


def test_outcomes_follow_deals_moved_removed_and_a_truncated_mirror(bi: psycopg.Connection) -> None:
    """An incremental refresh recomputes the outcomes of the leads whose deals changed, the lead a deal moved
    away from and the lead of a deal removed from the mirror included (the deals' queue, migration 1911); after a
    truncation of the deals mirror it compares every outcome. Each time the outcomes equal a full rebuild's."""
    a, b, c, d = (lead() for _ in range(4))
    upsert_leads(bi, [a, b, c, d])
    moved = upsert_deal(bi, a["id"], "won", 100)
    removed = upsert_deal(bi, c["id"], "won", 50)
    kept = upsert_deal(bi, d["id"], "won", 70)
    refresh_lead_attribution(bi)
    outcomes = "SELECT lead_id, won_deals, won_revenue FROM analytics.lead_outcomes ORDER BY lead_id"

    def revenue_by_lead() -> dict[uuid.UUID, Decimal]:
        return {r["lead_id"]: r["won_revenue"] for r in fetch_all(bi, outcomes)}

    def equals_a_full_rebuild() -> bool:
        incremental = fetch_all(bi, outcomes)
        refresh_lead_attribution(bi, full=True)
        return fetch_all(bi, outcomes) == incremental

    upsert_deal(bi, b["id"], "won", 100, deal_id=moved)  # the sync's upsert moves the deal from a to b
    bi.execute("DELETE FROM crm_raw.deals WHERE id = %s", (removed,))  # a tombstone applied
    bi.commit()
    stats = refresh_lead_attribution(bi)
    assert (stats.full, stats.outcomes_changed) == (False, 3)  # a lost its deal, b got it, c's is gone
    assert revenue_by_lead() == {b["id"]: Decimal("100.00"), d["id"]: Decimal("70.00")}
    assert equals_a_full_rebuild()

    bi.execute("TRUNCATE crm_raw.deals")  # a full re-copy, which brings back d's deal only
    bi.commit()
    upsert_deal(bi, d["id"], "won", 70, deal_id=kept)
    stats = refresh_lead_attribution(bi)
    assert (stats.full, stats.outcomes_changed) == (False, 1)
    assert revenue_by_lead() == {d["id"]: Decimal("70.00")}
    assert equals_a_full_rebuild()
    assert fetch_all(bi, "SELECT count(*) AS n FROM analytics.crm_deal_changes") == [{"n": 0}]  # consumed
