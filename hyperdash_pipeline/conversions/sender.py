"""Sending the outbox's pending events, exactly once per platform.

For each destination (an organization's integration with `conversions_config`), batch after batch:
one BI transaction claims the next pending events with `FOR UPDATE SKIP LOCKED` (a concurrent sender
skips them), marks the expired and consent-skipped ones, sends the rest, and writes every outcome
before it commits. A crash between the platform's answer and that commit rolls the claim back: the
events are pending again and the next run sends them with the same event ids, which the platforms
deduplicate (docs/conversions.md#exactly-once).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from hyperdash_pipeline.conversions import store
from hyperdash_pipeline.conversions.google import (
    GOOGLE_BATCH_LIMIT,
    GOOGLE_WINDOW,
    GoogleSender,
    access_token,
)
from hyperdash_pipeline.conversions.meta import DEFAULT_EVENT_NAMES, META_BATCH_LIMIT, META_WINDOW, MetaSender
from hyperdash_pipeline.conversions.store import Destination, OutboxEvent, Outcome
from hyperdash_pipeline.conversions.transport import DeliveryError, Transport
from hyperdash_pipeline.ingestion.credentials import Credentials, token_from
from hyperdash_pipeline.ingestion.google import GOOGLE_DEVELOPER_TOKEN_VAR, GOOGLE_TOKEN_VAR
from hyperdash_pipeline.ingestion.http import RetrySettings, scrub
from hyperdash_pipeline.ingestion.meta import META_TOKEN_VAR
from hyperdash_pipeline.ingestion.rows import canonical_account_id
from hyperdash_pipeline.resources import PostgresResource

PLATFORMS = ("meta", "google")
EVENT_KINDS = ("lead", "qualified", "purchase")
FINAL_STATUSES = ("sent", "rejected", "expired", "skipped_consent")

# Resource field -> the environment variable it is read from (at load time, as dagster.EnvVar).
ENV_FIELDS = {
    "meta_access_token": META_TOKEN_VAR,
    "meta_graph_url": "META_GRAPH_URL",
    "google_developer_token": GOOGLE_DEVELOPER_TOKEN_VAR,
    "google_refresh_token": GOOGLE_TOKEN_VAR,
    "google_client_id": "GOOGLE_ADS_CLIENT_ID",
    "google_client_secret": "GOOGLE_ADS_CLIENT_SECRET",
    "google_login_customer_id": "GOOGLE_ADS_LOGIN_CUSTOMER_ID",
    "google_ads_url": "GOOGLE_ADS_API_URL",
    "google_token_url": "GOOGLE_OAUTH_TOKEN_URL",
}


class ConversionsResource(ConfigurableResource):
    """What the outbox build and the sender need: stage rules, endpoints, tokens (never logged)."""

    qualified_statuses: list[str] = Field(
        default=["qualified", "won"],
        description="CRM lead statuses that count as qualified (a won lead was qualified on its way).",
    )
    default_phone_country_code: str | None = Field(
        default=None,
        description="Country calling code for phones stored without + or 00 (e.g. '55'); "
        "without it such phones are not sent.",
    )
    crm_name: str = Field(default="hyperdash-pipeline", description="Meta custom_data.lead_event_source")
    meta_access_token: str | None = Field(default=None, description=f"EnvVar('{META_TOKEN_VAR}')")
    meta_graph_url: str = Field(default="https://graph.facebook.com", description="EnvVar('META_GRAPH_URL')")
    meta_api_version: str = Field(default="v25.0")
    meta_event_names: dict[str, str] = Field(default=DEFAULT_EVENT_NAMES)
    meta_batch_size: int = Field(default=META_BATCH_LIMIT, ge=1, le=META_BATCH_LIMIT)
    google_developer_token: str | None = Field(default=None)
    google_refresh_token: str | None = Field(default=None)
    google_client_id: str | None = Field(default=None)
    google_client_secret: str | None = Field(default=None)
    google_login_customer_id: str | None = Field(default=None)
    google_ads_url: str = Field(default="https://googleads.googleapis.com", description="EnvVar('GOOGLE_ADS_API_URL')")
    google_token_url: str = Field(default="https://oauth2.googleapis.com/token")
    google_api_version: str = Field(default="v22")
    google_batch_size: int = Field(default=GOOGLE_BATCH_LIMIT, ge=1, le=GOOGLE_BATCH_LIMIT)
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = Field(default=2.0, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)

    def credentials(self, platform: str, env_var: str | None) -> Credentials:
        if platform == "meta":
            return token_from(env_var, self.meta_access_token, META_TOKEN_VAR)
        if not self.google_developer_token:
            return Credentials(None, f"environment variable {GOOGLE_DEVELOPER_TOKEN_VAR} is not set")
        return token_from(env_var, self.google_refresh_token, GOOGLE_TOKEN_VAR)

    def transport(self, platform: str) -> Transport:
        settings = RetrySettings(self.max_attempts, self.backoff_seconds, timeout_seconds=self.timeout_seconds)
        return Transport.create(f"{platform} conversions", settings)


def conversions_resource(environ: dict[str, str] | None = None) -> ConversionsResource:
    """The resource with every variable of ENV_FIELDS that is set: as EnvVar for Dagster (the UI never
    shows a secret), or as plain values from `environ` for the CLI."""
    source = os.environ if environ is None else environ
    kwargs: dict[str, Any] = {
        name: (EnvVar(var) if environ is None else source[var]) for name, var in ENV_FIELDS.items() if source.get(var)
    }
    return ConversionsResource(**kwargs)


@dataclass
class Request:
    """One request as it would leave (the dry run prints these): never a token."""

    platform: str
    destination: str
    url: str
    body: dict[str, Any]


@dataclass
class SendReport:
    platform: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINAL_STATUSES, 0))
    http_calls: int = 0
    retries: int = 0
    unconfigured: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status in self.counts:
                self.counts[outcome.status] += 1


Deliver = Callable[[list[OutboxEvent]], list[Outcome]]
Payload = Callable[[list[OutboxEvent]], dict[str, Any]]


@dataclass
class _Channel:
    """One destination's way out: the events it takes, batch size, window and sender."""

    kinds: list[str]
    batch_size: int
    url: str
    payload: Payload
    deliver: Deliver


def classify(event: OutboxEvent, platform: str, now: datetime, require_consent: bool) -> Outcome | None:
    """The outcome of an event that must not be sent (expired, or consent missing), else None."""
    if require_consent and event.ad_user_data_consent is not True:
        reason = "the organization requires consent and the lead's ad_user_data consent is not granted"
        return Outcome(event.event_id, "skipped_consent", reason, None, attempted=False)
    if platform == "meta" and event.event_time < now - META_WINDOW:
        return Outcome(event.event_id, "expired", "event_time is more than 7 days old (Meta's limit)", None, False)
    if platform == "google":
        reference = event.click_time if event.click_id and event.click_time else event.event_time
        if reference < now - GOOGLE_WINDOW:
            reason = "the click is more than 90 days old (Google's longest click-through window)"
            return Outcome(event.event_id, "expired", reason, None, attempted=False)
    return None


def _meta_channel(settings: ConversionsResource, dest: Destination, token: str, transport: Transport) -> _Channel:
    dataset = str(dest.config.get("dataset_id") or "").strip()
    if not dataset.isdigit():
        raise DeliveryError(
            f"integration {dest.label}: conversions_config has no numeric dataset_id (the Meta pixel / dataset id)"
        )
    url = f"{settings.meta_graph_url.rstrip('/')}/{settings.meta_api_version}/{dataset}/events"
    sender = MetaSender(transport, url, token, settings.meta_event_names, settings.crm_name)
    return _Channel(list(EVENT_KINDS), settings.meta_batch_size, url, sender.payload, sender.deliver)


def _google_channel(
    settings: ConversionsResource, dest: Destination, token: str, transport: Transport, dry_run: bool
) -> _Channel:
    actions = dest.config.get("conversion_actions")
    actions = {k: str(v) for k, v in actions.items() if k in EVENT_KINDS and v} if isinstance(actions, dict) else {}
    if not actions:
        raise DeliveryError(
            f"integration {dest.label}: conversions_config has no conversion_actions "
            '(e.g. {"lead": "customers/1234567890/conversionActions/111"})'
        )
    customer = canonical_account_id("google", dest.account_id)
    base = f"{settings.google_ads_url.rstrip('/')}/{settings.google_api_version}"
    url = f"{base}/customers/{customer}:uploadClickConversions"
    headers = {"developer-token": str(settings.google_developer_token)}
    if not dry_run:
        bearer = token
        if settings.google_client_id and settings.google_client_secret:
            bearer = access_token(
                transport, settings.google_token_url, token, settings.google_client_id, settings.google_client_secret
            )
        headers["Authorization"] = f"Bearer {bearer}"
    if settings.google_login_customer_id:
        headers["login-customer-id"] = settings.google_login_customer_id.replace("-", "")
    sender = GoogleSender(transport, url, headers, actions)
    return _Channel(sorted(actions), settings.google_batch_size, url, sender.payload, sender.deliver)


def send_platform(
    bi: PostgresResource,
    settings: ConversionsResource,
    platform: str,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SendReport:
    """Send (or, with `dry_run`, only build) every pending event of `platform`; see the module doc."""
    report = SendReport(platform)
    with bi.connection() as conn:
        targets = store.destinations(conn, platform)
    for dest in targets:
        credentials = settings.credentials(platform, dest.credentials_env_var)
        if credentials.token is None:
            reason = f"no credentials: {credentials.missing_reason}"
            report.unconfigured.append((dest.label, reason))
            if not dry_run:
                with bi.connection() as conn:
                    store.mark_destination(conn, dest.integration_id, "unconfigured", reason)
                continue
        transport = settings.transport(platform)
        try:
            _send_destination(bi, settings, platform, dest, credentials.token or "", transport, report, dry_run, now)
        except DeliveryError as exc:
            message = scrub(str(exc))
            report.failed.append((dest.label, message))
            if not dry_run:
                with bi.connection() as conn:
                    store.mark_destination(conn, dest.integration_id, "error", message)
        report.http_calls += transport.http_calls
        report.retries += transport.retries
    return report


def _send_destination(
    bi: PostgresResource,
    settings: ConversionsResource,
    platform: str,
    dest: Destination,
    token: str,
    transport: Transport,
    report: SendReport,
    dry_run: bool,
    now: datetime | None,
) -> None:
    if platform == "meta":
        channel = _meta_channel(settings, dest, token, transport)
    else:
        channel = _google_channel(settings, dest, token, transport, dry_run)
    after: OutboxEvent | None = None
    while True:
        with bi.connection() as conn:  # one transaction: claim, send, record
            batch = store.claim(conn, platform, dest, channel.kinds, channel.batch_size, after, lock=not dry_run)
            if not batch:
                break
            after = batch[-1]
            moment = now or datetime.now(UTC)
            held = [(e, classify(e, platform, moment, dest.require_consent)) for e in batch]
            outcomes = [o for _, o in held if o is not None]
            sendable = [e for e, o in held if o is None]
            report.add(outcomes)
            if dry_run:
                if sendable:
                    report.requests.append(Request(platform, dest.label, channel.url, channel.payload(sendable)))
                conn.rollback()
                continue
            try:
                delivered = channel.deliver(sendable)
            except DeliveryError as exc:
                reason = scrub(str(exc))[:500]
                store.record(conn, platform, dest.integration_id, outcomes + [_pending(e, reason) for e in sendable])
                conn.commit()
                raise
            store.record(conn, platform, dest.integration_id, outcomes + delivered)
            report.add(delivered)
    if not dry_run:
        with bi.connection() as conn:
            store.mark_destination(conn, dest.integration_id, "ok", None)


def _pending(event: OutboxEvent, reason: str) -> Outcome:
    return Outcome(event.event_id, "pending", reason, None, attempted=True)
