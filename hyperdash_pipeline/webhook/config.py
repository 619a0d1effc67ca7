"""The webhook's settings, read from the environment so every uvicorn worker process sees the same."""

from __future__ import annotations

import os
from dataclasses import dataclass

from hyperdash_pipeline.settings import CRM_URL_VAR

MAX_BODY_VAR = "HYPERDASH_WEBHOOK_MAX_BODY_BYTES"
TOLERANCE_VAR = "HYPERDASH_WEBHOOK_TOLERANCE_SECONDS"
POOL_SIZE_VAR = "HYPERDASH_WEBHOOK_POOL_SIZE"
LOG_LEVEL_VAR = "HYPERDASH_WEBHOOK_LOG_LEVEL"


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


@dataclass(frozen=True)
class WebhookConfig:
    crm_url: str
    max_body_bytes: int = 64 * 1024
    tolerance_seconds: int = 300
    pool_size: int = 8
    log_level: str = "INFO"
    source_cache_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> WebhookConfig:
        crm_url = os.environ.get(CRM_URL_VAR)
        if not crm_url:
            raise WebhookConfigError(f"{CRM_URL_VAR} is not set; `hyperdash webhook` sets it (embedded CRM by default)")
        return cls(
            crm_url=crm_url,
            max_body_bytes=_int_env(MAX_BODY_VAR, cls.max_body_bytes, 1024, 1024 * 1024),
            tolerance_seconds=_int_env(TOLERANCE_VAR, cls.tolerance_seconds, 1, 3600),
            pool_size=_int_env(POOL_SIZE_VAR, cls.pool_size, 1, 100),
            log_level=os.environ.get(LOG_LEVEL_VAR, cls.log_level).upper(),
        )
