"""`hyperdash webhook` (serve) and `hyperdash webhook-secret` (create or rotate an organization's secret)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import sys
import uuid

import psycopg

from hyperdash_pipeline.embedded import export_database_urls
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.security.secrets import Keyring, SecretKeyError, new_key
from hyperdash_pipeline.settings import CRM_URL_VAR, read_sql
from hyperdash_pipeline.webhook import logs
from hyperdash_pipeline.webhook.config import LOG_LEVEL_VAR, WEBHOOK_URL_VAR, WebhookConfig, WebhookConfigError
from hyperdash_pipeline.webhook.signing import new_secret, secret_key

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
APP_FACTORY = "hyperdash_pipeline.webhook.app:create_app"
_NOT_MIGRATED = "the CRM has no webhook_sources table; run `hyperdash migrate` first"


def _crm_url() -> str:
    """CRM_DATABASE_URL when set (the webhook needs nothing else), else the embedded default."""
    return os.environ.get(CRM_URL_VAR) or export_database_urls().crm


def _crm(url: str) -> PostgresResource:
    return PostgresResource(url=url, application_name="hyperdash-webhook-cli", statement_timeout_ms=30_000)


def _check_migrated(url: str) -> bool:
    with _crm(url).connection() as conn:
        row = conn.execute("SELECT to_regclass('webhook_sources') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _fail(command: str, message: str) -> int:
    print(f"hyperdash {command}: {message}", file=sys.stderr)
    return 2


def _http_protocol(choice: str) -> type[asyncio.Protocol]:
    """uvicorn's protocol for `choice` with a header deadline (webhook/protocol.py); auto prefers httptools."""
    from hyperdash_pipeline.webhook.protocol import PROTOCOLS

    if choice == "auto":
        choice = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return PROTOCOLS[choice]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    url = os.environ.get(WEBHOOK_URL_VAR) or _crm_url()
    os.environ[CRM_URL_VAR] = os.environ.get(CRM_URL_VAR) or url
    os.environ[LOG_LEVEL_VAR] = args.log_level.upper()
    try:
        config = WebhookConfig.from_env()
    except WebhookConfigError as exc:
        return _fail("webhook", str(exc))
    if not _check_migrated(config.crm_url):
        return _fail("webhook", _NOT_MIGRATED)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        http=_http_protocol(args.http),
        limit_concurrency=config.max_connections,
        timeout_keep_alive=5,
        log_config=logs.log_config(config.log_level),
        access_log=False,
        server_header=False,
        backlog=4096,
        timeout_graceful_shutdown=10,
    )
    return 0


def _secret(args: argparse.Namespace) -> int:
    try:
        organization_id = uuid.UUID(args.organization)
    except ValueError:
        return _fail("webhook-secret", f"--organization {args.organization!r} is not a UUID")
    if args.slug is not None and not _SLUG.match(args.slug):
        print(
            "hyperdash webhook-secret: --slug must be 2-63 of a-z, 0-9 and '-', starting alphanumeric", file=sys.stderr
        )
        return 2
    url = _crm_url()
    if not _check_migrated(url):
        print(
            "hyperdash webhook-secret: the CRM has no webhook_sources table; run `hyperdash migrate` first",
            file=sys.stderr,
        )
        return 2
    try:
        keyring = Keyring.from_env()
    except SecretKeyError as exc:
        return _fail("webhook-secret", str(exc))
    secret = new_secret()
    params = {
        "organization_id": organization_id,
        "slug": args.slug or f"org-{organization_id.hex[:12]}",
        "new_slug": args.slug,
        "secret": keyring.encrypt(organization_id, secret_key(secret)),
        "grace_seconds": args.grace_hours * 3600,
    }
    try:
        with _crm(url).connection() as conn:
            row = conn.execute(read_sql("webhook/upsert_source.sql"), params).fetchone()
    except psycopg.errors.UniqueViolation:
        print(
            f"hyperdash webhook-secret: slug {args.slug!r} belongs to another organization; pick another",
            file=sys.stderr,
        )
        return 2
    assert row is not None
    slug, rotated = row
    what = f"rotated (the previous secret verifies for {args.grace_hours}h more)" if rotated else "created"
    print(f"webhook secret {what} for organization {organization_id} (slug {slug}).", file=sys.stderr)
    print("It is shown once: store it in the landing page's server configuration now.", file=sys.stderr)
    print(secret)
    return 0


def _reencrypt(args: argparse.Namespace) -> int:
    """Every stored secret under the current key (after a key rotation, or for rows from before encryption)."""
    try:
        keyring = Keyring.from_env()
    except SecretKeyError as exc:
        return _fail("webhook-reencrypt", str(exc))
    url = _crm_url()
    if not _check_migrated(url):
        return _fail("webhook-reencrypt", _NOT_MIGRATED)
    with _crm(url).connection() as conn:
        rows = conn.execute(
            "SELECT organization_id, secret, previous_secret FROM webhook_sources FOR UPDATE"
        ).fetchall()
        try:
            updates = [_resealed(keyring, *row) for row in rows]
        except SecretKeyError as exc:
            conn.rollback()
            return _fail("webhook-reencrypt", f"{exc}; nothing was changed")
        changed = [update for update in updates if update is not None]
        for update in changed:
            conn.execute(
                "UPDATE webhook_sources SET secret = %s, previous_secret = %s WHERE organization_id = %s", update
            )
    print(f"re-encrypted {len(changed)} of {len(rows)} webhook secrets under the current key")
    return 0


def _resealed(
    keyring: Keyring, organization_id: uuid.UUID, secret: bytes, previous: bytes | None
) -> tuple[bytes, bytes | None, uuid.UUID] | None:
    """(secret, previous_secret, organization_id) sealed under the current key, or None when they already are."""
    stored = [None if value is None else bytes(value) for value in (secret, previous)]
    if all(value is None or keyring.is_current(value) for value in stored):
        return None
    sealed = [
        None if v is None else keyring.encrypt(organization_id, keyring.decrypt(organization_id, v)) for v in stored
    ]
    assert sealed[0] is not None
    return sealed[0], sealed[1], organization_id


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("webhook", help="serve the lead capture webhook (POST /webhooks/leads) under uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1; ~1 per core)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"], help="event loop")
    serve.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"], help="HTTP parser")
    serve.set_defaults(handler=_serve)

    secret = sub.add_parser("webhook-secret", help="create or rotate an organization's webhook secret; prints it once")
    secret.add_argument("--organization", required=True, help="the organization's id (UUID)")
    secret.add_argument("--slug", help="short name landing pages may post as organization (default org-<id prefix>)")
    secret.add_argument(
        "--grace-hours", type=int, default=24, help="hours the previous secret keeps verifying after a rotation"
    )
    secret.set_defaults(handler=_secret)

    reencrypt = sub.add_parser(
        "webhook-reencrypt", help="re-encrypt every webhook secret with the first key of HYPERDASH_SECRET_KEY"
    )
    reencrypt.set_defaults(handler=_reencrypt)

    key = sub.add_parser("webhook-key", help="print a fresh key for HYPERDASH_SECRET_KEY")
    key.set_defaults(handler=lambda args: print(new_key()) or 0)
