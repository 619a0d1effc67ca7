"""The Wilson interval against published values, and the recommendation rule on small and borderline samples."""

from __future__ import annotations

import math
import uuid
from typing import Any

import psycopg
import pytest

from hyperdash_pipeline.insights.apply import CreativeRow, account_baselines, decide_all
from hyperdash_pipeline.insights.decide import DecisionRule, Outcomes, decide, percentile_ranks
from hyperdash_pipeline.insights.stats import wilson_interval, z_for_confidence

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857-872,
# Table I, method 3 (Wilson score interval without continuity correction), 4 decimals.
NEWCOMBE = [
    ((81, 263), (0.2553, 0.3662)),
    ((15, 148), (0.0624, 0.1605)),
    ((0, 20), (0.0000, 0.1611)),
    ((1, 29), (0.0061, 0.1718)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE)
def test_wilson_matches_published_values(counts: tuple[int, int], expected: tuple[float, float]) -> None:
    interval = wilson_interval(*counts)
    assert interval is not None
    assert interval == pytest.approx(expected, abs=5e-5)


def test_sql_wilson_equals_python_wilson(databases: Any) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        for (k, n), expected in NEWCOMBE:
            low, high = conn.execute(
                "SELECT analytics.wilson_low(%s, %s), analytics.wilson_high(%s, %s)", (k, n, k, n)
            ).fetchone()  # type: ignore[misc]
            assert (low, high) == pytest.approx(expected, abs=5e-5)
            assert (low, high) == pytest.approx(wilson_interval(k, n), abs=1e-12)
        # No trials: no interval; all or nothing: the bound sits exactly on the rate.
        assert conn.execute("SELECT analytics.wilson_low(0, 0), analytics.wilson_high(0, 0)").fetchone() == (None, None)
        assert conn.execute("SELECT analytics.wilson_low(0, 3), analytics.wilson_high(7, 7)").fetchone() == (0.0, 1.0)


def test_wilson_edges() -> None:
    assert z_for_confidence(0.95) == pytest.approx(1.959963984540054)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 3)[0] == 0.0  # type: ignore[index]
    assert wilson_interval(3, 3)[1] == 1.0  # type: ignore[index]
    with pytest.raises(ValueError, match="successes must be within"):
        wilson_interval(4, 3)
    with pytest.raises(ValueError, match="confidence"):
        z_for_confidence(1.0)


ACCOUNT = Outcomes(leads=1000, customers=98, spend=50_000.0)  # 9.8%, CAC 510.20


def test_pause_reason_reads_like_the_mission_example() -> None:
    decision = decide(Outcomes(140, 2, 7000.0), ACCOUNT, hook_rate=0.38, hook_rate_percentile=0.9)
    assert decision.recommendation == "pause"
    assert decision.reason.startswith(
        "hook rate 38.0% (top quartile) but 2 of 140 leads became customers (1.4%, 95% CI 0.4-5.1%) "
        "against 9.8% for the account"
    )
    assert "CAC 3,500.00 against 510.20 for the account" in decision.reason
    evidence = decision.evidence
    assert (evidence["leads"], evidence["customers"]) == (140, 2)
    assert evidence["interval"]["high"] == pytest.approx(wilson_interval(2, 140)[1])  # type: ignore[index]
    assert evidence["account"]["lead_to_customer_rate"] == pytest.approx(0.098)
    assert evidence["thresholds"] == {"min_leads": 30, "confidence": 0.95}


@pytest.mark.parametrize(("leads", "expected"), [(0, "insufficient_data"), (29, "insufficient_data"), (30, "pause")])
def test_no_call_under_the_minimum_sample(leads: int, expected: str) -> None:
    # 0 customers for real spend would be damning, but only from 30 leads on.
    decision = decide(Outcomes(leads, 0, 3000.0), Outcomes(1000, 400, 10_000.0))
    assert decision.recommendation == expected
    if expected == "insufficient_data":
        assert f"only {leads} leads" in decision.reason


def test_pause_borderline_on_the_upper_bound() -> None:
    high = wilson_interval(0, 30)[1]  # type: ignore[index]  # 11.35%
    creative = Outcomes(30, 0, 900.0)
    just_above = Outcomes(10_000, round(10_000 * (high + 0.001)), 100_000.0)
    just_below = Outcomes(10_000, round(10_000 * (high - 0.001)), 100_000.0)
    assert decide(creative, just_above).recommendation == "pause"
    keep = decide(creative, just_below)
    assert keep.recommendation == "keep"
    assert "interval contains the account rate" in keep.reason


def test_scale_borderline_on_the_lower_bound() -> None:
    low = wilson_interval(20, 60)[0]  # type: ignore[index]  # 22.7%
    creative = Outcomes(60, 20, 1200.0)
    below_low = Outcomes(10_000, round(10_000 * (low - 0.001)), 100_000.0)
    above_low = Outcomes(10_000, round(10_000 * (low + 0.001)), 100_000.0)
    scale = decide(creative, below_low)
    assert scale.recommendation == "scale"
    assert "1.5x the account rate" in scale.reason
    assert decide(creative, above_low).recommendation == "keep"


def test_worse_conversion_but_cheaper_customers_is_kept() -> None:
    # 4 of 200 (2%, CI up to 5%) against 10%, but CAC 50 against the account's 100.
    decision = decide(Outcomes(200, 4, 200.0), Outcomes(1000, 100, 10_000.0))
    assert decision.recommendation == "keep"
    assert "its customers cost no more" in decision.reason


def test_worse_conversion_without_spend_is_kept() -> None:
    decision = decide(Outcomes(200, 0, 0.0), Outcomes(1000, 100, 10_000.0))
    assert decision.recommendation == "keep"
    assert "no spend recorded" in decision.reason


def test_custom_thresholds() -> None:
    creative = Outcomes(60, 20, 1200.0)
    assert decide(creative, ACCOUNT, DecisionRule(min_leads=61)).recommendation == "insufficient_data"
    # A 99.9% interval is wider: 20 of 60 still clears 9.8%.
    assert decide(creative, ACCOUNT, DecisionRule(confidence=0.999)).recommendation == "scale"
    with pytest.raises(ValueError, match="min_leads"):
        DecisionRule(min_leads=0)


def test_percentile_ranks() -> None:
    assert percentile_ranks([0.1, None, 0.4, 0.2, 0.3]) == [0.25, None, 1.0, 0.5, 0.75]
    assert percentile_ranks([None]) == [None]


def test_accounts_are_per_organization_and_source() -> None:
    org = uuid.uuid4()
    rows = [
        CreativeRow(org, "meta", "C", "good", 60, 30, 600.0, 0.2),
        CreativeRow(org, "meta", "C", None, 40, 0, 400.0, None),  # campaign-level: baseline only
        CreativeRow(org, "google", "G", "g1", 100, 50, 100.0, None),
    ]
    baselines = account_baselines(rows)
    assert baselines[(org, "meta")] == Outcomes(100, 30, 1000.0)
    assert baselines[(org, "google")] == Outcomes(100, 50, 100.0)
    decisions = {d.creative.ad_id: d.decision for d in decide_all(rows, DecisionRule())}
    assert set(decisions) == {"good", "g1"}
    assert decisions["good"].recommendation == "scale"  # 50% (37.7-62.3%) against the meta account's 30%
    assert decisions["g1"].recommendation == "keep"  # it *is* the google account
    assert math.isclose(decisions["good"].evidence["account"]["lead_to_customer_rate"], 0.3)
