"""Google Ads API over REST: ad-level daily metrics with GAQL on `ad_group_ad` and `segments.date`.

`POST /<version>/customers/<id>/googleAds:search` with `{"query", "pageToken"}` answers
`{"results": [GoogleAdsRow...], "nextPageToken": ..., "fieldMask": ...}` (no `nextPageToken` on the last
page, no `results` at all when nothing matched). Rows use camelCase JSON; int64 metrics such as
`metrics.costMicros` are JSON strings and zero-valued metrics are omitted. Cost is in micros of the
account currency (`customer.currencyCode`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from hyperdash_pipeline.ingestion.credentials import Credentials, token_from
from hyperdash_pipeline.ingestion.http import AdPlatformError, JsonHttpClient, MalformedResponseError, RetrySettings
from hyperdash_pipeline.ingestion.rows import (
    FetchResult,
    MetricRow,
    RejectedRow,
    RowError,
    as_decimal,
    as_int,
    canonical_account_id,
)

GOOGLE_TOKEN_VAR = "GOOGLE_ADS_REFRESH_TOKEN"
GOOGLE_DEVELOPER_TOKEN_VAR = "GOOGLE_ADS_DEVELOPER_TOKEN"
MICROS = Decimal(1_000_000)

GAQL = """
SELECT customer.currency_code, campaign.id, campaign.name, ad_group.id, ad_group.name,
       ad_group_ad.ad.id, ad_group_ad.ad.name, segments.date,
       metrics.cost_micros, metrics.impressions, metrics.clicks, metrics.conversions,
       metrics.conversions_value, {video_field}
  FROM ad_group_ad
 WHERE segments.date BETWEEN '{date_from}' AND '{date_to}'
""".strip()


def _camel(path: str) -> list[str]:
    """`metrics.video_trueview_views` -> ["metrics", "videoTrueviewViews"] (the REST JSON names)."""
    parts = []
    for part in path.split("."):
        head, *rest = part.split("_")
        parts.append(head + "".join(word.capitalize() for word in rest))
    return parts


def _get(row: dict[str, Any], path: list[str]) -> Any:
    value: Any = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def google_is_retryable(status: int, body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("status") in {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL"}


def parse_google_row(row: Any, customer_id: str, video_field: list[str]) -> MetricRow:
    if not isinstance(row, dict):
        raise RowError("row is not a JSON object")
    day, campaign_id = _get(row, ["segments", "date"]), _get(row, ["campaign", "id"])
    currency = _get(row, ["customer", "currencyCode"])
    for name, value in (("segments.date", day), ("campaign.id", campaign_id), ("customer.currencyCode", currency)):
        if not value:
            raise RowError(f"{name} is missing")
    try:
        parsed_day = date.fromisoformat(str(day))
    except ValueError:
        raise RowError(f"segments.date {day!r} is not a date") from None
    metrics = row.get("metrics") or {}
    ad_group_id, ad_id = _get(row, ["adGroup", "id"]), _get(row, ["adGroupAd", "ad", "id"])
    return MetricRow(
        source="google",
        account_id=customer_id,
        campaign_id=str(campaign_id),
        ad_set_id=str(ad_group_id) if ad_group_id else None,
        ad_id=str(ad_id) if ad_id else None,
        date=parsed_day,
        campaign_name=_get(row, ["campaign", "name"]),
        ad_name=_get(row, ["adGroupAd", "ad", "name"]) or _get(row, ["adGroup", "name"]),
        currency=str(currency).upper(),
        spend=as_decimal(metrics.get("costMicros"), "metrics.costMicros") / MICROS,
        impressions=as_int(metrics.get("impressions"), "metrics.impressions"),
        clicks=as_int(metrics.get("clicks"), "metrics.clicks"),
        conversions=as_decimal(metrics.get("conversions"), "metrics.conversions"),
        conversion_value=as_decimal(metrics.get("conversionsValue"), "metrics.conversionsValue"),
        # Google has no 3-second view metric; a TrueView view (30 s or the whole ad) is the ThruPlay analogue.
        thruplays=as_int(_get(row, video_field), ".".join(video_field)),
    )


class GoogleAdsResource(ConfigurableResource):
    """Client of the Google Ads API (REST). Tokens are never logged or put in metadata.

    With `client_id` and `client_secret` set, the tokens (the default one and any integration's own
    variable) are OAuth refresh tokens, exchanged for an access token at run time; without them they
    are used as access tokens directly.
    """

    developer_token: str | None = Field(default=None, description=f"EnvVar('{GOOGLE_DEVELOPER_TOKEN_VAR}')")
    refresh_token: str | None = Field(default=None, description=f"EnvVar('{GOOGLE_TOKEN_VAR}')")
    client_id: str | None = Field(default=None)
    client_secret: str | None = Field(default=None)
    login_customer_id: str | None = Field(default=None, description="manager (MCC) account id, digits only")
    api_base_url: str = Field(default="https://googleads.googleapis.com")
    api_version: str = Field(default="v22")
    token_url: str = Field(default="https://oauth2.googleapis.com/token")
    video_views_field: str = Field(default="metrics.video_trueview_views")
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = Field(default=2.0, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)

    def credentials(self, env_var: str | None) -> Credentials:
        if not self.developer_token:
            return Credentials(None, f"environment variable {GOOGLE_DEVELOPER_TOKEN_VAR} is not set")
        return token_from(env_var, self.refresh_token, GOOGLE_TOKEN_VAR)

    def _client(self, name: str) -> JsonHttpClient:
        settings = RetrySettings(self.max_attempts, self.backoff_seconds, timeout_seconds=self.timeout_seconds)
        return JsonHttpClient(name, settings, google_is_retryable)

    def _access_token(self, token: str) -> str:
        if not (self.client_id and self.client_secret):
            return token
        body = self._client("Google OAuth").request(
            "POST",
            self.token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
        )
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise MalformedResponseError("Google OAuth token answer has no access_token")
        return body["access_token"]

    def fetch_ad_metrics(self, customer_id: str, date_from: date, date_to: date, token: str) -> FetchResult:
        """Every ad's daily metrics of customer `customer_id` from `date_from` to `date_to` (inclusive), all pages."""
        customer = canonical_account_id("google", customer_id)
        if not customer.isdigit():
            raise AdPlatformError(f"Google Ads customer id {customer_id!r} is not 10 digits (e.g. 123-456-7890)")
        headers = {"Authorization": f"Bearer {self._access_token(token)}", "developer-token": str(self.developer_token)}
        if self.login_customer_id:
            headers["login-customer-id"] = self.login_customer_id.replace("-", "")
        url = f"{self.api_base_url.rstrip('/')}/{self.api_version}/customers/{customer}/googleAds:search"
        query = GAQL.format(video_field=self.video_views_field, date_from=date_from, date_to=date_to)
        video_field = _camel(self.video_views_field)
        client, result, page_token = self._client("Google Ads search"), FetchResult(), None
        while True:
            body: dict[str, Any] = {"query": query} | ({"pageToken": page_token} if page_token else {})
            page = client.request("POST", url, json_body=body, headers=headers)
            result.pages += 1
            rows, page_token = _page_parts(page, result.pages)
            for index, row in enumerate(rows):
                try:
                    result.rows.append(parse_google_row(row, customer, video_field))
                except RowError as exc:
                    ref = f"google customer {customer} search page {result.pages} row {index + 1}"
                    result.rejected.append(RejectedRow(ref, str(exc), row if isinstance(row, dict) else {"row": row}))
            if not page_token:
                break
        result.http_calls, result.retries = client.attempts_made, client.retries
        return result


def _page_parts(page: Any, number: int) -> tuple[list[Any], str | None]:
    if not isinstance(page, dict):
        raise MalformedResponseError(f"Google Ads search page {number} is not a JSON object")
    rows = page.get("results", [])
    token = page.get("nextPageToken")
    if not isinstance(rows, list) or (token is not None and not isinstance(token, str)):
        raise MalformedResponseError(
            f"Google Ads search page {number}: `results` is not a list or `nextPageToken` not a string"
        )
    return rows, token or None
