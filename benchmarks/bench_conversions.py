"""Sending pending conversions: the sender's batches (1,000 events a request, one transaction each)
against the obvious baseline, one request and one transaction per event; plus the outbox build.

    .venv/bin/python benchmarks/bench_conversions.py [--leads 2000]

Uses HYPERDASH_TEST_PG_URL when set, else a throwaway embedded PostgreSQL. Both senders send the same
`--leads` Meta Lead events to a local HTTP server on 127.0.0.1 answering like the Conversions API, from
fresh BI databases on the same server. The load average is printed beside the figures: on a shared
machine they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from hyperdash_pipeline.connections import connect
from hyperdash_pipeline.conversions.outbox import build_outbox
from hyperdash_pipeline.conversions.sender import ConversionsResource, send_platform
from hyperdash_pipeline.embedded import database_url, start_embedded, stop_embedded
from hyperdash_pipeline.migrate import migrate_all
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import TEST_PG_URL_VAR, libpq_url

APPLICATION = "hyperdash-bench-conversions"


class _Accepting(BaseHTTPRequestHandler):
    """Answers every Conversions API request with events_received = the number of events sent."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        payload = json.dumps({"events_received": len(body["data"]), "fbtrace_id": "bench"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _fresh_bi(admin_url: str, leads: int) -> tuple[str, list[str]]:
    """A migrated BI database with one organization, its Meta destination and `leads` mirrored leads."""
    name = f"bench_conv_{uuid.uuid4().hex[:8]}"
    with connect(admin_url, "admin", APPLICATION, autocommit=True) as conn:
        for database in (name, f"{name}_crm"):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = (
        admin_url.rsplit("/", 1)[0] + f"/{name}"
        if "?" not in admin_url
        else admin_url.replace("/postgres?", f"/{name}?")
    )
    migrate_all(url.replace(name, f"{name}_crm"), url)
    with connect(url, "bi", APPLICATION) as conn:
        org = conn.execute("INSERT INTO organizations (name, slug) VALUES ('B', 'b') RETURNING id").fetchone()
        assert org is not None
        conn.execute(
            "INSERT INTO integrations (organization_id, provider, account_id, conversions_config) "
            "VALUES (%s, 'meta', 'act_1', %s)",
            (org[0], Jsonb({"dataset_id": "123456789"})),
        )
        conn.execute(
            "INSERT INTO crm_raw.leads (id, organization_id, email, phone, status, fbclid, attribution_synced, "
            "created_at, updated_at) SELECT gen_random_uuid(), %s, 'lead' || n || '@example.com', "
            "'+55 11 9' || lpad(n::text, 8, '0'), 'new', 'IwAR-' || n, false, now() - interval '1 hour', "
            "now() - interval '1 hour' FROM generate_series(1, %s) AS n",
            (org[0], leads),
        )
    return url, [name, f"{name}_crm"]


def _build(url: str) -> float:
    began = time.perf_counter()
    with connect(url, "bi", APPLICATION) as conn:
        build_outbox(conn, ["qualified", "won"], None)
    return time.perf_counter() - began


def _send(url: str, base_url: str, batch_size: int) -> tuple[float, int]:
    settings = ConversionsResource(meta_graph_url=base_url, meta_access_token="T", meta_batch_size=batch_size)
    began = time.perf_counter()
    report = send_platform(PostgresResource(url=url, application_name=APPLICATION), settings, "meta")
    return time.perf_counter() - began, report.counts["sent"]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=2000)
    args = parser.parse_args()
    home = None
    admin = os.environ.get(TEST_PG_URL_VAR)
    if admin:
        admin = libpq_url(admin)
    else:
        home = Path(tempfile.mkdtemp(prefix="hd-bench-conv-"))
        admin = database_url(start_embedded(home), "postgres")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    created: list[str] = []
    try:
        batched_url, names = _fresh_bi(admin, args.leads)
        created += names
        baseline_url, names = _fresh_bi(admin, args.leads)
        created += names
        print(f"load average before: {_load()}")
        build = _build(batched_url)
        _build(baseline_url)
        print(f"outbox build, {args.leads} leads (read, hash, COPY, merge): {build:.2f}s  [load {_load()}]")
        batched, sent = _send(batched_url, base_url, 1000)
        print(f"batched sender (1,000 a request): {sent} events in {batched:.2f}s  [load {_load()}]")
        baseline, sent = _send(baseline_url, base_url, 1)
        print(f"baseline (1 event a request and transaction): {sent} events in {baseline:.2f}s  [load {_load()}]")
        print(f"ratio (baseline / batched): {baseline / batched:.1f}x")
    finally:
        server.shutdown()
        with connect(admin, "admin", APPLICATION, autocommit=True) as conn:
            for name in created:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if home is not None:
            stop_embedded(home)


if __name__ == "__main__":
    main()
