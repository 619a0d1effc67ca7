"""The one shape every ad source is turned into before it reaches campaign_metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

# Column order of the stage table (sql/transforms/ingestion/stage_create.sql).
STAGE_COLUMNS = (
    "organization_id",
    "source",
    "account_id",
    "campaign_id",
    "ad_set_id",
    "ad_id",
    "date",
    "campaign_name",
    "ad_name",
    "currency",
    "spend",
    "impressions",
    "clicks",
    "link_clicks",
    "conversions",
    "conversion_value",
    "video_3s_views",
    "thruplays",
    "platform_actions",
)


def canonical_account_id(source: str, account_id: str) -> str:
    """The account id as campaign_metrics stores it: Meta without `act_`, Google without dashes."""
    account_id = account_id.strip()
    return account_id.removeprefix("act_") if source == "meta" else account_id.replace("-", "")


_MAX_AMOUNT = Decimal("1e12")
_MAX_BIGINT = 2**63


class RowError(ValueError):
    """One input row cannot be loaded; the message is the quarantine reason."""


@dataclass(frozen=True)
class MetricRow:
    """One ad on one day as a platform reports it (amounts in `currency`, platform-reported conversions)."""

    source: str
    campaign_id: str
    date: date
    currency: str
    account_id: str | None = None
    ad_set_id: str | None = None
    ad_id: str | None = None
    campaign_name: str | None = None
    ad_name: str | None = None
    spend: Decimal = Decimal(0)
    impressions: int = 0
    clicks: int = 0
    link_clicks: int = 0
    conversions: Decimal = Decimal(0)
    conversion_value: Decimal = Decimal(0)
    video_3s_views: int = 0
    thruplays: int = 0
    platform_actions: dict[str, float] | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.campaign_id:
            raise RowError("campaign id is empty")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise RowError(f"currency {self.currency!r} is not an ISO 4217 code such as BRL or USD")
        for name in ("spend", "impressions", "clicks", "link_clicks", "conversions", "conversion_value"):
            if getattr(self, name) < 0:
                raise RowError(f"{name} is negative ({getattr(self, name)})")
        for name in ("spend", "conversions", "conversion_value"):  # campaign_metrics stores numeric(14, 2)
            if getattr(self, name) >= _MAX_AMOUNT:
                raise RowError(f"{name} {getattr(self, name)} is too large for campaign_metrics (max 999999999999.99)")
        for name in ("impressions", "clicks", "link_clicks", "video_3s_views", "thruplays"):
            if getattr(self, name) >= _MAX_BIGINT:
                raise RowError(f"{name} {getattr(self, name)} is too large for a bigint")

    def stage_tuple(self, organization_id: str) -> tuple[Any, ...]:
        actions = json.dumps(self.platform_actions) if self.platform_actions else None
        return (
            organization_id,
            self.source,
            self.account_id,
            self.campaign_id,
            self.ad_set_id,
            self.ad_id,
            self.date,
            self.campaign_name,
            self.ad_name,
            self.currency,
            self.spend,
            self.impressions,
            self.clicks,
            self.link_clicks,
            self.conversions,
            self.conversion_value,
            self.video_3s_views,
            self.thruplays,
            actions,
        )


@dataclass(frozen=True)
class RejectedRow:
    """An input row that was quarantined instead of loaded."""

    source_ref: str
    reason: str
    payload: dict[str, Any]


@dataclass
class FetchResult:
    """What one account's pull produced."""

    rows: list[MetricRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    pages: int = 0
    http_calls: int = 0
    retries: int = 0


def as_decimal(value: Any, name: str) -> Decimal:
    """A platform number (JSON string or number) as a Decimal; RowError when it is not one."""
    if value is None or value == "":
        return Decimal(0)
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise RowError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise RowError(f"{name} is not a finite number: {value!r}")
    return result


def as_int(value: Any, name: str) -> int:
    number = as_decimal(value, name)
    if number != number.to_integral_value():
        raise RowError(f"{name} is not a whole number: {value!r}")
    return int(number)
