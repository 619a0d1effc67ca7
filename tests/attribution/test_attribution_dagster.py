"""The attribution assets and checks run by Dagster against real BI databases."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import cast

import psycopg
from dagster import AssetCheckResult, AssetChecksDefinition, AssetKey, materialize

from hyperdash_pipeline.definitions import defs
from hyperdash_pipeline.defs.attribution.assets import attribution_credits, lead_attribution, markov_attribution
from hyperdash_pipeline.defs.attribution.checks import (
    attribution_credits_keep_every_touch,
    attribution_credits_sum_to_one,
    lead_attribution_one_row_per_live_lead,
    markov_conversions_sum_to_customers,
)
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import BI_URL_VAR, CRM_URL_VAR, DAGSTER_URL_VAR
from tests.support.attribution_support import NOW, fetch_all, lead, touch, upsert_deal, upsert_leads

ASSETS = [lead_attribution, attribution_credits, markov_attribution]
CHECKS = [
    lead_attribution_one_row_per_live_lead,
    attribution_credits_sum_to_one,
    attribution_credits_keep_every_touch,
    markov_conversions_sum_to_customers,
]


def _seed(conn: psycopg.Connection) -> list[dict]:
    leads = [
        lead(
            utm_source="facebook" if i % 2 else "google",
            campaign_id=f"c{i % 3}",
            touchpoints=[touch(NOW - timedelta(days=i % 4 + 1), "meta", campaign_id=f"c{i % 3}"), {"channel": "x"}],
        )
        for i in range(12)
    ]
    upsert_leads(conn, leads)
    for row in leads[:5]:
        upsert_deal(conn, row["id"], "won", 200)
    return leads


def _evaluate(check: AssetChecksDefinition, bi: PostgresResource) -> AssetCheckResult:
    """Invoke a check directly; Dagster types that call as returning `object`, ours return a result."""
    return cast(AssetCheckResult, check(bi=bi))


def test_materialize_assets_and_checks(databases) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        _seed(conn)
    result = materialize(
        [*ASSETS, *CHECKS],
        resources={"bi": databases.bi},
        run_config={"ops": {"analytics__attribution_credits": {"config": {"models": ["linear", "time_decay"]}}}},
    )
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        "lead_attribution_one_row_per_live_lead": True,
        "attribution_credits_sum_to_one": True,
        "attribution_credits_keep_every_touch": True,
        "markov_conversions_sum_to_customers": True,
    }
    materializations = [e.materialization for e in result.get_asset_materialization_events()]
    metadata = {m.asset_key: m.metadata for m in materializations}
    assert metadata[AssetKey("lead_attribution")]["dagster/row_count"].value == 12
    assert metadata[AssetKey("lead_attribution")]["quarantined"].value == 12  # the touch without timestamp
    assert metadata[AssetKey(["analytics", "attribution_credits"])]["dagster/row_count"].value == 24
    assert metadata[AssetKey(["analytics", "markov_attribution"])]["customers"].value == 5
    with psycopg.connect(databases.bi_url) as conn:
        models = fetch_all(conn, "SELECT DISTINCT model FROM analytics.attribution_credits ORDER BY 1")
    assert [m["model"] for m in models] == ["linear", "time_decay"]


def test_checks_catch_broken_tables(databases) -> None:
    with psycopg.connect(databases.bi_url) as conn:
        leads = _seed(conn)
    assert materialize(ASSETS, resources={"bi": databases.bi}).success
    with psycopg.connect(databases.bi_url) as conn:
        # The linear credits (stored a column per model) of every lead now sum to more than 1.
        conn.execute("UPDATE analytics.attribution_touch_credits SET linear = 0.5")
        conn.execute(
            "UPDATE crm_raw.leads SET deleted_at = now(), _synced_at = now() - interval '1 day' WHERE id = %s",
            (leads[0]["id"],),
        )
        conn.execute("UPDATE analytics.markov_attribution SET attributed_conversions = attributed_conversions + 1")
        # A credited touch disappears (as when a label used to be quarantined): touches out < touches in.
        conn.execute("DELETE FROM analytics.attribution_touch_credits WHERE lead_id = %s", (leads[1]["id"],))
    assert not _evaluate(lead_attribution_one_row_per_live_lead, databases.bi).passed
    credits = _evaluate(attribution_credits_sum_to_one, databases.bi)
    assert not credits.passed and credits.metadata["bad_sums"].value == 11
    assert not _evaluate(markov_conversions_sum_to_customers, databases.bi).passed
    touches = _evaluate(attribution_credits_keep_every_touch, databases.bi)
    assert not touches.passed
    assert (touches.metadata["touches_in"].value, touches.metadata["touches_out"].value) == (12, 11)
    assert touches.metadata["quarantined_touches"].value == 12


def test_invalid_models_config_is_refused(databases) -> None:
    result = materialize(
        ASSETS[:2],
        resources={"bi": databases.bi},
        run_config={"ops": {"analytics__attribution_credits": {"config": {"models": ["shapley"]}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "models must be a non-empty subset of first_touch" in str(failure.step_failure_data.error)


def test_definitions_load_with_attribution_assets() -> None:
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"lead_attribution", "analytics/attribution_credits", "analytics/markov_attribution"} <= keys
    job = defs.resolve_implicit_global_asset_job_def()
    assert job is not None


def test_cli_attribute_refreshes_the_tables(databases, monkeypatch, capsys) -> None:
    from hyperdash_pipeline.cli import main
    from hyperdash_pipeline.settings import DAGSTER_URL_VAR

    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)  # all three set: no embedded server is started
    with psycopg.connect(databases.bi_url) as conn:
        _seed(conn)
    assert main(["attribute", "--models", "linear", "position_based"]) == 0
    assert main(["attribute"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "lead_attribution: 12 recomputed, 0 removed, 12 quarantined, 12 rows (full=True)"
    assert out[1] == "attribution_credits: first run, 12 leads, 24 rows"
    assert out[2] == "markov_attribution: 4 rows, 5 customers"  # channel paid_social (meta); campaigns c0, c1, c2
    assert out[3] == "lead_attribution: 0 recomputed, 0 removed, 0 quarantined, 12 rows (full=False)"
    assert out[4] == "attribution_credits: configuration or channel map changed, 12 leads, 60 rows"


def test_cli_attribute_json_for_scripts(databases, monkeypatch, capsys) -> None:
    import json

    from hyperdash_pipeline.cli import main
    from hyperdash_pipeline.settings import DAGSTER_URL_VAR

    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)
    with psycopg.connect(databases.bi_url) as conn:
        _seed(conn)
    assert main(["attribute", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["lead_attribution"]["rows"] == 12
    assert summary["attribution_credits"]["rows"] > 0
    assert "attribute: 3/3 (100.0%)" in captured.err  # progress by step, on stderr


def test_cli_attribute_in_its_own_process_never_loads_dagster(databases) -> None:
    """`hyperdash attribute` is plain Python on one BI connection: importing Dagster (0.5-1 s) is no part of it."""
    with psycopg.connect(databases.bi_url) as conn:
        _seed(conn)
    probe = (
        "import sys\n"
        "from hyperdash_pipeline.cli import main\n"
        "code = main(['attribute'])\n"
        "print('dagster loaded' if 'dagster' in sys.modules else 'dagster not loaded')\n"
        "sys.exit(code)\n"
    )
    urls = {CRM_URL_VAR: databases.crm_url, BI_URL_VAR: databases.bi_url, DAGSTER_URL_VAR: databases.bi_url}

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ, **urls}, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert "12 recomputed" in done.stdout and "dagster not loaded" in done.stdout
