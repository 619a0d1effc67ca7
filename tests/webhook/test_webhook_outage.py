"""The real `hyperdash webhook` server through an outage and against slow clients.

A burst of signed leads; the CRM goes away in the middle of it; the webhook process group is killed
with SIGKILL while leads wait in its spool; both come back: every lead the server accepted (201/202)
is in the CRM exactly once. Slowloris connections are closed at the header deadline, a stalled body
gets 408, and the connection limit answers 503 rather than queueing forever.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hyperdash_pipeline.webhook.signing import signed_headers
from tests.support.ports import free_port
from tests.support.tcp_proxy import PgProxy
from tests.support.webhook import JSON, Org, create_source, lead
from tests.support.webhook_server import DEADLINE_SECONDS, WebhookServer

pytestmark = pytest.mark.slow


@pytest.fixture
def org(databases: Any, capsys: pytest.CaptureFixture[str]) -> Org:
    return create_source(capsys, "acme")


@pytest.fixture
def proxy(databases: Any) -> Iterator[PgProxy]:
    crm = PgProxy(databases.crm_url)
    yield crm
    crm.close()


@pytest.fixture
def server(proxy: PgProxy, org: Org, tmp_path: Path) -> Iterator[WebhookServer]:
    live = WebhookServer(free_port(), tmp_path / "spool.sqlite3", proxy.url, tmp_path / "webhook.log")
    yield live
    live.stop()


def _post(client: httpx.Client, org: Org, index: int) -> tuple[str, int]:
    key = f"burst-{index}"
    raw = json.dumps(lead(org, email=f"{key}@example.com")).encode()
    headers = signed_headers(org.secret, raw, content_type=JSON, idempotency_key=key)
    try:
        return key, client.post("/webhooks/leads", content=raw, headers=headers).status_code
    except httpx.TransportError:
        return key, 0  # no answer: the lead may or may not have been taken


def test_an_outage_and_a_killed_webhook_lose_no_accepted_lead_and_duplicate_none(
    databases: Any, org: Org, proxy: PgProxy, server: WebhookServer
) -> None:
    server.start()
    answered = 0
    lock = threading.Lock()

    def post_and_cut_midway(index: int) -> tuple[str, int]:
        nonlocal answered
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            result = _post(client, org, index)
        with lock:
            answered += 1
            if answered == 150:
                proxy.cut()
        return result

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = dict(pool.map(post_and_cut_midway, range(400)))
    server.kill()  # spooled leads are waiting; nothing may be lost with the process
    statuses = sorted(set(results.values()))
    accepted = {key for key, status in results.items() if status in (201, 202)}
    assert 202 in statuses and 201 in statuses, statuses
    proxy.restore()
    server.start()
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.base_url}/readyz").json().get("spool", {}).get("waiting") != 0:
        assert time.monotonic() < deadline, "the spool was not drained within 60 s"
        time.sleep(0.5)
    with psycopg.connect(databases.crm_url) as conn:
        keys = [k for (k,) in conn.execute("SELECT idempotency_key FROM webhook_requests").fetchall()]
        emails = [e for (e,) in conn.execute("SELECT email FROM leads").fetchall()]
    assert accepted <= set(keys)  # every accepted lead arrived
    assert len(emails) == len(set(emails)) == len(keys)  # and none twice
    unanswered = {key for key, status in results.items() if status not in (201, 202)}
    assert set(keys) - accepted <= unanswered  # a refused (503) lead is not written behind the sender's back


def _read_until_closed(sock: socket.socket, trickle: bytes = b"", seconds: float = 30.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, trickling a byte each 0.25 s meanwhile."""
    started, received = time.monotonic(), b""
    sock.settimeout(0.25)
    while time.monotonic() - started < seconds:
        if trickle:
            try:
                sock.send(trickle)
            except OSError:
                break
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not data:
            break
        received += data
    return received, time.monotonic() - started


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_slow_clients_are_cut_off_and_the_connection_limit_holds(org: Org, server: WebhookServer, http: str) -> None:
    server.start(workers=1, http=http, HYPERDASH_WEBHOOK_MAX_CONNECTIONS="10")
    head = f"POST /webhooks/leads HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as slowloris:
        slowloris.sendall(head.encode())
        answer, seconds = _read_until_closed(slowloris, trickle=b"X")
    assert answer == b"" and seconds < DEADLINE_SECONDS + 5  # closed at the header deadline, not held
    stalled_head = head + f"Content-Type: {JSON}\r\nContent-Length: 500\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as stalled:
        stalled.sendall(stalled_head.encode() + b'{"organization": "acme"')
        answer, seconds = _read_until_closed(stalled)
    assert answer.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in answer, answer[:300]
    holders = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(12)]
    try:
        for sock in holders:
            sock.sendall(head.encode())
        time.sleep(0.3)
        crowded = httpx.get(f"{server.base_url}/healthz", timeout=10)
    finally:
        for sock in holders:
            sock.close()
    assert crowded.status_code == 503
    time.sleep(0.5)
    assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
