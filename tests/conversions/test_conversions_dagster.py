"""The conversions loop inside Dagster: the send_conversions job's two assets and the sensor that
launches it once per state, so a destination without a token leaves its events pending without looping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster import RunRequest, SensorResult, build_sensor_context, materialize

from hyperdash_pipeline.conversions.sender import ConversionsResource
from hyperdash_pipeline.definitions import defs
from hyperdash_pipeline.defs.conversions.assets import conversions_delivery, conversions_outbox, send_conversions_sensor
from hyperdash_pipeline.report.build import write_report
from hyperdash_pipeline.report.data import ReportParams
from tests.support.conversions_data import add_lead, add_organization, meta_destination
from tests.support.conversions_server import PlatformServer
from tests.support.postgres import Databases


@pytest.fixture
def bi(databases: Databases) -> Iterator[psycopg.Connection]:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        yield conn


def _run(databases: Databases, settings: ConversionsResource) -> dict[str, object]:
    result = materialize(
        [conversions_outbox, conversions_delivery], resources={"bi": databases.bi, "conversions": settings}
    )
    assert result.success
    [delivery] = [m for m in result.get_asset_materialization_events() if m.asset_key == conversions_delivery.key]
    materialization = delivery.materialization
    return {key: value.value for key, value in materialization.metadata.items()}


def _tick(databases: Databases, cursor: str | None) -> tuple[list[RunRequest], str | None]:
    context = build_sensor_context(cursor=cursor, resources={"bi": databases.bi})
    outcome = send_conversions_sensor(context)
    if isinstance(outcome, SensorResult):
        return list(outcome.run_requests or []), outcome.cursor
    return [], cursor


def test_the_job_and_sensor_are_defined_and_the_sensor_runs_by_default() -> None:
    job = defs.resolve_job_def("send_conversions")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} >= {
        "conversions/conversions_outbox",
        "conversions/conversions_delivery",
    }
    sensor = defs.resolve_sensor_def("send_conversions_sensor")
    assert sensor.default_status.value == "RUNNING"


def test_sensor_launches_once_per_state_and_an_unconfigured_destination_does_not_loop(
    databases: Databases, bi: psycopg.Connection
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    add_lead(bi, org, fbclid="IwAR-1")
    requests, cursor = _tick(databases, None)
    assert len(requests) == 1  # the mirror holds rows the outbox has not read
    assert _tick(databases, cursor)[0] == []  # same state: no second launch

    unconfigured = ConversionsResource()  # no token anywhere
    metadata = _run(databases, unconfigured)
    assert metadata["meta_sent"] == 0
    assert bi.execute("SELECT conversions_status FROM integrations").fetchone() == ("unconfigured",)
    requests, cursor = _tick(databases, cursor)
    assert len(requests) == 1  # the outbox gained pending events: one more look
    _run(databases, unconfigured)
    assert _tick(databases, cursor)[0] == []  # nothing changed: the sensor stays quiet
    assert bi.execute("SELECT status, attempts FROM conversions_outbox").fetchall() == [("pending", 0)]


def test_the_job_sends_pending_events_once_configured(databases: Databases, bi: psycopg.Connection) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    add_lead(bi, org, fbclid="IwAR-1", status="qualified")
    with PlatformServer() as server:
        configured = ConversionsResource(meta_graph_url=server.base_url, meta_access_token="T", backoff_seconds=0.01)
        metadata = _run(databases, configured)
        assert metadata["meta_sent"] == 2 and len(server.requests) == 1
        again = _run(databases, configured)
        assert again["meta_sent"] == 0 and len(server.requests) == 1  # nothing is sent twice
    assert bi.execute("SELECT conversions_status FROM integrations").fetchone() == ("ok",)


def test_the_report_shows_conversions_per_platform(
    databases: Databases, bi: psycopg.Connection, tmp_path: Path
) -> None:
    org = add_organization(bi)
    bi.execute(
        "INSERT INTO conversions_outbox (event_id, platform, organization_id, lead_id, event_kind, event_time, "
        "status, updated_at) SELECT gen_random_uuid(), platform, %s, gen_random_uuid(), 'lead', now(), status, "
        "now() - age FROM (VALUES ('meta', 'sent', interval '1 hour'), ('meta', 'sent', interval '9 days'), "
        "('meta', 'rejected', interval '1 day'), ('google', 'expired', interval '2 days')) AS v(platform, status, age)",
        (org,),
    )
    result = write_report(databases.bi, ReportParams(), tmp_path)
    html = result.path.read_text()
    section = html[html.index('<section id="conversions"') :]
    cells = re.findall(r"<tr>(.*?)</tr>", section[: section.index("</section>")])
    rows = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", cell) for cell in cells]
    assert rows == [
        ["platform", "sent", "rejected", "expired", "skipped (consent)", "pending now"],
        ["google", "0", "0", "1", "0", "0"],
        ["meta", "1", "1", "0", "0", "0"],
    ]
