"""`hyperdash send-conversions` as a person runs it: the dry run shows exactly what would leave and sends
nothing; a sender killed between the platform's answer and its status write loses nothing and sends
nothing under a different id when run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.conversions import normalize
from tests.support.conversions_data import (
    add_lead,
    add_organization,
    add_won_deal,
    google_destination,
    meta_destination,
)
from tests.support.conversions_server import PlatformServer
from tests.support.postgres import Databases

HYPERDASH = [sys.executable, "-m", "hyperdash_pipeline.cli"]


@pytest.fixture
def server() -> Iterator[PlatformServer]:
    with PlatformServer() as running:
        yield running


@pytest.fixture
def bi(databases: Databases) -> Iterator[psycopg.Connection]:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        yield conn


def _platform_env(server: PlatformServer) -> dict[str, str]:
    return {
        "META_GRAPH_URL": server.base_url,
        "META_ACCESS_TOKEN": "SECRET-META-TOKEN",
        "GOOGLE_ADS_API_URL": server.base_url,
        "GOOGLE_ADS_DEVELOPER_TOKEN": "SECRET-DEV-TOKEN",
        "GOOGLE_ADS_REFRESH_TOKEN": "SECRET-ACCESS-TOKEN",
    }


def test_dry_run_prints_each_request_as_json_and_sends_nothing(
    databases: Databases,
    bi: psycopg.Connection,
    server: PlatformServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in _platform_env(server).items():
        monkeypatch.setenv(name, value)
    org = add_organization(bi)
    meta_destination(bi, org)
    google_destination(bi, org)
    lead = add_lead(bi, org, email="Jane.Doe@gmail.com", fbclid="IwAR-1", gclid="Cj0-1", status="won")
    add_won_deal(bi, org, lead)
    assert main(["send-conversions", "--dry-run", "--json"]) == 0
    out = capsys.readouterr().out
    documents = [json.loads(line) for line in out.splitlines()]
    assert [(d["platform"], d["method"]) for d in documents] == [("meta", "POST"), ("google", "POST")]
    meta, google = documents
    assert meta["url"] == f"{server.base_url}/v25.0/123456789/events"
    assert {e["event_id"] for e in meta["body"]["data"]} == {
        str(normalize.event_id(kind, lead)) for kind in ("lead", "qualified")
    } | {str(i) for (i,) in bi.execute("SELECT event_id FROM conversions_outbox WHERE event_kind = 'purchase'")}
    assert meta["body"]["data"][0]["user_data"]["em"] == [normalize.sha256_hex("jane.doe@gmail.com")]
    assert google["body"]["conversions"][0]["userIdentifiers"][0] == {
        "hashedEmail": normalize.sha256_hex("janedoe@gmail.com")
    }
    assert server.requests == []
    assert "SECRET" not in out and "Jane" not in out and "@gmail" not in out
    pending = bi.execute("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM conversions_outbox")
    assert pending.fetchone() == (6, 6)
    assert main(["send-conversions", "--dry-run"]) == 0  # the readable form: a header, then the body
    readable = capsys.readouterr().out
    assert "# meta acme/act_1001: POST" in readable and "nothing was sent" in readable


@pytest.mark.slow
def test_a_sender_killed_before_its_status_write_loses_nothing_and_resends_the_same_ids(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    for n in range(5):
        add_lead(bi, org, fbclid=f"IwAR-{n}")
    env = os.environ | _platform_env(server) | {"BI_DATABASE_URL": databases.bi_url}
    server.hold_seconds = 30  # the platform has the events; the sender waits for its answer
    sender = subprocess.Popen(
        [*HYPERDASH, "send-conversions", "--platform", "meta"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not server.requests and time.monotonic() < deadline and sender.poll() is None:
        time.sleep(0.1)
    assert server.requests, f"the sender never called the platform: {sender.communicate()}"
    os.killpg(sender.pid, signal.SIGKILL)
    sender.wait(timeout=60)
    first = {e["event_id"] for e in server.requests[0].body["data"]}
    after_crash = bi.execute("SELECT status, attempts, count(*) FROM conversions_outbox GROUP BY 1, 2").fetchall()
    assert after_crash == [("pending", 0, 5)]  # the claim died with its transaction

    server.hold_seconds = 0
    rerun = subprocess.run(
        [*HYPERDASH, "send-conversions", "--platform", "meta", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)[0]["sent"] == 5
    second = {e["event_id"] for e in server.requests[1].body["data"]}
    assert second == first  # same events, same ids: Meta deduplicates the repeat
    assert len(server.requests) == 2
    final = bi.execute("SELECT status, attempts, count(*) FROM conversions_outbox GROUP BY 1, 2").fetchall()
    assert final == [("sent", 1, 5)]
