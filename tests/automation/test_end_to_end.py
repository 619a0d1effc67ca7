"""The seed's first data flow, step by step in one process: webhook -> CRM -> sensor -> sync -> BI attribution.

A signed lead is posted to the real webhook app; the real `crm_changes_sensor` ticks and asks for a run;
the `crm_to_bi_sync` job it names runs; the automation conditions, evaluated directly, then ask for the
attribution assets. This pins each link (the sensor's request and its no-duplicate cursor, what the
conditions ask for after a sync); it cannot see whether the daemon runs them. The proof that a lead
reaches the analytics tables by itself is tests/automation/test_automation_daemon.py (the real webserver and daemon).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)
from starlette.testclient import TestClient

from hyperdash_pipeline.conventions import LEAD_ATTRIBUTION_KEY
from hyperdash_pipeline.definitions import build_definitions
from hyperdash_pipeline.defs.crm_sync.mirror import crm_changes_sensor
from hyperdash_pipeline.webhook.app import create_app
from hyperdash_pipeline.webhook.config import WebhookConfig
from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.webhook import create_source, lead


def _post_lead(databases: Any, capsys: Any) -> str:
    org = create_source(capsys, "acme")
    body = json.dumps(lead(org, email="e2e@example.com")).encode()
    with TestClient(create_app(WebhookConfig(crm_url=databases.crm_url))) as client:
        response = client.post(
            "/webhooks/leads", content=body, headers=signed_headers(org.secret, body, content_type="application/json")
        )
    assert response.status_code == 201, response.text
    return str(response.json()["lead_id"])


def _one_row(url: str, query: str, lead_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(url) as conn:
        return conn.execute(query, (lead_id,)).fetchone()


def test_posted_lead_reaches_crm_raw_and_lead_attribution(databases: Any, capsys: Any) -> None:
    defs = build_definitions()
    instance = DagsterInstance.ephemeral()
    # The automation sensor ticks all the time; its first tick only records where things stand.
    cursor = evaluate_automation_conditions(defs, instance=instance).cursor
    lead_id = _post_lead(databases, capsys)

    tick = crm_changes_sensor(
        build_sensor_context(instance=instance, resources={"crm": databases.crm, "bi": databases.bi})
    )
    assert isinstance(tick, SensorResult) and tick.run_requests is not None
    assert len(tick.run_requests) == 1, "a CRM write must make the sensor ask for a sync"
    request = tick.run_requests[0]
    sync = defs.resolve_job_def("crm_to_bi_sync").execute_in_process(instance=instance, tags=request.tags)
    assert sync.success
    assert _one_row(databases.bi_url, "SELECT email FROM crm_raw.leads WHERE id = %s", lead_id) == ("e2e@example.com",)

    again = crm_changes_sensor(
        build_sensor_context(
            instance=instance, cursor=tick.cursor, resources={"crm": databases.crm, "bi": databases.bi}
        )
    )
    assert isinstance(again, SkipReason), "no CRM change since: the next tick must not launch a duplicate sync"

    automation = evaluate_automation_conditions(defs, instance=instance, cursor=cursor)
    assert automation.get_requested_partitions(LEAD_ATTRIBUTION_KEY), "the sync must trigger attribution"
    requested = [
        key for key in defs.resolve_asset_graph().get_all_asset_keys() if automation.get_requested_partitions(key)
    ]
    assets = [a for a in defs.assets or [] if isinstance(a, AssetsDefinition)]
    assert materialize(assets, selection=requested, instance=instance, resources=defs.resources).success

    row = _one_row(
        databases.bi_url, "SELECT source, campaign_id, medium FROM lead_attribution WHERE lead_id = %s", lead_id
    )
    assert row == ("meta", "120200000001", "paid_social")
