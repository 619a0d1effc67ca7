"""A local HTTP server (127.0.0.1, real sockets) answering like Meta's Conversions API and Google Ads'
uploadClickConversions, in the shapes their documentation gives.

Meta: 200 `{"events_received": n, "messages": [], "fbtrace_id": ...}`; a batch holding any event whose
id is in `meta_bad` gets the whole-batch 400 `error.code` 100 ("Invalid parameter"). Google: 200 with
`results` (empty objects for failed rows) and `partialFailureError.details[].errors[]` located at
`conversions[index]`; an order id seen before gets ORDER_ID_ALREADY_IN_USE, one in `google_bad`
UNPARSEABLE_GCLID. Scripted answers (429, 5xx, malformed bodies) queued per path are served first.
Every request is recorded; `received` keeps each event id the platform accepted, with repeats.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

META_PATH = re.compile(r"^/v[\d.]+/(\d+)/events$")
TOKEN_PATH = "/token"
GOOGLE_PATH = re.compile(r"^/v\d+/customers/(\d+):uploadClickConversions$")


@dataclass
class Scripted:
    status: int
    body: Any  # JSON-serialisable, or str sent as is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class PlatformServer:
    def __init__(self) -> None:
        self.scripted: dict[str, deque[Scripted]] = defaultdict(deque)
        self.requests: list[Seen] = []
        self.received: dict[str, list[str]] = {"meta": [], "google": []}
        self.meta_bad: set[str] = set()
        self.google_bad: set[str] = set()
        self.hold_seconds = 0.0  # delay before answering (a sender can be killed meanwhile)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()} if form else json.loads(raw or b"null")
                with server.lock:
                    server.requests.append(Seen(self.path, dict(self.headers), body))
                    queue = server.scripted.get(self.path)
                    scripted = queue.popleft() if queue else None
                time.sleep(server.hold_seconds)
                answer = scripted or server.answer(self.path, body)
                text = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                payload = text.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def script(self, path: str, *answers: Scripted) -> None:
        self.scripted[path].extend(answers)

    def answer(self, path: str, body: Any) -> Scripted:
        if META_PATH.match(path):
            return self._meta(body)
        if GOOGLE_PATH.match(path):
            return self._google(body)
        if path == TOKEN_PATH:  # Google's OAuth token endpoint: a refresh token for an access token
            return Scripted(200, {"access_token": f"access-for-{body['refresh_token']}", "expires_in": 3599})
        return Scripted(404, {"error": {"message": f"no such endpoint {path}"}})

    def _meta(self, body: Any) -> Scripted:
        ids = [event["event_id"] for event in body["data"]]
        bad = [i for i in ids if i in self.meta_bad]
        if bad:
            return Scripted(
                400,
                {
                    "error": {
                        "message": "Invalid parameter",
                        "type": "OAuthException",
                        "code": 100,
                        "error_subcode": 2804050,
                        "is_transient": False,
                        "error_user_title": "Event Time Too Far In The Past",
                        "error_user_msg": f"The event {bad[0]} has an invalid parameter.",
                        "fbtrace_id": "AbCdEf123",
                    }
                },
            )
        with self.lock:
            self.received["meta"].extend(ids)
        return Scripted(200, {"events_received": len(ids), "messages": [], "fbtrace_id": "AbCdEf456"})

    def _google(self, body: Any) -> Scripted:
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, conversion in enumerate(body["conversions"]):
            order = conversion["orderId"]
            if order in self.google_bad:
                code, message = "UNPARSEABLE_GCLID", "The imported gclid could not be decoded."
            elif order in self.received["google"]:
                code, message = "ORDER_ID_ALREADY_IN_USE", "The order ID is already in use."
            else:
                with self.lock:
                    self.received["google"].append(order)
                results.append({k: conversion.get(k) for k in ("gclid", "conversionAction", "conversionDateTime")})
                continue
            results.append({})
            errors.append(
                {
                    "errorCode": {"conversionUploadError": code},
                    "message": message,
                    "location": {"fieldPathElements": [{"fieldName": "conversions", "index": index}]},
                }
            )
        answer: dict[str, Any] = {"results": results, "jobId": "123456789"}
        if errors:
            answer["partialFailureError"] = {
                "code": 3,
                "message": f"{errors[0]['message']}, at conversions",
                "details": [
                    {"@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure", "errors": errors}
                ],
            }
        return Scripted(200, answer)

    def __enter__(self) -> PlatformServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
