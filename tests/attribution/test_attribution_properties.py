"""The SQL credits equal the pure-Python reference on random leads, whatever the stored touch order."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.attribution.models import MODELS, Touch, build_path, credits
from hyperdash_pipeline.attribution.refresh import (
    CreditSettings,
    refresh_attribution_credits,
    refresh_lead_attribution,
)
from tests.support.attribution_support import NOW, credits_by_lead, fetch_all, lead, upsert_leads

# How a touch names its channel -> the channel it is credited under: mapped aliases, labels no alias maps
# (kept, normalised), and touches without a label whose channel is derived (docs/attribution.md#channels).
CHANNELS: dict[str, tuple[dict[str, str], str]] = {
    "facebook": ({"channel": "Facebook"}, "paid_social"),
    "paid social": ({"channel": " Paid Social "}, "paid_social"),
    "paid-social": ({"channel": "paid-social"}, "paid_social"),
    "display other": ({"channel": "Display_Other"}, "display"),
    "email": ({"channel": "email"}, "email"),
    "A": ({"channel": "A"}, "a"),
    "carrier pigeon": ({"channel": "Carrier  Pigeon"}, "carrier_pigeon"),
    "gclid": ({"gclid": "Cj0KCQ"}, "paid_search"),
    "newsletter": ({"source": "newsletter", "medium": "email"}, "email"),
    "nothing": ({}, "unassigned"),
}

raw_touch = st.fixed_dictionaries(
    {
        # Minutes before conversion: some outside the 30-day lookback, many ties.
        "minutes": st.integers(min_value=0, max_value=40 * 24 * 60).map(lambda m: m - m % 720),
        "channel": st.sampled_from(sorted(CHANNELS)),
        "campaign_id": st.one_of(st.none(), st.sampled_from(["c1", "c2"])),
        "ad_id": st.one_of(st.none(), st.sampled_from(["a1", "a2"])),
    }
)
lead_touches = st.lists(raw_touch, max_size=7)


def _stored(t: dict) -> dict:
    out = {"timestamp": (NOW - timedelta(minutes=t["minutes"])).isoformat(), **CHANNELS[t["channel"]][0]}
    out.update({k: t[k] for k in ("campaign_id", "ad_id") if t[k] is not None})
    return out


def _reference(touches: list[dict], settings_: CreditSettings) -> tuple[list[tuple], dict[str, list[float]]]:
    parsed = [
        Touch(NOW - timedelta(minutes=t["minutes"]), CHANNELS[t["channel"]][1], t["campaign_id"], t["ad_id"])
        for t in touches
    ]
    path = build_path(
        parsed,
        NOW,
        Touch(NOW, "unassigned", "(organic)"),  # a lead without utm fields or click ids
        lookback=timedelta(days=settings_.lookback_days),
        collapse=settings_.collapse,
    )
    touched = [(t.channel, t.campaign, t.ad_id) for t in path]
    return touched, {m: credits(path, m, NOW, settings_.half_life_days) for m in settings_.models}


def _in_window(touches: list[dict], lookback_days: int) -> int:
    return sum(1 for t in touches if t["minutes"] <= lookback_days * 24 * 60)


@pytest.fixture
def bi_conn(databases):
    conn = psycopg.connect(databases.bi_url)
    yield conn
    conn.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    leads=st.lists(lead_touches, min_size=1, max_size=8),
    collapse=st.booleans(),
    half_life=st.sampled_from([1.0, 7.0, 2.5]),
    lookback=st.sampled_from([30, 10]),
    seed=st.integers(0, 2**16),
)
def test_sql_credits_equal_reference(
    bi_conn: psycopg.Connection, leads: list[list[dict]], collapse: bool, half_life: float, lookback: int, seed: int
) -> None:
    bi_conn.execute("TRUNCATE crm_raw.leads, crm_raw.deals")
    bi_conn.commit()
    config = CreditSettings(lookback_days=lookback, half_life_days=half_life, collapse=collapse, models=MODELS)
    rows, expected, paths, in_window = [], {}, {}, {}
    rnd = random.Random(seed)
    for touches in leads:
        # Each lead twice: once as generated, once with its touchpoints stored in another order.
        shuffled = list(touches)
        rnd.shuffle(shuffled)
        for stored in (touches, shuffled):
            row = lead(id=uuid.uuid4(), touchpoints=[_stored(t) for t in stored])
            rows.append(row)
            paths[str(row["id"])], shares_by_model = _reference(touches, config)
            in_window[str(row["id"])] = _in_window(touches, lookback)
            for model, shares in shares_by_model.items():
                expected[(str(row["id"]), model)] = shares
    upsert_leads(bi_conn, rows)

    refresh_lead_attribution(bi_conn, full=True)
    refresh_attribution_credits(bi_conn, config, full=True)

    got = credits_by_lead(bi_conn)
    assert set(got) == set(expected)
    for key, shares in expected.items():
        assert got[key] == pytest.approx(shares, abs=1e-9), key
        assert abs(sum(got[key]) - 1.0) <= 1e-9
    stored_paths: dict[str, list[tuple]] = {}
    for r in fetch_all(
        bi_conn,
        "SELECT lead_id, channel, campaign_id, ad_id FROM analytics.attribution_credits "
        "WHERE model = 'linear' ORDER BY lead_id, touch_index",
    ):
        stored_paths.setdefault(str(r["lead_id"]), []).append((r["channel"], r["campaign_id"], r["ad_id"]))
    assert stored_paths == paths
    # Touches in = touches out: every in-window touch is credited, itself or as a collapsed repeat.
    out = {
        str(r["lead_id"]): r["touches"]
        for r in fetch_all(
            bi_conn, "SELECT lead_id, sum(touches)::int AS touches FROM analytics.attribution_touch_credits GROUP BY 1"
        )
    }
    assert out == in_window
