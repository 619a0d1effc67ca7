"""The creative recommendation rule: pure functions over counts, no database, unit-testable.

The rule (docs/contracts.md#recommendations: no call on a tiny sample):
- insufficient_data: fewer than `min_leads` live attributed leads;
- pause: the upper bound of the creative's lead-to-customer interval is below the account's rate
  AND its cost per customer is worse (no customer at all for its spend, or a CAC above the account's);
- scale: the lower bound of the interval is above the account's rate;
- keep: otherwise (the interval contains the account rate, or it converts worse but buys customers
  no more expensively).
The account is the creative's organization on the same source (its ad account on that platform).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hyperdash_pipeline.insights.stats import wilson_interval, z_for_confidence

Recommendation = Literal["pause", "scale", "keep", "insufficient_data"]

RULE_TEXT = (
    "insufficient_data when leads < min_leads; pause when the upper bound of the lead-to-customer "
    "interval < account rate and CAC is worse (no customers, or CAC > account CAC); scale when the "
    "lower bound > account rate; keep otherwise"
)

# The part of the rule behind each call, in words (the report shows it beside the evidence).
RULE_WORDS: dict[str, str] = {
    "insufficient_data": "no call below the minimum number of leads",
    "pause": "pause when even the top of the interval is below the account rate and a customer costs more "
    "than the account's (or none was bought)",
    "scale": "scale when even the bottom of the interval is above the account rate",
    "keep": "keep when the interval contains the account rate, or it converts worse but its customers cost no more",
}


@dataclass(frozen=True)
class DecisionRule:
    min_leads: int = 30
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.min_leads < 1:
            raise ValueError(f"min_leads must be at least 1, got {self.min_leads}")
        z_for_confidence(self.confidence)  # validates the range


@dataclass(frozen=True)
class Outcomes:
    """What a creative (or a whole account) spent and what its leads became."""

    leads: int
    customers: int
    spend: float

    @property
    def rate(self) -> float | None:
        return self.customers / self.leads if self.leads else None

    @property
    def cpl(self) -> float | None:
        return self.spend / self.leads if self.leads else None

    @property
    def cac(self) -> float | None:
        return self.spend / self.customers if self.customers else None


@dataclass(frozen=True)
class Decision:
    recommendation: Recommendation
    reason: str
    evidence: dict[str, Any]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _hook_phrase(hook_rate: float | None, percentile: float | None) -> str:
    if hook_rate is None:
        return ""
    label = ""
    if percentile is not None and percentile > 0.75:
        label = " (top quartile)"
    elif percentile is not None and percentile <= 0.25:
        label = " (bottom quartile)"
    return f"hook rate {_pct(hook_rate)}{label}"


def _cost_worse(creative: Outcomes, account: Outcomes) -> bool:
    if creative.spend <= 0:
        return False
    if creative.customers == 0:
        return True
    account_cac = account.cac
    return account_cac is not None and creative.cac is not None and creative.cac > account_cac


def _evidence(
    creative: Outcomes,
    account: Outcomes,
    rule: DecisionRule,
    interval: tuple[float, float] | None,
    hook_rate: float | None,
    hook_rate_percentile: float | None,
) -> dict[str, Any]:
    return {
        "leads": creative.leads,
        "customers": creative.customers,
        "lead_to_customer_rate": creative.rate,
        "interval": None
        if interval is None
        else {"low": interval[0], "high": interval[1], "confidence": rule.confidence, "method": "wilson"},
        "spend": creative.spend,
        "cpl": creative.cpl,
        "cac": creative.cac,
        "hook_rate": hook_rate,
        "hook_rate_percentile": hook_rate_percentile,
        "account": {
            "leads": account.leads,
            "customers": account.customers,
            "lead_to_customer_rate": account.rate,
            "spend": account.spend,
            "cpl": account.cpl,
            "cac": account.cac,
        },
        "thresholds": {"min_leads": rule.min_leads, "confidence": rule.confidence},
        "rule": RULE_TEXT,
    }


def decide(
    creative: Outcomes,
    account: Outcomes,
    rule: DecisionRule | None = None,
    *,
    hook_rate: float | None = None,
    hook_rate_percentile: float | None = None,
) -> Decision:
    """Pause, scale, keep or insufficient_data for one creative, with its reason in words and the evidence."""
    rule = rule or DecisionRule()
    account_rate = account.rate
    interval = wilson_interval(creative.customers, creative.leads, z_for_confidence(rule.confidence))
    evidence = _evidence(creative, account, rule, interval, hook_rate, hook_rate_percentile)

    if creative.leads < rule.min_leads or interval is None or account_rate is None:
        reason = (
            f"only {creative.leads} leads ({creative.customers} became customers); "
            f"at least {rule.min_leads} leads are needed before judging lead quality"
        )
        return Decision("insufficient_data", reason, evidence)

    low, high = interval
    conf = f"{rule.confidence * 100:g}%"
    quality = (
        f"{creative.customers} of {creative.leads} leads became customers "
        f"({_pct(creative.customers / creative.leads)}, {conf} CI {_pct(low)[:-1]}-{_pct(high)}) "
        f"against {_pct(account_rate)} for the account"
    )
    hook = _hook_phrase(hook_rate, hook_rate_percentile)
    costs = f"CAC {_money(creative.cac)} against {_money(account.cac)} for the account"

    if high < account_rate:
        if _cost_worse(creative, account):
            lead = f"{hook} but {quality}" if hook else quality
            return Decision("pause", f"{lead}; {costs}", evidence)
        why = "no spend recorded to weigh" if creative.spend <= 0 else "its customers cost no more"
        return Decision("keep", f"{quality}, but {why} ({costs})", evidence)
    if low > account_rate:
        lift = f"{creative.customers / creative.leads / account_rate:.1f}x" if account_rate > 0 else "above"
        lead = f"{hook}; {quality}" if hook else quality
        return Decision("scale", f"{lead}: its leads convert {lift} the account rate; {costs}", evidence)
    lead = f"{hook}; {quality}" if hook else quality
    return Decision("keep", f"{lead}: the interval contains the account rate, no significant difference", evidence)


def percentile_ranks(values: Sequence[float | None]) -> list[float | None]:
    """For each value, the share of the non-null values that are <= it (None stays None)."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return [None for _ in values]
    return [None if v is None else bisect_right(known, v) / len(known) for v in values]
