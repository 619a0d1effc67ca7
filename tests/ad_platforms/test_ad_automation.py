"""Downstream analytics refresh when restated ad metrics changed, not after every restatement run."""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance, Definitions, asset, evaluate_automation_conditions, materialize

from hyperdash_pipeline.automation.conditions import eager_despite_unmaterialized_days, refresh_when_ad_metrics_change
from hyperdash_pipeline.conventions import GOOGLE_METRICS_KEY, META_METRICS_KEY
from hyperdash_pipeline.defs.ad_platforms.assets import DAILY_PARTITIONS, build_meta_asset
from hyperdash_pipeline.ingestion.meta import MetaAdsResource
from tests.support.ad_platform_server import Answer, ReplayServer, meta_page, meta_row

META_PATH = "/v25.0/act_111/insights"
DAY = DAILY_PARTITIONS.get_last_partition_key()  # yesterday: restatement runs touch recent days


@asset(deps=[META_METRICS_KEY], automation_condition=refresh_when_ad_metrics_change())
def campaign_rollup() -> None:
    """Stands in for an analytics asset of another branch."""


@asset(deps=[META_METRICS_KEY], automation_condition=eager_despite_unmaterialized_days())
def eager_rollup() -> None:
    """eager() that reacts to every upstream materialization, for comparison."""


def test_unchanged_restatement_triggers_nothing_changed_one_triggers_refresh(databases: Any) -> None:
    with databases.bi.connection() as conn:
        org = conn.execute("INSERT INTO organizations (name, slug) VALUES ('A', 'a') RETURNING id").fetchone()[0]
        conn.execute(
            "INSERT INTO integrations (organization_id, provider, account_id) VALUES (%s, 'meta', '111')", (org,)
        )
    metrics = build_meta_asset(retry_policy=None)
    assets = [metrics, campaign_rollup, eager_rollup]
    instance = DagsterInstance.ephemeral()
    assert DAY is not None
    same = meta_page([meta_row("a1", DAY)], None, META_PATH)
    changed = meta_page([meta_row("a1", DAY, spend="99.00")], None, META_PATH)

    def restate(server: ReplayServer) -> None:
        resources = {
            "bi": databases.bi,
            "meta_ads": MetaAdsResource(api_base_url=server.base_url, access_token="T", backoff_seconds=0.01),
        }
        assert materialize([metrics], partition_key=DAY, resources=resources, instance=instance).success

    defs = Definitions(assets=assets, resources={"bi": databases.bi, "meta_ads": MetaAdsResource()})

    def requested(cursor: Any) -> tuple[set[str], Any]:
        """One automation tick; what it requests is run at once, as the daemon would."""
        result = evaluate_automation_conditions(defs, instance=instance, cursor=cursor)
        chosen = [a for a in (campaign_rollup, eager_rollup) if result.get_requested_partitions(a.key)]
        cursor = result.cursor
        if chosen:
            materialize(chosen, instance=instance, selection=chosen)
            settled = evaluate_automation_conditions(defs, instance=instance, cursor=cursor)
            assert settled.total_requested == 0  # the runs satisfied the request
            cursor = settled.cursor
        return {a.key.path[-1] for a in chosen}, cursor

    with ReplayServer() as server:
        server.add(META_PATH, Answer(200, same), Answer(200, same), Answer(200, changed))
        restate(server)
        _, cursor = requested(None)  # the first tick only records where things stand
        materialize([campaign_rollup, eager_rollup], instance=instance)  # built once by hand
        _, cursor = requested(cursor)

        restate(server)  # the platform restated the day with the same numbers
        after_same, cursor = requested(cursor)
        restate(server)  # now the numbers changed
        after_change, cursor = requested(cursor)

    assert after_same == {"eager_rollup"}
    assert after_change == {"campaign_rollup", "eager_rollup"}


def test_project_definitions_carry_the_ad_platform_assets_job_and_schedule() -> None:
    import hyperdash_pipeline.definitions as module
    from hyperdash_pipeline.definitions import defs

    # `dagster`/`dg` refuse a module with two Definitions at module scope: import the package, not its defs.
    assert [name for name, value in vars(module).items() if isinstance(value, Definitions)] == ["defs"]
    Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {META_METRICS_KEY, GOOGLE_METRICS_KEY} <= set(repo.asset_graph.get_all_asset_keys())
    assert repo.get_job("ad_platforms_daily_job").partitions_def == DAILY_PARTITIONS
    assert repo.get_schedule_def("ad_platforms_restatement_schedule").job_name == "ad_platforms_daily_job"


def test_the_daily_job_runs_from_the_project_definitions_without_credentials(databases: Any) -> None:
    from hyperdash_pipeline.definitions import defs

    with databases.bi.connection() as conn:
        org = conn.execute("INSERT INTO organizations (name, slug) VALUES ('A', 'a') RETURNING id").fetchone()[0]
        conn.execute(
            "INSERT INTO integrations (organization_id, provider, account_id) VALUES (%s, 'meta', '1')", (org,)
        )
    result = defs.resolve_job_def("ad_platforms_daily_job").execute_in_process(
        partition_key="2024-03-01", instance=DagsterInstance.ephemeral()
    )
    assert result.success
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("meta_campaign_metrics", "fx_rates_available")] is True
    with databases.bi.connection() as conn:
        (status,) = conn.execute("SELECT status FROM integrations").fetchone()
    assert status == "unconfigured"
