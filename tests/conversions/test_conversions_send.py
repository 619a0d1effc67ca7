"""Sending the outbox to a local server that answers like Meta's Conversions API and Google Ads'
uploadClickConversions: every payload field in its documented format, partial failures, whole-batch
rejections, retries, windows, consent, missing tokens, batch limits and concurrent senders."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from hyperdash_pipeline.conversions.outbox import build_outbox
from hyperdash_pipeline.conversions.sender import ConversionsResource, SendReport, send_platform
from tests.support.conversions_data import (
    GOOGLE_ACTIONS,
    NOW,
    add_lead,
    add_organization,
    add_won_deal,
    google_destination,
    meta_destination,
)
from tests.support.conversions_server import PlatformServer, Scripted
from tests.support.postgres import Databases

META_EVENTS = "/v25.0/123456789/events"
GOOGLE_UPLOAD = "/v22/customers/1234567890:uploadClickConversions"
HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def server() -> Iterator[PlatformServer]:
    with PlatformServer() as running:
        yield running


@pytest.fixture
def bi(databases: Databases) -> Iterator[psycopg.Connection]:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        yield conn


def settings(server: PlatformServer, **overrides: Any) -> ConversionsResource:
    values: dict[str, Any] = {
        "meta_graph_url": server.base_url,
        "meta_access_token": "TEST-META-TOKEN",
        "google_ads_url": server.base_url,
        "google_developer_token": "DEV-TOKEN",
        "google_refresh_token": "ACCESS-TOKEN",
        "default_phone_country_code": "1",
        "backoff_seconds": 0.01,
        "max_attempts": 3,
    }
    return ConversionsResource(**(values | overrides))


def build(conn: psycopg.Connection) -> None:
    with conn.transaction():
        build_outbox(conn, ["qualified", "won"], "1")


def statuses(conn: psycopg.Connection, platform: str) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT event_id::text, status, attempts, reason FROM conversions_outbox WHERE platform = %s", (platform,)
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_meta_payload_fields_follow_the_documented_formats(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    fbclid = "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
    lead = add_lead(bi, org, fbclid=fbclid, status="won")
    add_won_deal(bi, org, lead, amount="1999.90", currency="BRL")
    build(bi)
    report = send_platform(databases.bi, settings(server), "meta")
    assert report.counts["sent"] == 3 and not report.failed
    [request] = server.requests
    assert request.path == META_EVENTS and request.body["access_token"] == "TEST-META-TOKEN"
    events = {e["event_name"]: e for e in request.body["data"]}
    assert set(events) == {"Lead", "QualifiedLead", "Purchase"}
    for event in events.values():
        assert uuid.UUID(event["event_id"])
        assert abs(event["event_time"] - NOW.timestamp()) < 3 * 3600 and isinstance(event["event_time"], int)
        assert event["action_source"] == "system_generated"
        user = event["user_data"]
        assert HEX64.fullmatch(user["em"][0]) and HEX64.fullmatch(user["ph"][0])
        assert re.fullmatch(rf"fb\.1\.\d{{13}}\.{re.escape(fbclid)}", user["fbc"])
        assert event["custom_data"]["event_source"] == "crm"
    assert events["Purchase"]["custom_data"] | {} == {
        "event_source": "crm",
        "lead_event_source": "hyperdash-pipeline",
        "value": 1999.9,
        "currency": "BRL",
    }
    assert "value" not in events["Lead"]["custom_data"]
    assert {s[:2] for s in statuses(bi, "meta").values()} == {("sent", 1)}


def test_meta_whole_batch_rejection_is_bisected_to_the_bad_events(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    for n in range(8):
        add_lead(bi, org, fbclid=f"IwAR-{n}")
    build(bi)
    ids = sorted(statuses(bi, "meta"))
    server.meta_bad = {ids[2], ids[5]}
    report = send_platform(databases.bi, settings(server), "meta")
    assert (report.counts["sent"], report.counts["rejected"]) == (6, 2)
    result = statuses(bi, "meta")
    for event_id in ids:
        status, attempts, reason = result[event_id]
        if event_id in server.meta_bad:
            assert status == "rejected" and "Invalid parameter" in reason and attempts == 1
        else:
            assert status == "sent"
    assert sorted(server.received["meta"]) == sorted(set(ids) - server.meta_bad)
    assert len(server.requests) <= 1 + 2 * 2 * 3  # bisection: about k * log2(n) requests, not n


def test_429_and_5xx_are_retried_with_backoff(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    add_lead(bi, org, fbclid="IwAR-1")
    build(bi)
    rate_limited = {"error": {"message": "User request limit reached", "code": 17, "is_transient": True}}
    server.script(META_EVENTS, Scripted(429, rate_limited, {"Retry-After": "0"}), Scripted(503, "Service Unavailable"))
    report = send_platform(databases.bi, settings(server), "meta")
    assert report.counts["sent"] == 1 and report.retries == 2 and len(server.requests) == 3
    assert [s[:2] for s in statuses(bi, "meta").values()] == [("sent", 1)]


def test_malformed_answers_leave_events_pending_and_the_resend_carries_the_same_ids(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    integration = meta_destination(bi, org)
    add_lead(bi, org, fbclid="IwAR-1")
    add_lead(bi, org, fbclid="IwAR-2")
    build(bi)
    server.script(META_EVENTS, *[Scripted(200, '{"events_received": 2,') for _ in range(3)])
    report = send_platform(databases.bi, settings(server), "meta")
    assert report.counts["sent"] == 0 and "not a JSON object" in report.failed[0][1]
    assert {s[:2] for s in statuses(bi, "meta").values()} == {("pending", 1)}
    state = bi.execute("SELECT conversions_status FROM integrations WHERE id = %s", (integration,)).fetchone()
    assert state == ("error",)
    again = send_platform(databases.bi, settings(server), "meta")
    assert again.counts["sent"] == 2
    sent_ids = [{e["event_id"] for e in r.body["data"]} for r in server.requests]
    assert all(ids == sent_ids[0] for ids in sent_ids)  # every attempt carried the same event ids
    assert {s[:2] for s in statuses(bi, "meta").values()} == {("sent", 2)}


def test_old_events_expire_and_consent_is_enforced_when_required(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    open_org = add_organization(bi, "open")
    strict = add_organization(bi, "strict", require_consent=True)
    meta_destination(bi, open_org)
    meta_destination(bi, strict)
    old = add_lead(bi, open_org, fbclid="IwAR-old", created_at=NOW - timedelta(days=8))
    fresh = add_lead(bi, open_org, fbclid="IwAR-new")
    unknown = add_lead(bi, strict, fbclid="IwAR-u")
    denied = add_lead(bi, strict, fbclid="IwAR-d", ad_user_data=False)
    granted = add_lead(bi, strict, fbclid="IwAR-g", ad_user_data=True)
    build(bi)
    report = send_platform(databases.bi, settings(server), "meta")
    assert (report.counts["sent"], report.counts["expired"], report.counts["skipped_consent"]) == (2, 1, 2)
    by_lead: dict[str, str] = dict(bi.execute("SELECT lead_id::text, status FROM conversions_outbox").fetchall())
    assert by_lead == {
        old: "expired",
        fresh: "sent",
        unknown: "skipped_consent",
        denied: "skipped_consent",
        granted: "sent",
    }
    sent = {e["user_data"]["fbc"].rsplit(".", 1)[1] for r in server.requests for e in r.body["data"]}
    assert sent == {"IwAR-new", "IwAR-g"}


def test_without_a_token_events_stay_pending_and_the_integration_shows_unconfigured(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_META_TOKEN", raising=False)
    org = add_organization(bi)
    integration = meta_destination(bi, org, env_var="ACME_META_TOKEN")
    add_lead(bi, org, fbclid="IwAR-1")
    build(bi)
    report = send_platform(databases.bi, settings(server), "meta")
    assert report.unconfigured and "ACME_META_TOKEN" in report.unconfigured[0][1]
    assert server.requests == []
    assert {s[:2] for s in statuses(bi, "meta").values()} == {("pending", 0)}
    row = bi.execute(
        "SELECT conversions_status, conversions_last_error, status FROM integrations WHERE id = %s", (integration,)
    ).fetchone()
    assert row is not None and row[0] == "unconfigured" and "ACME_META_TOKEN" in row[1]
    assert row[2] == "pending"  # ingestion's own status is not the sender's to change


def test_google_click_conversions_partial_failure_and_duplicates(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    google_destination(bi, org)
    clicked = add_lead(bi, org, gclid="Cj0KCQ-good", status="qualified", ad_user_data=True, ad_personalization=False)
    add_won_deal(bi, org, clicked, amount="250.00", currency="usd")
    bad = add_lead(bi, org, gclid="not-a-gclid")
    no_click = add_lead(bi, org, utm_source="google", email="Jane.Doe@gmail.com")
    build(bi)
    ids: dict[str, str] = dict(
        bi.execute("SELECT lead_id::text || event_kind, event_id::text FROM conversions_outbox").fetchall()
    )
    server.google_bad = {ids[bad + "lead"]}
    server.received["google"].append(ids[clicked + "lead"])  # uploaded before (e.g. by a run that crashed)
    report = send_platform(databases.bi, settings(server), "google")
    assert (report.counts["sent"], report.counts["rejected"]) == (4, 1)
    [request] = server.requests
    assert request.path == GOOGLE_UPLOAD
    assert request.headers["developer-token"] == "DEV-TOKEN"
    assert request.headers["Authorization"] == "Bearer ACCESS-TOKEN"
    assert request.body["partialFailure"] is True
    by_order = {c["orderId"]: c for c in request.body["conversions"]}
    assert set(by_order) == set(ids.values())
    for kind in ("lead", "qualified", "purchase"):
        conversion = by_order[ids[clicked + kind]]
        assert conversion["conversionAction"] == GOOGLE_ACTIONS[kind]
        assert conversion["gclid"] == "Cj0KCQ-good"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d", conversion["conversionDateTime"])
        assert conversion["consent"] == {"adUserData": "GRANTED", "adPersonalization": "DENIED"}
        assert [list(i) for i in conversion["userIdentifiers"]] == [["hashedEmail"], ["hashedPhoneNumber"]]
    purchase = by_order[ids[clicked + "purchase"]]
    assert (purchase["conversionValue"], purchase["currencyCode"]) == (250.0, "USD")
    enhanced = by_order[ids[no_click + "lead"]]  # enhanced conversion for leads: no gclid, hashed identifiers
    assert "gclid" not in enhanced and "consent" not in enhanced
    assert HEX64.fullmatch(enhanced["userIdentifiers"][0]["hashedEmail"])
    result = statuses(bi, "google")
    assert result[ids[bad + "lead"]][0] == "rejected"
    assert result[ids[bad + "lead"]][2].startswith("UNPARSEABLE_GCLID")
    assert result[ids[clicked + "lead"]][:1] == ("sent",)
    assert "ORDER_ID_ALREADY_IN_USE" in result[ids[clicked + "lead"]][2]


def test_google_expires_clicks_past_90_days(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    google_destination(bi, org)
    lead = add_lead(bi, org, gclid="Cj0-old", created_at=NOW - timedelta(days=89), status="qualified")
    bi.execute("UPDATE crm_raw.leads SET updated_at = now() WHERE id = %s", (lead,))
    build(bi)
    report = send_platform(databases.bi, settings(server), "google", now=datetime.now(UTC) + timedelta(days=2))
    assert report.counts["expired"] == 2 and server.requests == []


def test_ten_thousand_events_are_sent_once_within_the_batch_limits(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    google_destination(bi, org)
    bi.execute(
        "INSERT INTO crm_raw.leads (id, organization_id, email, status, fbclid, gclid, attribution_synced, "
        "created_at, updated_at) SELECT gen_random_uuid(), %s, 'lead' || n || '@example.com', 'new', 'IwAR-' || n, "
        "'Cj0-' || n, false, now() - interval '1 hour', now() - interval '1 hour' FROM generate_series(1, 10000) AS n",
        (org,),
    )
    build(bi)
    meta = send_platform(databases.bi, settings(server), "meta")
    google = send_platform(databases.bi, settings(server), "google")
    assert meta.counts["sent"] == google.counts["sent"] == 10_000
    sizes = {
        platform: sorted(len(r.body.get("data") or r.body.get("conversions")) for r in server.requests if key in r.path)
        for platform, key in (("meta", "/events"), ("google", "uploadClickConversions"))
    }
    assert sizes == {"meta": [1000] * 10, "google": [2000] * 5}
    for platform in ("meta", "google"):
        assert len(server.received[platform]) == len(set(server.received[platform])) == 10_000


def test_concurrent_senders_send_each_event_once(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    for n in range(30):
        add_lead(bi, org, fbclid=f"IwAR-{n}")
    build(bi)
    server.hold_seconds = 0.2
    small_batches = settings(server, meta_batch_size=5)
    reports: list[SendReport] = []
    threads = [
        threading.Thread(target=lambda: reports.append(send_platform(databases.bi, small_batches, "meta")))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.counts["sent"] for r in reports) == 30
    assert len(server.received["meta"]) == len(set(server.received["meta"])) == 30
    assert {s[:2] for s in statuses(bi, "meta").values()} == {("sent", 1)}


def test_a_4xx_that_is_not_the_platforms_json_is_not_retried(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    meta_destination(bi, org)
    add_lead(bi, org, fbclid="IwAR-1")
    build(bi)
    server.script(META_EVENTS, Scripted(403, "<html>Forbidden by proxy</html>"))
    report = send_platform(databases.bi, settings(server), "meta")
    assert len(server.requests) == 1 and "HTTP 403" in report.failed[0][1]
    assert {s[:2] for s in statuses(bi, "meta").values()} == {("pending", 1)}


def test_google_refresh_tokens_are_exchanged_for_an_access_token(
    databases: Databases, bi: psycopg.Connection, server: PlatformServer
) -> None:
    org = add_organization(bi)
    google_destination(bi, org)
    add_lead(bi, org, gclid="Cj0-1")
    build(bi)
    oauth = settings(
        server,
        google_client_id="CLIENT",
        google_client_secret="SECRET",
        google_token_url=f"{server.base_url}/token",
        google_login_customer_id="999-888-7777",
    )
    report = send_platform(databases.bi, oauth, "google")
    assert report.counts["sent"] == 1
    token, upload = server.requests
    assert token.path == "/token" and token.body["grant_type"] == "refresh_token"
    assert token.body["refresh_token"] == "ACCESS-TOKEN" and token.body["client_id"] == "CLIENT"
    assert upload.headers["Authorization"] == "Bearer access-for-ACCESS-TOKEN"
    assert upload.headers["login-customer-id"] == "9998887777"
