"""The webhook's settings, read from the environment so every uvicorn worker process sees the same."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from hyperdash_pipeline.settings import CRM_URL_VAR, hyperdash_home

MAX_BODY_VAR = "HYPERDASH_WEBHOOK_MAX_BODY_BYTES"
TOLERANCE_VAR = "HYPERDASH_WEBHOOK_TOLERANCE_SECONDS"
POOL_SIZE_VAR = "HYPERDASH_WEBHOOK_POOL_SIZE"
LOG_LEVEL_VAR = "HYPERDASH_WEBHOOK_LOG_LEVEL"
WEBHOOK_URL_VAR = "WEBHOOK_DATABASE_URL"
ORG_RATE_VAR = "HYPERDASH_WEBHOOK_ORG_RATE"
ORG_BURST_VAR = "HYPERDASH_WEBHOOK_ORG_BURST"
CLIENT_RATE_VAR = "HYPERDASH_WEBHOOK_CLIENT_RATE"
CLIENT_BURST_VAR = "HYPERDASH_WEBHOOK_CLIENT_BURST"
BODY_TIMEOUT_VAR = "HYPERDASH_WEBHOOK_BODY_TIMEOUT_SECONDS"
SPOOL_VAR = "HYPERDASH_WEBHOOK_SPOOL"
SOURCES_RELOAD_VAR = "HYPERDASH_WEBHOOK_SOURCES_RELOAD_SECONDS"
HEADER_TIMEOUT_VAR = "HYPERDASH_WEBHOOK_HEADER_TIMEOUT_SECONDS"
V1_UNTIL_VAR = "HYPERDASH_WEBHOOK_V1_UNTIL"
V1_UNTIL_DEFAULT = dt.date(2027, 6, 30)  # the end of v1's deprecation window (docs/webhook.md#signatures)
MAX_CONNECTIONS_VAR = "HYPERDASH_WEBHOOK_MAX_CONNECTIONS"


class WebhookConfigError(ValueError):
    """A webhook setting is missing or malformed; the message names the variable to fix."""


def _int_env(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WebhookConfigError(f"{name}={raw!r} is not an integer; set it to {minimum}..{maximum}") from None
    if not minimum <= value <= maximum:
        raise WebhookConfigError(f"{name}={value} is outside {minimum}..{maximum}")
    return value


def _date_env(name: str, default: dt.date) -> dt.date:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise WebhookConfigError(f"{name}={raw!r} is not a date; use YYYY-MM-DD") from None


@dataclass(frozen=True)
class WebhookConfig:
    crm_url: str
    max_body_bytes: int = 64 * 1024
    tolerance_seconds: int = 300
    pool_size: int = 8
    log_level: str = "INFO"
    source_cache_seconds: float = 5.0
    max_batch: int = 64
    org_rate: int = 500  # leads a second per organization, per worker
    org_burst: int = 2000
    client_rate: int = 1000  # requests a second per client address (a landing page server posts for all its visitors)
    client_burst: int = 4000
    body_timeout_seconds: int = 10
    header_timeout_seconds: int = 10
    max_connections: int = 1000  # per worker; uvicorn answers 503 beyond it
    v1_signatures_until: dt.date = V1_UNTIL_DEFAULT
    spool_path: Path | None = None  # None: no durable intake, an unreachable CRM answers 503

    @classmethod
    def from_env(cls) -> WebhookConfig:
        crm_url = os.environ.get(WEBHOOK_URL_VAR) or os.environ.get(CRM_URL_VAR)
        if not crm_url:
            raise WebhookConfigError(
                f"neither {WEBHOOK_URL_VAR} nor {CRM_URL_VAR} is set; `hyperdash webhook` sets the latter"
            )
        spool = os.environ.get(SPOOL_VAR, str(hyperdash_home() / "webhook-spool.sqlite3"))
        return cls(
            crm_url=crm_url,
            source_cache_seconds=float(_int_env(SOURCES_RELOAD_VAR, 5, 1, 3600)),
            org_rate=_int_env(ORG_RATE_VAR, cls.org_rate, 1, 1_000_000),
            org_burst=_int_env(ORG_BURST_VAR, cls.org_burst, 1, 1_000_000),
            client_rate=_int_env(CLIENT_RATE_VAR, cls.client_rate, 1, 1_000_000),
            client_burst=_int_env(CLIENT_BURST_VAR, cls.client_burst, 1, 1_000_000),
            body_timeout_seconds=_int_env(BODY_TIMEOUT_VAR, cls.body_timeout_seconds, 1, 300),
            header_timeout_seconds=_int_env(HEADER_TIMEOUT_VAR, cls.header_timeout_seconds, 1, 300),
            max_connections=_int_env(MAX_CONNECTIONS_VAR, cls.max_connections, 10, 100_000),
            v1_signatures_until=_date_env(V1_UNTIL_VAR, V1_UNTIL_DEFAULT),
            spool_path=None if spool.lower() in ("", "off") else Path(spool),
            max_body_bytes=_int_env(MAX_BODY_VAR, cls.max_body_bytes, 1024, 1024 * 1024),
            tolerance_seconds=_int_env(TOLERANCE_VAR, cls.tolerance_seconds, 1, 3600),
            pool_size=_int_env(POOL_SIZE_VAR, cls.pool_size, 1, 100),
            log_level=os.environ.get(LOG_LEVEL_VAR, cls.log_level).upper(),
        )
