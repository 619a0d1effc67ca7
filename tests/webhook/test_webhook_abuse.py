"""The webhook under abuse and outages, in-process against a real CRM reached through a cuttable proxy.

Forged posts are refused alike and without the database; rate limits answer 429 with Retry-After;
database errors are JSON; with the CRM away a signed lead is spooled (202) and drained into the CRM in
order, exactly once, when it returns; without a spool the answer is 503 with Retry-After.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from hyperdash_pipeline.webhook.app import create_app
from hyperdash_pipeline.webhook.config import WebhookConfig
from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.tcp_proxy import PgProxy
from tests.support.webhook import JSON, Org, counts, create_source, crm_rows, lead


@pytest.fixture
def org(databases: Any, capsys: pytest.CaptureFixture[str]) -> Org:
    return create_source(capsys, "acme")


@pytest.fixture
def proxy(databases: Any) -> Iterator[PgProxy]:
    crm = PgProxy(databases.crm_url)
    yield crm
    crm.close()


def post(client: TestClient, org: Org, body: dict[str, Any], secret: str | None = None, **kw: Any) -> Any:
    raw = json.dumps(body).encode()
    return client.post(
        "/webhooks/leads", content=raw, headers=signed_headers(secret or org.secret, raw, content_type=JSON, **kw)
    )


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {seconds} s")
        time.sleep(0.2)


def test_forged_posts_get_one_answer_without_the_database(databases: Any, org: Org, proxy: PgProxy) -> None:
    config = WebhookConfig(crm_url=proxy.url)
    with TestClient(create_app(config)) as client:
        proxy.cut()  # from here on, any database work would fail or hang: a 401 proves there was none
        unknown = post(client, org, lead(org, organization="globex"))
        forged = post(client, org, lead(org), secret="whsec_" + "1" * 64)
        genuine = post(client, org, lead(org))
        proxy.restore()
        assert (unknown.status_code, forged.status_code) == (401, 401)
        assert unknown.json() == forged.json()  # a slug cannot be told from a wrong signature
        assert genuine.status_code == 503 and genuine.headers["retry-after"] == "5"
        assert genuine.json()["error"]["code"] == "crm_unavailable"
        assert counts(databases.crm_url) == (0, 0, 0)
        wait_for(lambda: post(client, org, lead(org)).status_code == 201)  # the CRM's return is noticed
    assert counts(databases.crm_url) == (1, 1, 1)


def test_before_its_first_look_at_the_sources_the_webhook_answers_503_not_401(org: Org) -> None:
    config = WebhookConfig(crm_url="postgresql://nobody@127.0.0.1:1/crm")
    with TestClient(create_app(config)) as client:
        response = post(client, org, lead(org))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"


def test_rate_limits_answer_429_with_retry_after(databases: Any, org: Org) -> None:
    per_org = WebhookConfig(crm_url=databases.crm_url, org_rate=1, org_burst=2)
    with TestClient(create_app(per_org)) as client:
        statuses = [post(client, org, lead(org, email=f"a{i}@example.com")).status_code for i in range(3)]
        limited = post(client, org, lead(org, email="late@example.com"))
    assert statuses == [201, 201, 429]
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
    per_client = WebhookConfig(crm_url=databases.crm_url, client_rate=1, client_burst=2)
    with TestClient(create_app(per_client)) as client:
        # The client limit comes first: even unsigned garbage spends the sender's tokens.
        unsigned = [client.post("/webhooks/leads", content=b"{}", headers={"content-type": JSON}) for _ in range(3)]
    assert [r.status_code for r in unsigned] == [401, 401, 429]
    assert counts(databases.crm_url) == (2, 2, 2)


def test_database_errors_are_answered_as_json(databases: Any, org: Org) -> None:
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE leads ADD CONSTRAINT no_mallory CHECK (name IS DISTINCT FROM 'Mallory')")
        conn.execute(
            "CREATE FUNCTION refuse_eve() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.name = 'Eve' THEN RAISE EXCEPTION 'no'; END IF; RETURN NEW; END $$"
        )
        conn.execute("CREATE TRIGGER refuse_eve BEFORE INSERT ON leads FOR EACH ROW EXECUTE FUNCTION refuse_eve()")
    with TestClient(create_app(WebhookConfig(crm_url=databases.crm_url)), raise_server_exceptions=False) as client:
        refused_value = post(client, org, lead(org, name="Mallory"))
        failed = post(client, org, lead(org, name="Eve"))
        fine = post(client, org, lead(org, name="Ana"))
    assert refused_value.status_code == 422 and refused_value.json()["error"]["code"] == "invalid_lead"
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "crm_error"
    assert failed.headers["content-type"] == "application/json" and failed.headers["retry-after"] == "5"
    assert fine.status_code == 201
    assert counts(databases.crm_url)[0] == 1


def test_with_the_crm_away_leads_are_spooled_then_drained_in_order_exactly_once(
    databases: Any, org: Org, proxy: PgProxy, tmp_path: Path
) -> None:
    spool = tmp_path / "spool.sqlite3"
    config = WebhookConfig(crm_url=proxy.url, spool_path=spool)
    emails = [f"lead{i}@example.com" for i in range(5)]
    with TestClient(create_app(config)) as client:
        assert post(client, org, lead(org, email="before@example.com")).status_code == 201
        proxy.cut()
        spooled = [post(client, org, lead(org, email=email), idempotency_key=email) for email in emails]
        now = int(time.time())
        # The sender retries the first lead (signed anew): it must not become a second lead.
        retry = post(client, org, lead(org, email=emails[0]), idempotency_key=emails[0], timestamp=now - 1)
        assert [r.status_code for r in [*spooled, retry]] == [202] * 6
        assert spooled[0].json() == {"accepted": True, "queued": True}
        proxy.restore()
        wait_for(lambda: client.get("/readyz").json().get("spool") == {"waiting": 0, "refused": 0})
    rows = crm_rows(databases.crm_url, "SELECT email FROM leads ORDER BY created_at, id")
    assert [email for (email,) in rows] == ["before@example.com", *emails]
    assert counts(databases.crm_url) == (6, 6, 6)  # the retry found the first lead: no second lead or request
