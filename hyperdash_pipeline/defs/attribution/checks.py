"""Asset checks of the attribution tables (SQL in sql/transforms/attribution/check_*.sql)."""

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from hyperdash_pipeline.conventions import (
    ATTRIBUTION_CREDITS_KEY,
    LEAD_ATTRIBUTION_KEY,
    MARKOV_ATTRIBUTION_KEY,
)
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import read_sql

CREDIT_TOLERANCE = 1e-9


def _one_row(bi: PostgresResource, relative_path: str, params: dict[str, object] | None = None) -> dict[str, object]:
    with bi.connection() as conn, conn.cursor() as cur:
        cur.execute(read_sql(relative_path), params or {})
        row = cur.fetchone()
        assert row is not None and cur.description is not None
        return {col.name: value for col, value in zip(cur.description, row, strict=True)}


@asset_check(
    asset=LEAD_ATTRIBUTION_KEY,
    blocking=True,
    description="Exactly one lead_attribution row per live CRM lead (none missing, none for deleted leads).",
)
def lead_attribution_one_row_per_live_lead(bi: PostgresResource) -> AssetCheckResult:
    found = _one_row(bi, "transforms/attribution/check_lead_attribution.sql")
    passed = found["missing"] == 0 and found["orphans"] == 0
    return AssetCheckResult(passed=passed, metadata={k: int(v) for k, v in found.items()})  # type: ignore[call-overload]


@asset_check(
    asset=ATTRIBUTION_CREDITS_KEY,
    blocking=True,
    description=f"Credits sum to 1 (within {CREDIT_TOLERANCE}) for every lead and model; every lead is credited.",
)
def attribution_credits_sum_to_one(bi: PostgresResource) -> AssetCheckResult:
    found = _one_row(bi, "transforms/attribution/check_credits.sql", {"tolerance": CREDIT_TOLERANCE})
    passed = found["bad_sums"] == 0 and found["uncredited_leads"] == 0
    return AssetCheckResult(passed=passed, metadata={k: int(v) for k, v in found.items()})  # type: ignore[call-overload]


@asset_check(
    asset=ATTRIBUTION_CREDITS_KEY,
    blocking=True,
    description=(
        "Touches in = touches out: every touchpoint lead_attribution accepted inside the lookback window is "
        "credited (a label no alias maps included); quarantined and out-of-window touches are counted beside."
    ),
)
def attribution_credits_keep_every_touch(bi: PostgresResource) -> AssetCheckResult:
    found = _one_row(bi, "transforms/attribution/check_touches.sql")
    passed = found["touches_in"] == found["touches_out"]
    return AssetCheckResult(passed=passed, metadata={k: int(v) for k, v in found.items()})  # type: ignore[call-overload]


@asset_check(
    asset=MARKOV_ATTRIBUTION_KEY,
    description="Markov attributed conversions sum to the customers of each organization and dimension.",
)
def markov_conversions_sum_to_customers(bi: PostgresResource) -> AssetCheckResult:
    found = _one_row(bi, "transforms/attribution/check_markov.sql")
    passed = found["mismatched"] == 0
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={"mismatched": int(found["mismatched"]), "customers": int(found["customers"])},  # type: ignore[call-overload]
    )
