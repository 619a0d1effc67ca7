"""Lead capture webhook against a real CRM: accepted posts, repeats, and every kind of bad input.

The app runs in-process under Starlette's TestClient (lifespan included, so the real psycopg pool);
tests/webhook/test_webhook_server.py drives the real uvicorn server over sockets.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.webhook import logs
from hyperdash_pipeline.webhook.app import create_app
from hyperdash_pipeline.webhook.config import WebhookConfig
from hyperdash_pipeline.webhook.intake import Rejection, signature_headers
from hyperdash_pipeline.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers
from tests.support.webhook import FORM, JSON, Org, counts, create_source, crm_rows, lead


class Poster:
    """Signs and posts bodies the way a landing page's server does."""

    def __init__(self, client: TestClient, org: Org) -> None:
        self.client = client
        self.org = org

    def raw(self, body: bytes, content_type: str = JSON, secret: str | None = None, **kw: Any) -> Any:
        headers = signed_headers(secret or self.org.secret, body, content_type=content_type, **kw)
        return self.client.post("/webhooks/leads", content=body, headers=headers)

    def json(self, payload: dict[str, Any], **kw: Any) -> Any:
        return self.raw(json.dumps(payload).encode(), JSON, **kw)


@pytest.fixture
def org(databases: Any, capsys: pytest.CaptureFixture[str]) -> Org:
    return create_source(capsys, "acme")


@pytest.fixture
def client(databases: Any, org: Org) -> Iterator[TestClient]:
    config = WebhookConfig(
        crm_url=databases.crm_url, max_body_bytes=8 * 1024, tolerance_seconds=300, source_cache_seconds=1.0
    )
    logs.configure("INFO")  # the log line of every request runs, as in production
    with TestClient(create_app(config), raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def poster(client: TestClient, org: Org) -> Poster:
    return Poster(client, org)


# --- accepted posts ---------------------------------------------------------------------------------


def test_json_post_creates_lead_and_contact_with_every_field(databases: Any, poster: Poster, org: Org) -> None:
    response = poster.json(lead(org, utm_content="carousel-2", utm_term="crm software", gclid="Cj0KCQ-abc_1"))
    assert response.status_code == 201, response.text
    lead_id = response.json()["lead_id"]
    (row,) = crm_rows(
        databases.crm_url,
        "SELECT l.organization_id::text, l.name, l.email, l.phone, l.status, l.campaign_id, l.ad_id, l.ad_set_id,"
        " l.utm_source, l.utm_medium, l.utm_campaign, l.utm_content, l.utm_term, l.gclid, l.fbclid, l.touchpoints,"
        " c.organization_id::text, c.name, c.email, c.phone"
        " FROM leads l JOIN contacts c ON c.id = l.contact_id WHERE l.id = %s",
        (lead_id,),
    )
    assert row[:15] == (
        org.id, "Ana Souza", "ana@example.com", "+55 11 91234-5678", "new", "120200000001", "120200000099",
        "120200000050", "facebook", "paid_social", "black-friday", "carousel-2", "crm software", "Cj0KCQ-abc_1",
        "IwAR0abc_DEF-123",
    )  # fmt: skip
    assert row[15] == [
        {"timestamp": "2026-11-20T10:00:00+00:00", "channel": "paid_social", "campaign_id": "120200000001"},
        {"timestamp": "2026-11-21T09:30:00-03:00", "channel": "email", "source": "newsletter"},
    ]
    assert row[16:] == (org.id, "Ana Souza", "ana@example.com", "+55 11 91234-5678")


def test_form_post_by_organization_id_creates_lead(databases: Any, poster: Poster, org: Org) -> None:
    fields = lead(org, organization=org.id, touchpoints=None, phone="", utm_term="  ")
    fields["touchpoints"] = json.dumps([{"timestamp": "2026-11-20T10:00:00Z", "medium": "cpc"}])
    response = poster.raw(urlencode(fields).encode(), FORM)
    assert response.status_code == 201, response.text
    (row,) = crm_rows(
        databases.crm_url, "SELECT phone, utm_term, touchpoints FROM leads WHERE id = %s", (response.json()["lead_id"],)
    )
    assert row == (None, None, [{"timestamp": "2026-11-20T10:00:00+00:00", "medium": "cpc"}])


def test_same_submission_twice_makes_one_lead(databases: Any, poster: Poster, org: Org) -> None:
    body = json.dumps(lead(org)).encode()
    now = int(time.time())
    first = poster.raw(body, idempotency_key="form-7f3a", timestamp=now - 10)
    # A retry is signed again (new timestamp), so it is not a replay: it answers with the same lead.
    again = poster.raw(body, idempotency_key="form-7f3a", timestamp=now - 5)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"lead_id": first.json()["lead_id"], "created": False}
    assert counts(databases.crm_url) == (1, 1, 1)


def test_without_idempotency_key_an_identical_body_is_the_same_submission(
    databases: Any, poster: Poster, org: Org
) -> None:
    body = json.dumps(lead(org)).encode()
    now = int(time.time())
    first = poster.raw(body, timestamp=now - 10)
    again = poster.raw(body, timestamp=now - 5)
    other = poster.json(lead(org, email="bruno@example.com"))
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["lead_id"] == first.json()["lead_id"] != other.json()["lead_id"]
    assert counts(databases.crm_url)[0] == 2


def test_second_lead_with_known_email_reuses_the_contact(databases: Any, poster: Poster, org: Org) -> None:
    first = poster.json(lead(org, email="Ana@Example.com"))
    second = poster.json(lead(org, email="ana@example.com", campaign_id="999"))
    assert (first.status_code, second.status_code) == (201, 201)
    (row,) = crm_rows(databases.crm_url, "SELECT count(DISTINCT contact_id), count(*) FROM leads")
    assert row == (1, 2)


def test_sql_metacharacters_are_stored_verbatim(databases: Any, poster: Poster, org: Org) -> None:
    name = "O'Brien\"; DROP TABLE leads; -- \\ %s %(x)s $1"
    response = poster.json(lead(org, name=name, utm_campaign="a' OR '1'='1"))
    assert response.status_code == 201, response.text
    rows = crm_rows(databases.crm_url, "SELECT name, utm_campaign FROM leads")
    assert rows == [(name, "a' OR '1'='1")]


def test_rotated_secret_keeps_the_previous_one_valid(databases: Any, capsys: Any, client: TestClient, org: Org) -> None:
    rotated = create_source(capsys, "acme", organization_id=org.id)
    assert rotated.secret != org.secret
    time.sleep(1.5)  # the app reloads its sources every second here (5 s by default)
    poster = Poster(client, org)
    assert poster.json(lead(org, email="new@example.com"), secret=rotated.secret).status_code == 201
    assert poster.json(lead(org, email="old@example.com"), secret=org.secret).status_code == 201
    stolen = poster.json(lead(org, email="x@example.com"), secret="whsec_" + "0" * 64)
    assert stolen.status_code == 401


# --- bad input: a clear 4xx, nothing written, valid posts around it unaffected ------------------------


def _body(**fields: Any) -> bytes:
    """A JSON lead of organization "acme" with `fields` over a valid e-mail (None drops a field)."""
    base: dict[str, Any] = {"organization": "acme", "email": "a@example.com", **fields}
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


TS = "2026-01-01T00:00:00Z"
BAD_JSON_BODIES = {
    "malformed_json": (b'{"organization": "acme", "email": ', 400, "malformed_body"),
    "json_not_an_object": (b'["acme", "ana@example.com"]', 400, "malformed_body"),
    "invalid_utf8": (_body(name="@@").replace(b"@@", b"\xff\xfe"), 400, "malformed_body"),
    "nul_byte_in_name": (_body(name="Ana\x00"), 422, "invalid_lead"),
    "sql_in_email": (_body(email="x'; DROP TABLE leads;--@a.com"), 422, "invalid_lead"),
    "sql_in_campaign_id": (_body(campaign_id="1; DELETE FROM leads"), 422, "invalid_lead"),
    "touchpoints_not_a_list": (_body(touchpoints={"channel": "x"}), 422, "invalid_lead"),
    "touchpoint_without_timestamp": (_body(touchpoints=[{"channel": "x"}]), 422, "invalid_lead"),
    "touchpoint_naive_timestamp": (_body(touchpoints=[{"timestamp": "2026-01-01T00:00:00"}]), 422, "invalid_lead"),
    "touchpoint_unknown_key": (_body(touchpoints=[{"timestamp": TS, "cost": 3}]), 422, "invalid_lead"),
    "touchpoint_nested_object": (_body(touchpoints=[{"timestamp": TS, "channel": {"a": 1}}]), 422, "invalid_lead"),
    "no_email_or_phone": (_body(email=None, name="Ana"), 422, "invalid_lead"),
    "phone_with_letters": (_body(email=None, phone="call me maybe"), 422, "invalid_lead"),
    "name_too_long": (_body(name="a" * 201), 422, "invalid_lead"),
    "unknown_field": (_body(password="x"), 422, "invalid_lead"),
    "missing_organization": (_body(organization=None), 422, "invalid_lead"),
    "unknown_organization": (_body(organization="globex"), 401, "unauthorized"),
}


@pytest.mark.parametrize("case", list(BAD_JSON_BODIES))
def test_bad_body_is_refused_and_writes_nothing(databases: Any, poster: Poster, org: Org, case: str) -> None:
    body, status, code = BAD_JSON_BODIES[case]
    before = poster.json(lead(org, email="before@example.com"))
    response = poster.raw(body)
    after = poster.json(lead(org, email="after@example.com"))
    assert (before.status_code, response.status_code, after.status_code) == (201, status, 201), response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert counts(databases.crm_url) == (2, 2, 2)
    assert b"ana@" not in response.content  # errors never echo field values


def test_invalid_field_errors_name_the_fields(poster: Poster, org: Org) -> None:
    response = poster.json(lead(org, email="not-an-email", campaign_id="a b", utm_source="x" * 300))
    assert response.status_code == 422
    fields = {problem["field"] for problem in response.json()["error"]["fields"]}
    assert fields == {"email", "campaign_id", "utm_source"}


def test_form_with_invalid_utf8_or_bad_touchpoints_is_refused(databases: Any, poster: Poster, org: Org) -> None:
    invalid_utf8 = poster.raw(b"organization=acme&email=a%40example.com&name=%FF%FE", FORM)
    bad_touchpoints = poster.raw(b"organization=acme&email=a%40example.com&touchpoints=%5B%7B", FORM)
    repeated_field = poster.raw(b"organization=acme&email=a%40example.com&email=b%40example.com", FORM)
    assert (invalid_utf8.status_code, bad_touchpoints.status_code, repeated_field.status_code) == (400, 422, 400)
    assert counts(databases.crm_url) == (0, 0, 0)


def test_wrong_content_type_is_refused(databases: Any, poster: Poster, org: Org) -> None:
    body = json.dumps(lead(org)).encode()
    for content_type in ("text/plain", "multipart/form-data; boundary=x", "application/xml"):
        response = poster.raw(body, content_type)
        assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    assert counts(databases.crm_url) == (0, 0, 0)


def test_body_over_the_cap_is_refused(databases: Any, client: TestClient, poster: Poster, org: Org) -> None:
    body = json.dumps(lead(org, name="x" * 9000)).encode()
    declared = poster.raw(body)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while streaming
        yield body[:4000]
        yield body[4000:]

    headers = signed_headers(org.secret, body, content_type=JSON)
    streamed = client.post("/webhooks/leads", content=chunks(), headers=headers)
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert streamed.json()["error"]["code"] == "body_too_large"
    assert counts(databases.crm_url) == (0, 0, 0)


def test_bad_or_missing_signature_is_refused(databases: Any, client: TestClient, poster: Poster, org: Org) -> None:
    body = json.dumps(lead(org)).encode()
    good = signed_headers(org.secret, body, content_type=JSON)
    tampered = body.replace(b"Ana Souza", b"Eve Souza")
    cases = {
        "missing": {"content-type": JSON},
        "no_signature": {k: v for k, v in good.items() if k != "x-hyperdash-signature"},
        "not_hex": {**good, "x-hyperdash-signature": "z" * 64},
        "wrong_secret": signed_headers("whsec_" + "1" * 64, body, content_type=JSON),
        # 30 s outside the 300 s tolerance: whole-second stamps and the request's own time cannot bring them
        # back inside (the exact bound is test_timestamp_tolerance_is_inclusive_to_the_second).
        "stale": signed_headers(org.secret, body, content_type=JSON, timestamp=int(time.time()) - 330),
        "future": signed_headers(org.secret, body, content_type=JSON, timestamp=int(time.time()) + 330),
        "bad_timestamp": {**good, "x-hyperdash-timestamp": "yesterday"},
    }
    codes = {}
    for case, headers in cases.items():
        response = client.post("/webhooks/leads", content=body, headers=headers)
        assert response.status_code == 401, case
        codes[case] = response.json()["error"]["code"]
    body_swapped = client.post("/webhooks/leads", content=tampered, headers=good)
    assert body_swapped.status_code == 401
    assert codes == {
        "missing": "missing_signature",
        "no_signature": "missing_signature",
        "not_hex": "bad_signature",
        "wrong_secret": "unauthorized",  # the same answer as an unknown organization
        "stale": "stale_timestamp",
        "future": "stale_timestamp",
        "bad_timestamp": "bad_timestamp",
    }
    assert counts(databases.crm_url) == (0, 0, 0)
    assert poster.raw(body).status_code == 201


@pytest.mark.parametrize(("offset", "accepted"), [(-301, False), (-300, True), (0, True), (300, True), (301, False)])
def test_timestamp_tolerance_is_inclusive_to_the_second(offset: int, accepted: bool) -> None:
    now = 1_700_000_000.0
    headers = {TIMESTAMP_HEADER: str(int(now) + offset), SIGNATURE_HEADER: "ab" * 32}
    if accepted:
        assert signature_headers(headers, now, tolerance=300)[0] == str(int(now) + offset)
    else:
        with pytest.raises(Rejection) as refused:
            signature_headers(headers, now, tolerance=300)
        assert (refused.value.status, refused.value.code) == (401, "stale_timestamp")


def test_replayed_request_is_refused(databases: Any, client: TestClient, org: Org) -> None:
    body = json.dumps(lead(org)).encode()
    headers = signed_headers(org.secret, body, content_type=JSON, idempotency_key="k1", version=1)
    first = client.post("/webhooks/leads", content=body, headers=headers)
    replay = client.post("/webhooks/leads", content=body, headers=headers)
    # v1 does not sign the Idempotency-Key: an attacker who swaps it is still caught by the stored signature.
    replay_new_key = client.post("/webhooks/leads", content=body, headers={**headers, "idempotency-key": "k2"})
    assert (first.status_code, replay.status_code, replay_new_key.status_code) == (201, 409, 409)
    assert replay.json()["error"]["code"] == "replayed_request"
    assert counts(databases.crm_url) == (1, 1, 1)


def test_idempotency_key_reused_for_another_body_is_refused(databases: Any, poster: Poster, org: Org) -> None:
    first = poster.json(lead(org), idempotency_key="same")
    other = poster.json(lead(org, email="other@example.com"), idempotency_key="same")
    assert (first.status_code, other.status_code) == (201, 422)
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert counts(databases.crm_url) == (1, 1, 1)


def test_inactive_organization_is_refused(databases: Any, poster: Poster, org: Org) -> None:
    crm_rows_update = "UPDATE webhook_sources SET active = false WHERE organization_id = %s"
    with psycopg.connect(databases.crm_url) as conn:
        conn.execute(crm_rows_update, (org.id,))
    time.sleep(1.5)  # the next reload of the sources
    response = poster.json(lead(org))
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_health_readiness_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    document = client.get("/openapi.json").json()
    assert set(document["paths"]["/webhooks/leads"]["post"]["responses"]) >= {"201", "200", "400", "401", "422"}
    wrong_method = client.get("/webhooks/leads")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


def test_readyz_reports_an_unreachable_crm() -> None:
    config = WebhookConfig(crm_url="postgresql://nobody@127.0.0.1:1/crm")
    with TestClient(create_app(config)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["error"]["code"] == "crm_unavailable"


def test_webhook_secret_cli_refuses_bad_input_and_taken_slug(databases: Any, capsys: Any, org: Org) -> None:
    assert main(["webhook-secret", "--organization", "not-a-uuid"]) == 2
    assert main(["webhook-secret", "--organization", str(uuid.uuid4()), "--slug", "Bad Slug"]) == 2
    assert main(["webhook-secret", "--organization", str(uuid.uuid4()), "--slug", org.slug]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "another organization" in captured.err
    (row,) = crm_rows(databases.crm_url, "SELECT count(*) FROM webhook_sources")
    assert row == (1,)


def test_concurrent_posts_share_transactions_without_loss_or_duplicates(databases: Any, org: Org) -> None:
    """Group commit under load: 200 leads and racing retries at once; each lead once, retries answered."""
    config = WebhookConfig(crm_url=databases.crm_url, pool_size=4)
    app = create_app(config)
    now = int(time.time())
    distinct = [json.dumps(lead(org, email=f"lead{i}@example.com")).encode() for i in range(200)]
    retried = [json.dumps(lead(org, email=f"retry{i}@example.com")).encode() for i in range(5)]

    async def run() -> tuple[list[Any], list[list[Any]]]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as client:

                async def post(body: bytes, **kw: Any) -> Any:
                    headers = signed_headers(org.secret, body, content_type=JSON, **kw)
                    return await client.post("/webhooks/leads", content=body, headers=headers)

                firsts = [post(body) for body in distinct]
                retries = [
                    asyncio.gather(*(post(body, idempotency_key=f"r{i}", timestamp=now - k) for k in range(4)))
                    for i, body in enumerate(retried)
                ]
                return await asyncio.gather(*firsts), await asyncio.gather(*retries)

    created, retry_groups = asyncio.run(run())
    assert [r.status_code for r in created] == [201] * 200
    for group in retry_groups:
        assert sorted(r.status_code for r in group) == [200, 200, 200, 201]
        assert len({r.json()["lead_id"] for r in group}) == 1
    (row,) = crm_rows(databases.crm_url, "SELECT count(*), count(DISTINCT id), count(DISTINCT xmin::text) FROM leads")
    leads, distinct_ids, transactions = row
    assert (leads, distinct_ids) == (205, 205)
    assert transactions < leads  # leads that arrived together were committed together
    assert {str(r.json()["lead_id"]) for r in created} <= {
        str(i) for (i,) in crm_rows(databases.crm_url, "SELECT id FROM leads")
    }


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_contact_lookup_of_a_new_organization_on_a_large_crm_is_one_index_probe(databases: Any) -> None:
    """A new customer's first posts on a CRM whose statistics have never seen it: the planner must still look
    the e-mail up in the index, not read every contact of the organization (the cost per lead would grow with
    each lead accepted)."""
    from hyperdash_pipeline.settings import read_sql

    insert_lead = read_sql("webhook/insert_lead.sql")
    with psycopg.connect(databases.crm_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO contacts (organization_id, name, email) "
            "SELECT ('00000000-0000-0000-0000-00000000000' || (i % 3))::uuid, 'C', 'c' || i || '@example.com' "
            "FROM generate_series(1, 30000) AS i"
        )
        conn.execute("ANALYZE contacts")
        params: dict[str, Any] = dict.fromkeys(re.findall(r"%\((\w+)\)s", insert_lead))
        params.update(organization_id=uuid.uuid4(), email="new@example.com", idempotency_key="k", body_sha256=b"")
        (plan,) = conn.execute(f"EXPLAIN (FORMAT JSON) {insert_lead}", params).fetchone()  # type: ignore[misc]
    nodes = _plan_nodes(plan[0]["Plan"])
    scans = [node for node in nodes if node.get("Relation Name") == "contacts" and "Scan" in node["Node Type"]]
    assert [node.get("Index Name") for node in scans] == ["contacts_org_email_lookup_idx"]
    assert "lower(email)" in scans[0]["Index Cond"]
