"""Meta and Google assets: partitions, restatement, skipped credentials, failures, backfill ranges, schedule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from dagster import AssetsDefinition, RunRequest, build_schedule_context, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hyperdash_pipeline.conventions import GOOGLE_METRICS_KEY, META_METRICS_KEY
from hyperdash_pipeline.defs.ad_platforms.assets import (
    ad_platforms_restatement_schedule,
    build_google_asset,
    build_meta_asset,
)
from hyperdash_pipeline.ingestion.google import GoogleAdsResource
from hyperdash_pipeline.ingestion.meta import MetaAdsResource
from tests.support.ad_platform_server import Answer, ReplayServer, google_row, meta_page, meta_row

# Without the step retry policy (minutes between attempts); the client's own retries stay on.
meta_campaign_metrics = build_meta_asset(retry_policy=None)
google_campaign_metrics = build_google_asset(retry_policy=None)
META_PATH = "/v25.0/act_111/insights"
TOKEN = "TEST-META-TOKEN"


def _org(bi: Any, slug: str, currency: str = "BRL") -> str:
    with bi.connection() as conn:
        row = conn.execute(
            "INSERT INTO organizations (name, slug, reporting_currency) VALUES (%s, %s, %s) RETURNING id",
            (slug.title(), slug, currency),
        ).fetchone()
    return str(row[0])


def _integration(bi: Any, org: str, provider: str, account: str, env_var: str | None = None) -> str:
    with bi.connection() as conn:
        row = conn.execute(
            "INSERT INTO integrations (organization_id, provider, account_id, credentials_env_var)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (org, provider, account, env_var),
        ).fetchone()
    return str(row[0])


def _metrics(bi: Any, source: str = "meta") -> list[tuple]:
    with bi.connection() as conn:
        return conn.execute(
            "SELECT ad_id, date::text, spend, conversions, account_id, loaded_via FROM campaign_metrics"
            " WHERE source = %s ORDER BY date, ad_id",
            (source,),
        ).fetchall()


def _integration_state(bi: Any, integration_id: str) -> tuple:
    with bi.connection() as conn:
        return conn.execute(
            "SELECT status, last_error, last_synced_at IS NOT NULL FROM integrations WHERE id = %s", (integration_id,)
        ).fetchone()


def _run(asset: AssetsDefinition, resources: dict[str, Any], partition: str | None = None, **kwargs: Any) -> Any:
    return materialize([asset], partition_key=partition, resources=resources, raise_on_error=False, **kwargs)


def _meta_resources(databases: Any, server: ReplayServer, **kwargs: Any) -> dict[str, Any]:
    meta = MetaAdsResource(api_base_url=server.base_url, backoff_seconds=0.01, max_attempts=2, **kwargs)
    return {"bi": databases.bi, "meta_ads": meta}


def _metadata(result: Any, key: Any = META_METRICS_KEY) -> dict[str, Any]:
    mat = _materializations(result, key)[0]
    return {k: v.value for k, v in mat.metadata.items()}


def _materializations(result: Any, key: Any = META_METRICS_KEY) -> list[Any]:
    return result.asset_materializations_for_node(key.to_python_identifier())


def _data_version(result: Any) -> str:
    return _materializations(result)[0].tags["dagster/data_version"]


def test_a_partition_loads_one_row_per_ad_per_day(databases: Any) -> None:
    org = _org(databases.bi, "acme")
    integration = _integration(databases.bi, org, "meta", "act_111")
    with ReplayServer() as server:
        rows = [meta_row("a1", "2024-03-01"), meta_row("a2", "2024-03-01", spend="7.00")]
        server.add(META_PATH, Answer(200, meta_page(rows, None, META_PATH)))
        result = _run(meta_campaign_metrics, _meta_resources(databases, server, access_token=TOKEN), "2024-03-01")
        sent = server.requests_to(META_PATH)[0].query

    assert result.success
    assert json.loads(sent["time_range"][0]) == {"since": "2024-03-01", "until": "2024-03-01"}
    assert _metrics(databases.bi) == [
        ("a1", "2024-03-01", Decimal("12.34"), Decimal("4.00"), "111", "api"),
        ("a2", "2024-03-01", Decimal("7.00"), Decimal("4.00"), "111", "api"),
    ]
    assert _integration_state(databases.bi, integration) == ("ok", None, True)
    metadata = _metadata(result)
    assert metadata["dagster/row_count"] == 2 and metadata["rows_loaded"] == 2
    assert metadata["changed_dates"] == ["2024-03-01"]


def test_restating_a_day_replaces_it_without_duplicates_or_stale_rows(databases: Any) -> None:
    org = _org(databases.bi, "acme")
    _integration(databases.bi, org, "meta", "111")
    first = [meta_row("a1", "2024-03-01"), meta_row("a2", "2024-03-01")]
    restated = [meta_row("a1", "2024-03-01", spend="15.00"), meta_row("a3", "2024-03-01", spend="3.00")]
    with ReplayServer() as server:
        resources = _meta_resources(databases, server, access_token=TOKEN)
        server.add(META_PATH, Answer(200, meta_page(first, None, META_PATH)))
        server.add(META_PATH, Answer(200, meta_page([meta_row("a1", "2024-03-02")], None, META_PATH)))
        server.add(META_PATH, Answer(200, meta_page(restated, None, META_PATH)))
        server.add(META_PATH, Answer(200, meta_page(restated, None, META_PATH)))
        assert _run(meta_campaign_metrics, resources, "2024-03-01").success
        assert _run(meta_campaign_metrics, resources, "2024-03-02").success
        second = _run(meta_campaign_metrics, resources, "2024-03-01")
        third = _run(meta_campaign_metrics, resources, "2024-03-01")

    assert [(ad, day, spend) for ad, day, spend, *_ in _metrics(databases.bi)] == [
        ("a1", "2024-03-01", Decimal("15.00")),
        ("a3", "2024-03-01", Decimal("3.00")),
        ("a1", "2024-03-02", Decimal("12.34")),  # the other partition is untouched
    ]
    assert _metadata(second)["changed_dates"] == ["2024-03-01"]
    assert _metadata(third)["changed_dates"] == []  # same answer again: nothing changed...
    assert _data_version(third) == _data_version(second)  # ...so the partition keeps its data version


def test_organization_without_credentials_is_skipped_and_its_rows_kept(
    databases: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme, globex = _org(databases.bi, "acme"), _org(databases.bi, "globex")
    unconfigured = _integration(databases.bi, acme, "meta", "999", env_var="META_TOKEN_ACME")
    configured = _integration(databases.bi, globex, "meta", "111", env_var="META_TOKEN_GLOBEX")
    monkeypatch.delenv("META_TOKEN_ACME", raising=False)
    monkeypatch.setenv("META_TOKEN_GLOBEX", TOKEN)
    with databases.bi.connection() as conn:  # e.g. loaded earlier from a CSV export
        conn.execute(
            "INSERT INTO campaign_metrics (organization_id, source, account_id, campaign_id, ad_id, date, currency,"
            " spend) VALUES (%s, 'meta', '999', 'c9', 'seeded', '2024-03-01', 'BRL', 50)",
            (acme,),
        )
    with ReplayServer() as server:
        server.add(META_PATH, Answer(200, meta_page([meta_row("a1", "2024-03-01")], None, META_PATH)))
        result = _run(meta_campaign_metrics, _meta_resources(databases, server), "2024-03-01")
        assert server.requests_to(META_PATH)[0].query["access_token"] == [TOKEN]
        assert len(server.requests) == 1  # nothing was asked for the unconfigured account

    assert result.success
    assert [(ad, spend) for ad, _, spend, *_ in _metrics(databases.bi)] == [("a1", Decimal("12.34")), ("seeded", 50)]
    assert _integration_state(databases.bi, unconfigured) == (
        "unconfigured",
        "no credentials: environment variable META_TOKEN_ACME is not set",
        False,
    )
    assert _integration_state(databases.bi, configured)[0] == "ok"
    assert _metadata(result)["integrations_skipped"] == [
        {"integration": "acme/999", "reason": "no credentials: environment variable META_TOKEN_ACME is not set"}
    ]


def test_no_token_at_all_still_materializes(databases: Any) -> None:
    org = _org(databases.bi, "acme")
    integration = _integration(databases.bi, org, "meta", "111")
    with ReplayServer() as server:
        result = _run(meta_campaign_metrics, _meta_resources(databases, server), "2024-03-01")
    assert result.success and _metadata(result)["integrations_synced"] == 0
    assert (
        _integration_state(databases.bi, integration)[1]
        == "no credentials: environment variable META_ACCESS_TOKEN is not set"
    )


def test_a_failing_account_fails_the_run_after_loading_the_others(databases: Any) -> None:
    acme, globex = _org(databases.bi, "acme"), _org(databases.bi, "globex")
    _integration(databases.bi, acme, "meta", "111")
    broken = _integration(databases.bi, globex, "meta", "222")
    with ReplayServer() as server:
        server.add(META_PATH, Answer(200, meta_page([meta_row("a1", "2024-03-01")], None, META_PATH)))
        down = {"error": {"message": "An unexpected error has occurred.", "code": 1, "is_transient": True}}
        server.add("/v25.0/act_222/insights", Answer(500, down), Answer(500, down))
        result = _run(meta_campaign_metrics, _meta_resources(databases, server, access_token=TOKEN), "2024-03-01")

    assert not result.success
    assert [ad for ad, *_ in _metrics(databases.bi)] == ["a1"]
    status, error, synced = _integration_state(databases.bi, broken)
    assert status == "error" and "HTTP 500" in error and "gave up after 2 attempts" in error and not synced
    assert TOKEN not in error


def test_bad_rows_are_quarantined_and_the_partition_still_loads(databases: Any) -> None:
    org = _org(databases.bi, "acme")
    _integration(databases.bi, org, "meta", "111")
    rows = [meta_row("a1", "2024-03-01"), meta_row("a2", "2024-03-01", impressions="lots")]
    with ReplayServer() as server:
        server.add(META_PATH, Answer(200, meta_page(rows, None, META_PATH)))
        result = _run(meta_campaign_metrics, _meta_resources(databases, server, access_token=TOKEN), "2024-03-01")
    with databases.bi.connection() as conn:
        quarantined = conn.execute("SELECT stage, source_ref, reason FROM quarantine").fetchall()
    assert result.success and [ad for ad, *_ in _metrics(databases.bi)] == ["a1"]
    assert quarantined == [
        ("meta_campaign_metrics", "meta act_111 insights page 1 row 2", "impressions is not a number: 'lots'")
    ]
    assert _metadata(result)["rows_quarantined"] == 1


def test_a_backfill_range_is_one_run_and_one_pull(databases: Any) -> None:
    org = _org(databases.bi, "acme")
    _integration(databases.bi, org, "meta", "111")
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    with ReplayServer() as server:
        server.add(META_PATH, Answer(200, meta_page([meta_row("a1", d) for d in days], None, META_PATH)))
        result = _run(
            meta_campaign_metrics,
            _meta_resources(databases, server, access_token=TOKEN),
            tags={ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]},
        )
        calls = server.requests_to(META_PATH)
    assert result.success and len(calls) == 1
    assert json.loads(calls[0].query["time_range"][0]) == {"since": "2024-03-01", "until": "2024-03-03"}
    assert sorted(m.partition for m in _materializations(result)) == days
    assert [day for _, day, *_ in _metrics(databases.bi)] == days


def test_google_partition_loads_cost_in_currency_units(databases: Any) -> None:
    org = _org(databases.bi, "acme", currency="USD")
    integration = _integration(databases.bi, org, "google", "123-456-7890")
    path = "/v22/customers/1234567890/googleAds:search"
    with ReplayServer() as server:
        server.add(path, Answer(200, {"results": [google_row("901", "2024-03-01"), google_row("902", "2024-03-01")]}))
        google = GoogleAdsResource(
            api_base_url=server.base_url, developer_token="DEV", refresh_token="ACCESS", backoff_seconds=0.01
        )
        result = _run(google_campaign_metrics, {"bi": databases.bi, "google_ads": google}, "2024-03-01")
        server.add(path, Answer(200, {"results": [google_row("902", "2024-03-01", cost_micros="6000000")]}))
        restated = _run(google_campaign_metrics, {"bi": databases.bi, "google_ads": google}, "2024-03-01")
    assert result.success and restated.success
    assert _metadata(result, GOOGLE_METRICS_KEY)["dagster/row_count"] == 2
    # the restated day replaced the account's rows although the integration spells the id with dashes
    assert _metrics(databases.bi, "google") == [
        ("902", "2024-03-01", Decimal("6.00"), Decimal("2.00"), "1234567890", "api"),
    ]
    assert _integration_state(databases.bi, integration)[0] == "ok"


def test_google_without_developer_token_is_skipped(databases: Any) -> None:
    org = _org(databases.bi, "acme")
    integration = _integration(databases.bi, org, "google", "1234567890")
    result = _run(google_campaign_metrics, {"bi": databases.bi, "google_ads": GoogleAdsResource()}, "2024-03-01")
    assert result.success
    assert _integration_state(databases.bi, integration)[:2] == (
        "unconfigured",
        "no credentials: environment variable GOOGLE_ADS_DEVELOPER_TOKEN is not set",
    )


def test_restatement_schedule_requests_the_trailing_28_days() -> None:
    context = build_schedule_context(scheduled_execution_time=datetime(2024, 6, 10, 6, tzinfo=UTC))
    # Dagster types calling a schedule as any schedule result; this schedule function returns a list.
    requests = cast(list[RunRequest], ad_platforms_restatement_schedule(context))
    keys = [r.partition_key for r in requests]
    assert len(keys) == 28 and keys[0] == "2024-05-13" and keys[-1] == "2024-06-09"
    assert len({r.run_key for r in requests}) == 28
    assert date.fromisoformat(keys[-1]) < date(2024, 6, 10)  # today is not final yet


def test_rows_outside_the_requested_days_and_disabled_integrations(databases: Any) -> None:
    org = _org(databases.bi, "acme")
    _integration(databases.bi, org, "meta", "111")
    disabled = _integration(databases.bi, org, "meta", "222")
    with databases.bi.connection() as conn:
        conn.execute("UPDATE integrations SET status = 'disabled' WHERE id = %s", (disabled,))
    rows = [meta_row("a1", "2024-03-01"), meta_row("a2", "2024-02-28")]
    with ReplayServer() as server:
        server.add(META_PATH, Answer(200, meta_page(rows, None, META_PATH)))
        result = _run(meta_campaign_metrics, _meta_resources(databases, server, access_token=TOKEN), "2024-03-01")
        assert not server.requests_to("/v25.0/act_222/insights")
    with databases.bi.connection() as conn:
        reasons = [r for (r,) in conn.execute("SELECT reason FROM quarantine").fetchall()]
    assert result.success and [ad for ad, *_ in _metrics(databases.bi)] == ["a1"]
    assert reasons == ["day 2024-02-28 is outside the requested 2024-03-01..2024-03-01"]
    assert _integration_state(databases.bi, disabled)[0] == "disabled"
