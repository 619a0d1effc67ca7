"""The ASGI application: POST /webhooks/leads, /healthz, /readyz and /openapi.json.

Starlette rather than a bigger framework: the service is four routes whose hot path must stay cheap
(1,000+ leads/s on two cores), and Starlette adds almost nothing over raw ASGI while giving routing,
lifespan and a tested request object. Validation is pydantic (already here through Dagster).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from hyperdash_pipeline.security.secrets import Keyring
from hyperdash_pipeline.webhook import intake, logs
from hyperdash_pipeline.webhook.config import WebhookConfig
from hyperdash_pipeline.webhook.intake import Rejection
from hyperdash_pipeline.webhook.limits import RateLimiter
from hyperdash_pipeline.webhook.openapi import openapi_document
from hyperdash_pipeline.webhook.signing import verify
from hyperdash_pipeline.webhook.sources import Source, SourceRegistry
from hyperdash_pipeline.webhook.spool import Drainer, Spool
from hyperdash_pipeline.webhook.store import LeadPost, LeadWriter, Outcome, WriteRetry, make_pool

LEADS_PATH = "/webhooks/leads"
log = logs.logger


def json_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


RETRY_AFTER_SECONDS = 5
_UNAUTHORIZED = Rejection(401, "unauthorized", "the organization is unknown or the signature does not match")
_UNAVAILABLE = Rejection(
    503, "crm_unavailable", "the CRM is not answering; retry later", retry_after=RETRY_AFTER_SECONDS
)
_V1_RETIRED = Rejection(401, "signature_version_retired", "v1 signatures are retired: sign with v2 (docs/webhook.md)")
# Errors that say the CRM could not be reached or did not answer, not that this lead is wrong.
_CRM_AWAY = (psycopg.OperationalError, PoolTimeout, WriteRetry)


@dataclass(frozen=True)
class Signed:
    """What a request's headers claim: its timestamp, signature and version, and the Idempotency-Key it signs."""

    timestamp: str
    signature: bytes
    version: int
    idempotency_key: str | None


class LeadIntake:
    """The POST handler, holding the pool, the sources, the rate limits and the spool the lifespan opens."""

    def __init__(self, config: WebhookConfig, keyring: Keyring) -> None:
        self.config = config
        self.pool = make_pool(config.crm_url, config.pool_size)
        self.sources = SourceRegistry(self.pool, config.source_cache_seconds, keyring)
        self.writer = LeadWriter(self.pool, max_batch=config.max_batch, max_inflight=max(1, config.pool_size - 1))
        self.org_limits = RateLimiter(config.org_rate, config.org_burst)
        self.client_limits = RateLimiter(config.client_rate, config.client_burst)
        self.spool: Spool | None = None
        self.drainer: Drainer | None = None
        self.crm_away = False  # set by a failed write, cleared by the drainer once the CRM answers again

    def open_spool(self) -> None:
        if self.config.spool_path is not None:
            self.spool = Spool(self.config.spool_path)
            self.drainer = Drainer(self.spool, self.pool)

    async def post(self, request: Request) -> Response:
        started = time.perf_counter()
        context: dict[str, Any] = {"request_id": uuid.uuid4().hex}
        try:
            status, body = await self._handle(request, context)
        except Rejection as rejection:
            status, body = rejection.status, rejection.body()
            context["error"] = rejection.code
            headers = rejection.headers()
        except ClientDisconnect:  # the sender left mid-body: nothing was written, nobody reads the answer
            status, body = 400, Rejection(400, "client_disconnected", "the body was not received in full").body()
            context["error"] = "client_disconnected"
            headers = {}
        else:
            headers = {}
        context["status"] = status
        context["ms"] = round((time.perf_counter() - started) * 1000, 2)
        log.info("lead_post", extra=context)
        return json_response(status, body, headers)

    async def _handle(self, request: Request, context: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self._limit(self.client_limits, request.client.host if request.client else "unknown", "client")
        media = intake.media_type(request.headers.get("content-type"))
        raw = await self._read_body(request)
        context["bytes"] = len(raw)
        timestamp, (version, signature) = intake.signature_headers(
            request.headers, time.time(), self.config.tolerance_seconds
        )
        if version == 1 and dt.date.today() > self.config.v1_signatures_until:
            raise Rejection(
                401, "signature_version_retired", "v1 signatures are retired: sign with v2 (docs/webhook.md)"
            )
        key = intake.idempotency_key(request.headers, raw)
        data = intake.parse_body(media, raw)
        signed = Signed(timestamp, signature, version, request.headers.get(intake.IDEMPOTENCY_HEADER))
        source = self._authenticate(intake.organization_key(data), signed, raw)
        context["organization_id"] = str(source.organization_id)
        self._limit(self.org_limits, context["organization_id"], "organization")
        lead = intake.validate_lead(data)
        post = LeadPost.build(
            organization_id=source.organization_id,
            idempotency_key=key,
            signature=signature,
            body_sha256=hashlib.sha256(raw).digest(),
            lead=lead.sql_params(),
        )
        return await self._store(post, context)

    def _limit(self, limits: RateLimiter, key: str, who: str) -> None:
        wait = limits.take(key, time.monotonic())
        if wait:
            raise Rejection(429, "rate_limited", f"too many requests from this {who}; slow down", retry_after=wait)

    async def _read_body(self, request: Request) -> bytes:
        try:
            async with asyncio.timeout(self.config.body_timeout_seconds):
                return await intake.read_capped(
                    request.headers.get("content-length"), request.stream(), self.config.max_body_bytes
                )
        except TimeoutError:
            seconds = self.config.body_timeout_seconds
            raise Rejection(408, "body_timeout", f"the body did not arrive within {seconds}s") from None

    def _authenticate(self, name: str, signed: Signed, raw: bytes) -> Source:
        """The source whose key signed this body; one answer for an unknown name and a wrong signature."""
        if not self.sources.loaded:  # never reached the CRM since start: nobody can be verified yet
            raise _UNAVAILABLE
        source = self.sources.get(name)
        keys = source.keys(dt.datetime.now(dt.UTC)) if source is not None else (_DECOY_KEY,)
        # An unknown name still costs one HMAC, so timing does not tell it from a known one.
        valid = verify(
            keys,
            signed.timestamp,
            raw,
            signed.signature,
            version=signed.version,
            idempotency_key=signed.idempotency_key,
        )
        if not valid or source is None:
            raise _UNAUTHORIZED
        return source

    async def _store(self, post: LeadPost, context: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Into the CRM, or into the spool when the CRM is away (202), or 503 when neither can take it."""
        if not self.crm_away:
            try:
                return self._answer(await self.writer.write(post), context)
            except _CRM_AWAY as exc:
                context["exception"] = type(exc).__name__
                self.crm_away = True
            except psycopg.Error as exc:
                raise _database_rejection(exc, context) from None
        return await self._spool(post, context)

    async def _spool(self, post: LeadPost, context: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.spool is None:
            raise _UNAVAILABLE
        try:
            await asyncio.to_thread(self.spool.add, post)
        except sqlite3.Error as exc:  # disk full, spool unreadable: refuse rather than pretend
            context["spool_error"] = type(exc).__name__
            raise _UNAVAILABLE from None
        context["spooled"] = True
        return 202, {"accepted": True, "queued": True}

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

    async def maintain(self) -> None:
        """Drain the spool and notice the CRM's return, every second, for the life of the worker."""
        while True:
            try:
                if self.drainer is not None:
                    await self.drainer.drain_once()
                if self.crm_away:
                    async with self.pool.connection(timeout=2.0) as conn:
                        await conn.execute("SELECT 1")
                    self.crm_away = False
                    log.info("crm_back")
            except Exception as exc:  # still away: the next round tries again
                log.warning("crm_still_away", extra={"exception": type(exc).__name__})
            await asyncio.sleep(1.0)

    async def ready(self, request: Request) -> Response:
        try:
            async with self.pool.connection(timeout=2.0) as conn:
                await conn.execute("SELECT 1 FROM webhook_sources LIMIT 0")
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("not_ready", extra={"exception": type(exc).__name__})
            return json_response(503, _UNAVAILABLE.body(), _UNAVAILABLE.headers())
        body: dict[str, Any] = {"status": "ready"}
        if self.spool is not None:
            waiting, refused = await asyncio.to_thread(self.spool.counts)
            body["spool"] = {"waiting": waiting, "refused": refused}
        return json_response(200, body)


_DECOY_KEY = secrets.token_bytes(32)


def _database_rejection(exc: psycopg.Error, context: dict[str, Any]) -> Rejection:
    """Any other database error as a JSON answer with the status that tells the sender what to do."""
    context["sqlstate"] = exc.sqlstate
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):  # its source was deleted after the last reload
        return _UNAUTHORIZED
    if isinstance(exc, (psycopg.DataError, psycopg.IntegrityError)):  # a value validation let through
        context["error"] = "invalid_lead"
        return Rejection(422, "invalid_lead", "the CRM refused a value of this lead")
    context["error"] = "crm_error"
    return Rejection(
        500, "crm_error", "the CRM refused the write; the operator has been told", retry_after=RETRY_AFTER_SECONDS
    )


async def healthz(request: Request) -> Response:
    return json_response(200, {"status": "ok"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON like every other answer (keeping the Allow header of a 405)."""
    assert isinstance(exc, HTTPException)
    body = {"error": {"code": f"http_{exc.status_code}", "message": exc.detail}}
    return json_response(exc.status_code, body, exc.headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: logged with its type and frames, answered as JSON, never as a traceback."""
    log.error("internal_error", exc_info=exc)
    body = {"error": {"code": "internal_error", "message": "the webhook failed on this request; retry later"}}
    return json_response(500, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def create_app(config: WebhookConfig | None = None, keyring: Keyring | None = None) -> Starlette:
    """The application; uvicorn calls this factory in each worker (config and key from the environment)."""
    config = config or WebhookConfig.from_env()
    handler = LeadIntake(config, keyring or Keyring.from_env())
    document = orjson.dumps(openapi_document())

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await handler.pool.open(wait=False)
        handler.open_spool()
        with contextlib.suppress(Exception):  # an absent CRM is not fatal: the reload loop keeps trying
            await handler.sources.reload()
        tasks = [asyncio.create_task(handler.sources.run()), asyncio.create_task(handler.maintain())]
        log.info("webhook_started", extra={"max_body_bytes": config.max_body_bytes, "pool_size": config.pool_size})
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if handler.spool is not None:
                handler.spool.close()
            await handler.pool.close()

    return Starlette(
        routes=[
            Route(LEADS_PATH, handler.post, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", handler.ready, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
