"""A local HTTP server (127.0.0.1, real sockets) that replays ad platform API answers in order.

Each path has a queue of scripted answers; `{base}` in a body is replaced by the server's URL so
Graph API `paging.next` links point back at it. Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # JSON-serialisable, or str sent as is (a malformed body)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class ReplayServer:
    def __init__(self) -> None:
        self.answers: dict[str, deque[Answer]] = defaultdict(deque)
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                server.requests.append(
                    Recorded(
                        self.command, parts.path, parse_qs(parts.query), dict(self.headers), self.rfile.read(length)
                    )
                )
                queue = server.answers.get(parts.path)
                answer = (
                    queue.popleft() if queue else Answer(404, {"error": {"message": f"no answer for {parts.path}"}})
                )
                body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                payload = body.replace("{base}", server.base_url).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add(self, path: str, *answers: Answer) -> None:
        self.answers[path].extend(answers)

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# Realistic answers ------------------------------------------------------------------------------


def meta_row(ad: str, day: str, *, spend: str = "12.34", campaign: str = "c1", adset: str = "s1", **extra: Any) -> dict:
    """One Graph API insights row (level=ad, time_increment=1), numbers as strings like the API sends."""
    row = {
        "account_currency": "BRL",
        "campaign_id": campaign,
        "campaign_name": f"Campaign {campaign}",
        "adset_id": adset,
        "adset_name": f"Ad set {adset}",
        "ad_id": ad,
        "ad_name": f"Ad {ad}",
        "spend": spend,
        "impressions": "1000",
        "clicks": "40",
        "inline_link_clicks": "25",
        "actions": [
            {"action_type": "link_click", "value": "25"},
            {"action_type": "video_view", "value": "300"},
            {"action_type": "lead", "value": "3"},
            {"action_type": "offsite_conversion.fb_pixel_lead", "value": "3"},
            {"action_type": "purchase", "value": "1"},
        ],
        "action_values": [{"action_type": "purchase", "value": "199.90"}],
        "video_thruplay_watched_actions": [{"action_type": "video_view", "value": "120"}],
        "date_start": day,
        "date_stop": day,
    }
    row.update(extra)
    return row


def meta_page(rows: list[dict], next_after: str | None, path: str, token: str = "TEST-META-TOKEN") -> dict:
    page: dict[str, Any] = {"data": rows, "paging": {"cursors": {"before": "QVFIUa", "after": next_after or "QVFIUz"}}}
    if next_after:
        page["paging"]["next"] = f"{{base}}{path}?access_token={token}&limit=2&after={next_after}&level=ad"
    return page


def google_row(ad: str, day: str, *, cost_micros: str = "5250000", currency: str = "USD", **metrics: Any) -> dict:
    """One GoogleAdsRow as the REST API sends it: camelCase, int64 as strings, zero metrics omitted."""
    row_metrics = {"costMicros": cost_micros, "impressions": "800", "clicks": "16", "conversions": 2.0}
    row_metrics.update(metrics)
    return {
        "customer": {"resourceName": "customers/1234567890", "currencyCode": currency},
        "campaign": {"resourceName": "customers/1234567890/campaigns/111", "id": "111", "name": "Search BR"},
        "adGroup": {"resourceName": "customers/1234567890/adGroups/222", "id": "222", "name": "Brand"},
        "adGroupAd": {"resourceName": f"customers/1234567890/adGroupAds/222~{ad}", "ad": {"id": ad, "name": ""}},
        "metrics": row_metrics,
        "segments": {"date": day},
    }
