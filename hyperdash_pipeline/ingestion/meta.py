"""Meta Marketing API: ad-level daily insights of an ad account (Graph API `/act_<id>/insights`).

Response shape (Graph API): `{"data": [row, ...], "paging": {"cursors": {...}, "next": url}}`; numbers
are JSON strings; `actions` / `action_values` / `video_thruplay_watched_actions` are lists of
`{"action_type": ..., "value": ...}`. 3-second video plays are the `video_view` action; ThruPlays the
`video_view` entry of `video_thruplay_watched_actions`. Rate limits come back as HTTP 400/403 with
`error.code` 4, 17, 32, 613 or 80000-80014, transient errors with `error.is_transient: true`.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from hyperdash_pipeline.ingestion.credentials import Credentials, token_from
from hyperdash_pipeline.ingestion.http import JsonHttpClient, MalformedResponseError, RetrySettings, safe_url
from hyperdash_pipeline.ingestion.rows import (
    FetchResult,
    MetricRow,
    RejectedRow,
    RowError,
    as_decimal,
    as_int,
    canonical_account_id,
)

META_TOKEN_VAR = "META_ACCESS_TOKEN"

INSIGHT_FIELDS = (
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "spend",
    "impressions",
    "clicks",
    "inline_link_clicks",
    "actions",
    "action_values",
    "video_thruplay_watched_actions",
)
_RATE_LIMIT_CODES = {4, 17, 32, 613, *range(80000, 80015)}
_TRANSIENT_CODES = {1, 2}


def meta_is_retryable(status: int, body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return False
    return bool(error.get("is_transient")) or error.get("code") in _RATE_LIMIT_CODES | _TRANSIENT_CODES


def _action_map(items: Any, name: str) -> dict[str, Decimal]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise RowError(f"{name} is not a list of {{action_type, value}}")
    result: dict[str, Decimal] = {}
    for item in items:
        if not isinstance(item, dict) or "action_type" not in item:
            raise RowError(f"{name} has an entry without action_type: {item!r}")
        result[str(item["action_type"])] = as_decimal(item.get("value"), f"{name}[{item['action_type']}]")
    return result


def parse_insight(item: Any, account_id: str, conversion_types: list[str], value_types: list[str]) -> MetricRow:
    """One insights row (one ad, one day) as a MetricRow; RowError names what is wrong with it."""
    if not isinstance(item, dict):
        raise RowError("row is not a JSON object")
    for required in ("campaign_id", "ad_id", "date_start", "account_currency"):
        if not item.get(required):
            raise RowError(f"{required} is missing")
    if item.get("date_stop", item["date_start"]) != item["date_start"]:
        raise RowError("row spans several days (time_increment=1 was not honoured)")
    try:
        day = date.fromisoformat(item["date_start"])
    except ValueError:
        raise RowError(f"date_start {item['date_start']!r} is not a date") from None
    actions = _action_map(item.get("actions"), "actions")
    values = _action_map(item.get("action_values"), "action_values")
    thruplays = _action_map(item.get("video_thruplay_watched_actions"), "video_thruplay_watched_actions")
    platform_actions = {k: float(v) for k, v in actions.items()} | {f"value:{k}": float(v) for k, v in values.items()}
    return MetricRow(
        source="meta",
        account_id=account_id,
        campaign_id=str(item["campaign_id"]),
        ad_set_id=str(item["adset_id"]) if item.get("adset_id") else None,
        ad_id=str(item["ad_id"]),
        date=day,
        campaign_name=item.get("campaign_name"),
        ad_name=item.get("ad_name"),
        currency=str(item["account_currency"]).upper(),
        spend=as_decimal(item.get("spend"), "spend"),
        impressions=as_int(item.get("impressions"), "impressions"),
        clicks=as_int(item.get("clicks"), "clicks"),
        link_clicks=as_int(item.get("inline_link_clicks"), "inline_link_clicks"),
        conversions=sum((actions.get(t, Decimal(0)) for t in conversion_types), Decimal(0)),
        conversion_value=sum((values.get(t, Decimal(0)) for t in value_types), Decimal(0)),
        video_3s_views=int(actions.get("video_view", 0)),
        thruplays=int(thruplays.get("video_view", 0)),
        platform_actions=platform_actions or None,
    )


class MetaAdsResource(ConfigurableResource):
    """Client of the Meta Marketing API (Graph API insights). The token is never logged or put in metadata."""

    access_token: str | None = Field(
        default=None,
        description=f"Default access token (bind with EnvVar('{META_TOKEN_VAR}')); an integration row can "
        "name its own variable in integrations.credentials_env_var.",
    )
    api_base_url: str = Field(default="https://graph.facebook.com")
    api_version: str = Field(default="v25.0")
    page_size: int = Field(default=500, ge=1, le=5000)
    conversion_action_types: list[str] = Field(
        default=["lead", "purchase"],
        description="action_type values summed into campaign_metrics.conversions (the platform's results).",
    )
    conversion_value_action_types: list[str] = Field(
        default=["purchase"], description="action_values summed into campaign_metrics.conversion_value."
    )
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = Field(default=2.0, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)

    def credentials(self, env_var: str | None) -> Credentials:
        return token_from(env_var, self.access_token, META_TOKEN_VAR)

    def fetch_insights(self, account_id: str, date_from: date, date_to: date, token: str) -> FetchResult:
        """Every ad's daily insights of `act_<account_id>` from `date_from` to `date_to` (inclusive), all pages."""
        client = JsonHttpClient(
            "Meta insights",
            RetrySettings(self.max_attempts, self.backoff_seconds, timeout_seconds=self.timeout_seconds),
            meta_is_retryable,
        )
        account = canonical_account_id("meta", account_id)
        url: str | None = f"{self.api_base_url.rstrip('/')}/{self.api_version}/act_{account}/insights"
        params: dict[str, Any] | None = {
            "access_token": token,
            "level": "ad",
            "time_increment": 1,
            "time_range": json.dumps({"since": date_from.isoformat(), "until": date_to.isoformat()}),
            "fields": ",".join(INSIGHT_FIELDS),
            "use_unified_attribution_setting": "true",
            "limit": self.page_size,
        }
        result = FetchResult()
        while url:
            page = client.request("GET", url, params=params)
            result.pages += 1
            data, url = _page_parts(page, url, result.pages)
            params = None  # paging.next carries every parameter (token included)
            for index, item in enumerate(data):
                try:
                    result.rows.append(
                        parse_insight(item, account, self.conversion_action_types, self.conversion_value_action_types)
                    )
                except RowError as exc:
                    ref = f"meta act_{account} insights page {result.pages} row {index + 1}"
                    result.rejected.append(
                        RejectedRow(ref, str(exc), item if isinstance(item, dict) else {"row": item})
                    )
        result.http_calls, result.retries = client.attempts_made, client.retries
        return result


def _page_parts(page: Any, url: str, number: int) -> tuple[list[Any], str | None]:
    """(data, next url) of a Graph API page; MalformedResponseError when it is not that shape."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise MalformedResponseError(
            f"Meta insights page {number} from {safe_url(url)} has no `data` list "
            f"(keys: {sorted(page) if isinstance(page, dict) else type(page).__name__})"
        )
    paging = page.get("paging") or {}
    next_url = paging.get("next") if isinstance(paging, dict) else None
    if next_url is not None and not isinstance(next_url, str):
        raise MalformedResponseError(f"Meta insights page {number}: paging.next is not a URL")
    return page["data"], next_url
