"""End to end: the real `hyperdash webhook` server (uvicorn, two workers) over real sockets.

A lead posted with httpx lands in the CRM with its contact; the server's log is JSON lines without PII
or secrets; schemathesis drives the served OpenAPI document (unsigned, then signed requests) and no
request gets a 500. (Carrying the lead on into BI through crm_changes_sensor is tested where the sync
lives.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.settings import CRM_URL_VAR, HOME_VAR
from hyperdash_pipeline.webhook.openapi import openapi_document
from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.ports import free_port
from tests.support.webhook import FORM, JSON
from tests.support.webhook_server import wait_ready

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Live:
    base_url: str
    crm_url: str
    log: Path
    organization_id: str
    slug: str
    secret: str
    client: httpx.Client
    crm: psycopg.Connection[Any]  # autocommit, for the tests' look-ups

    def post(self, body: bytes, content_type: str = JSON, **kw: Any) -> httpx.Response:
        headers = signed_headers(self.secret, body, content_type=content_type, **kw)
        return self.client.post("/webhooks/leads", content=body, headers=headers)


@pytest.fixture(scope="module")
def live(pg_server: Any, templates: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A migrated CRM, one organization's secret made by the real CLI, and the server on a free port, both on a
    HYPERDASH_HOME of this module's own (the secret's key and the spool; a module's fixture runs before the
    per-test home is set)."""
    database = f"hd_webhook_live_{uuid.uuid4().hex[:8]}"
    crm_url = pg_server.create_database(database, template=templates.crm)
    organization_id, port = str(uuid.uuid4()), free_port()
    folder = tmp_path_factory.mktemp("webhook")
    log = folder / "webhook.log"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CRM_URL_VAR, crm_url)
        patch.setenv(HOME_VAR, str(folder / "home"))
        with contextlib.redirect_stdout(out):
            assert main(["webhook-secret", "--organization", organization_id, "--slug", "lp-acme"]) == 0
        command = [sys.executable, "-m", "hyperdash_pipeline.cli", "webhook", "--port", str(port), "--workers", "2"]
        with log.open("wb") as sink:
            process = subprocess.Popen(command, env=dict(os.environ), stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, log)
        with httpx.Client(base_url=base_url, timeout=10) as client, psycopg.connect(crm_url, autocommit=True) as crm:
            yield Live(base_url, crm_url, log, organization_id, "lp-acme", out.getvalue().strip(), client, crm)
    finally:
        process.terminate()
        process.wait(timeout=30)
        pg_server.drop_database(database)


def test_lead_posted_to_the_real_server_is_in_the_crm(live: Live) -> None:
    lead = {
        "organization": live.slug,
        "name": "Carla Dias",
        "email": "carla.dias@example.org",
        "phone": "+55 21 99876-5432",
        "campaign_id": "23851234567890",
        "ad_id": "23851234567999",
        "utm_source": "instagram",
        "fbclid": "PAZXh0bgNhZW0",
        "touchpoints": [{"timestamp": "2026-11-27T18:00:00Z", "channel": "paid_social", "ad_id": "23851234567999"}],
    }
    body = json.dumps(lead).encode()
    form_body = urlencode({"organization": live.organization_id, "phone": "(11) 3456-7890", "gclid": "Cj0KCQiA"})
    now = int(time.time())
    created = live.post(body, idempotency_key="lp-1", timestamp=now - 10)
    repeat = live.post(body, idempotency_key="lp-1", timestamp=now - 5)  # a retry is signed anew
    form = live.post(form_body.encode(), FORM)
    unsigned = httpx.post(f"{live.base_url}/webhooks/leads", json=lead)
    assert (created.status_code, repeat.status_code, form.status_code, unsigned.status_code) == (201, 200, 201, 401)
    assert repeat.json()["lead_id"] == created.json()["lead_id"]

    rows = live.crm.execute(
        "SELECT l.id::text, l.organization_id::text, l.name, l.email, l.phone, l.campaign_id, l.ad_id,"
        " l.utm_source, l.fbclid, l.gclid, l.status, l.touchpoints, c.email, c.phone"
        " FROM leads l JOIN contacts c ON c.id = l.contact_id WHERE l.id = ANY(%s::uuid[]) ORDER BY l.created_at",
        ([created.json()["lead_id"], form.json()["lead_id"]],),
    ).fetchall()
    assert rows == [
        (
            created.json()["lead_id"], live.organization_id, "Carla Dias", "carla.dias@example.org",
            "+55 21 99876-5432", "23851234567890", "23851234567999", "instagram", "PAZXh0bgNhZW0", None, "new",
            [{"timestamp": "2026-11-27T18:00:00+00:00", "channel": "paid_social", "ad_id": "23851234567999"}],
            "carla.dias@example.org", "+55 21 99876-5432",
        ),
        (
            form.json()["lead_id"], live.organization_id, None, None, "(11) 3456-7890",
            None, None, None, None, "Cj0KCQiA", "new", None, None, "(11) 3456-7890",
        ),
    ]  # fmt: skip
    _assert_logs_are_json_without_pii(live, created.json()["lead_id"])
    served = httpx.get(f"{live.base_url}/openapi.json").json()
    assert served == json.loads(json.dumps(openapi_document()))


def _assert_logs_are_json_without_pii(live: Live, lead_id: str) -> None:
    deadline = time.monotonic() + 5
    while lead_id not in live.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = live.log.read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    posts = [e for e in entries if e["event"] == "lead_post"]
    assert {(e["status"], e.get("lead_id")) for e in posts} >= {(201, lead_id), (200, lead_id)}
    assert any(e.get("error") == "missing_signature" for e in posts)
    for forbidden in ("Carla", "carla.dias", "99876", "3456-7890", live.secret, live.secret[6:20]):
        assert forbidden not in text


# --- schemathesis against the served OpenAPI document ---------------------------------------------------


# pytest 9 removed the node attribute schemathesis.pytest.from_fixture relies on, so the schema is loaded
# from the very document the server serves (checked equal below) and each call gets the live base URL.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(openapi_document())))
BOUNDED = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@BOUNDED
def test_openapi_unsigned_requests_get_documented_answers(case: Any, live: Live) -> None:
    """Whatever schemathesis sends without a valid signature: a documented 4xx on the webhook, never a 500."""
    response = case.call_and_validate(base_url=live.base_url)
    if case.operation.path == "/webhooks/leads":
        assert 400 <= response.status_code < 500


_ACCEPTED: set[tuple[int, str, bytes]] = set()


def _signed_body(case: Any, slug: str) -> bytes | None:
    body = case.body
    if not isinstance(body, dict):
        return None
    body = {**body, "organization": slug}
    if case.media_type == JSON:
        return json.dumps(body).encode()
    return urlencode({k: v for k, v in body.items() if isinstance(v, str)}).encode()


@schema.include(operation_id="postLead").parametrize()
@BOUNDED
def test_openapi_signed_bodies_are_accepted_into_the_crm_or_refused_with_4xx(case: Any, live: Live) -> None:
    """Generated bodies, signed for a real organization: 201 with the lead in the CRM, or a clear 4xx."""
    raw = _signed_body(case, live.slug)
    if raw is None or case.method.upper() != "POST":  # undeclared methods are the unsigned test's business
        return
    timestamp = int(time.time())
    media_type = case.media_type or JSON
    # v1 here: its signature leaves the Idempotency-Key out, so a repeated body is an exact replay (v2 signs the key).
    response = live.post(raw, media_type, idempotency_key=uuid.uuid4().hex, timestamp=timestamp, version=1)
    # Hypothesis repeats bodies; an accepted body signed again in the same second is an exact replay.
    # (The same bytes under the other content type parse to other fields, so they are checked afresh.)
    replay = (timestamp, media_type, raw) in _ACCEPTED
    assert response.status_code in ({409} if replay else {201, 400, 413, 422}), response.text
    if response.status_code == 201:
        _ACCEPTED.add((timestamp, media_type, raw))
    # Checks on the answer alone: the case's own negative mutations (a header dropped...) were replaced by
    # a real signature, so the checks that judge the request against them do not apply here.
    checks = schemathesis.checks
    answer_checks = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    case.validate_response(response, checks=answer_checks)
    if response.status_code == 201:
        found = live.crm.execute("SELECT count(*) FROM leads WHERE id = %s", (response.json()["lead_id"],)).fetchone()
        assert found == (1,)
