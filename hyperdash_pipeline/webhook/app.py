"""The ASGI application: POST /webhooks/leads, /healthz, /readyz and /openapi.json.

Starlette rather than a bigger framework: the service is four routes whose hot path must stay cheap
(1,000+ leads/s on two cores), and Starlette adds almost nothing over raw ASGI while giving routing,
lifespan and a tested request object. Validation is pydantic (already here through Dagster).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hyperdash_pipeline.webhook import intake, logs
from hyperdash_pipeline.webhook.config import WebhookConfig
from hyperdash_pipeline.webhook.intake import Rejection
from hyperdash_pipeline.webhook.openapi import openapi_document
from hyperdash_pipeline.webhook.signing import verify
from hyperdash_pipeline.webhook.store import Outcome, SourceCache, insert_lead, make_pool

LEADS_PATH = "/webhooks/leads"
log = logs.logger


def json_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class LeadIntake:
    """The POST handler, holding the pool and source cache the lifespan opens."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.pool = make_pool(config.crm_url, config.pool_size)
        self.sources = SourceCache(self.pool, config.source_cache_seconds)

    async def post(self, request: Request) -> Response:
        started = time.perf_counter()
        context: dict[str, Any] = {"request_id": uuid.uuid4().hex}
        try:
            status, body = await self._handle(request, context)
        except Rejection as rejection:
            status, body = rejection.status, rejection.body()
            context["error"] = rejection.code
        except (psycopg.OperationalError, PoolTimeout) as exc:
            status, body = 503, Rejection(503, "crm_unavailable", "the CRM is not answering; retry later").body()
            context["error"], context["exception"] = "crm_unavailable", type(exc).__name__
        except psycopg.DataError as exc:  # a value validation let through; the CRM is the last line
            status, body = 422, Rejection(422, "invalid_lead", "the CRM refused a value of this lead").body()
            context["error"], context["sqlstate"] = "invalid_lead", exc.sqlstate
        context["status"] = status
        context["ms"] = round((time.perf_counter() - started) * 1000, 2)
        log.info("lead_post", extra=context)
        return json_response(status, body)

    async def _handle(self, request: Request, context: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        media = intake.media_type(request.headers.get("content-type"))
        raw = await intake.read_capped(
            request.headers.get("content-length"), request.stream(), self.config.max_body_bytes
        )
        context["bytes"] = len(raw)
        timestamp, signature = intake.signature_headers(request.headers, time.time(), self.config.tolerance_seconds)
        key = intake.idempotency_key(request.headers, raw)
        data = intake.parse_body(media, raw)
        source = await self.sources.get(intake.organization_key(data))
        if source is None:
            raise Rejection(401, "unknown_organization", "the organization is unknown or its webhook is inactive")
        context["organization_id"] = str(source.organization_id)
        if not verify(source.keys, timestamp, raw, signature):
            raise Rejection(401, "bad_signature", "the signature does not match the body and timestamp")
        lead = intake.validate_lead(data)
        async with self.pool.connection() as conn:
            outcome = await insert_lead(
                conn,
                organization_id=source.organization_id,
                idempotency_key=key,
                signature=signature,
                body_sha256=hashlib.sha256(raw).digest(),
                lead=lead.sql_params(),
            )
        return self._answer(outcome, context)

    @staticmethod
    def _answer(outcome: Outcome, context: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if outcome.conflict == "replay":
            raise Rejection(
                409,
                "replayed_request",
                "this signed request was already received; to retry, sign again with a fresh timestamp",
            )
        if outcome.conflict == "idempotency_key_reused":
            raise Rejection(422, "idempotency_key_reused", "this Idempotency-Key was used for a different body")
        context["lead_id"] = str(outcome.lead_id)
        context["new_lead"] = outcome.created
        status = 201 if outcome.created else 200
        return status, {"lead_id": str(outcome.lead_id), "created": outcome.created}

    async def ready(self, request: Request) -> Response:
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                await conn.execute("SELECT 1 FROM webhook_sources LIMIT 0")
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("not_ready", extra={"exception": type(exc).__name__})
            return json_response(503, Rejection(503, "crm_unavailable", "the CRM is not answering").body())
        return json_response(200, {"status": "ready"})


async def healthz(request: Request) -> Response:
    return json_response(200, {"status": "ok"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON like every other answer (keeping the Allow header of a 405)."""
    assert isinstance(exc, HTTPException)
    body = {"error": {"code": f"http_{exc.status_code}", "message": exc.detail}}
    return json_response(exc.status_code, body, exc.headers)


def create_app(config: WebhookConfig | None = None) -> Starlette:
    """The application; uvicorn calls this factory in each worker (config from the environment)."""
    config = config or WebhookConfig.from_env()
    handler = LeadIntake(config)
    document = orjson.dumps(openapi_document())

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await handler.pool.open(wait=False)
        log.info("webhook_started", extra={"max_body_bytes": config.max_body_bytes, "pool_size": config.pool_size})
        try:
            yield
        finally:
            await handler.pool.close()

    return Starlette(
        routes=[
            Route(LEADS_PATH, handler.post, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", handler.ready, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
