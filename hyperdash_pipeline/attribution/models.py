"""Pure-Python reference of the attribution contract (docs/contracts.md): path building and the five models.

The pipeline computes credits set-based in SQL (sql/transforms/attribution/attribution_credits.sql);
this module states the same rules plainly so property tests can check them and cross-check the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MODELS: tuple[str, ...] = ("first_touch", "last_touch", "linear", "position_based", "time_decay")


@dataclass(frozen=True)
class Touch:
    """One touch of a path; `campaign_id` None means "no campaign" and becomes `(<channel>)`."""

    timestamp: datetime
    channel: str
    campaign_id: str | None = None
    ad_id: str | None = None

    @property
    def campaign(self) -> str:
        return self.campaign_id if self.campaign_id is not None else f"({self.channel})"

    def sort_key(self) -> tuple[datetime, str, str, bool, str]:
        # Ties broken by content (NULL ad_id last, as in PostgreSQL), so input order never matters.
        return (self.timestamp, self.channel, self.campaign, self.ad_id is None, self.ad_id or "")


def build_path(
    touches: Sequence[Touch],
    conversion_time: datetime,
    fallback: Touch,
    lookback: timedelta = timedelta(days=30),
    collapse: bool = True,
) -> list[Touch]:
    """Touches inside [conversion - lookback, conversion], oldest first, consecutive repeats of
    (channel, campaign) collapsed into their first touch; `fallback` when none is left."""
    inside = sorted(
        (t for t in touches if conversion_time - lookback <= t.timestamp <= conversion_time),
        key=Touch.sort_key,
    )
    if not inside:
        return [fallback]
    if not collapse:
        return inside
    path = [inside[0]]
    for touch in inside[1:]:
        if (touch.channel, touch.campaign) != (path[-1].channel, path[-1].campaign):
            path.append(touch)
    return path


def first_touch(n: int) -> list[float]:
    return [1.0 if i == 0 else 0.0 for i in range(n)]


def last_touch(n: int) -> list[float]:
    return [1.0 if i == n - 1 else 0.0 for i in range(n)]


def linear(n: int) -> list[float]:
    return [1.0 / n] * n


def position_based(n: int) -> list[float]:
    """1 touch: 100%; 2 touches: 50/50; n >= 3: 40% first, 40% last, 20% split over the middle."""
    if n == 1:
        return [1.0]
    if n == 2:
        return [0.5, 0.5]
    return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]


def time_decay(ages_days: Sequence[float], half_life_days: float = 7.0) -> list[float]:
    """Weights 2^(-age / half_life), normalised; ages are taken relative to the newest touch so that
    no weight underflows (the normalisation makes that shift irrelevant)."""
    newest = min(ages_days)
    weights = [2.0 ** (-(age - newest) / half_life_days) for age in ages_days]
    total = sum(weights)
    return [w / total for w in weights]


def credits(path: Sequence[Touch], model: str, conversion_time: datetime, half_life_days: float = 7.0) -> list[float]:
    """The credit of each touch of `path` (as built by `build_path`) under `model`."""
    n = len(path)
    if n == 0:
        raise ValueError("a path has at least one touch; build it with build_path")
    if model == "time_decay":
        ages = [(conversion_time - t.timestamp).total_seconds() / 86400.0 for t in path]
        return time_decay(ages, half_life_days)
    rules = {
        "first_touch": first_touch,
        "last_touch": last_touch,
        "linear": linear,
        "position_based": position_based,
    }
    if model not in rules:
        raise ValueError(f"unknown attribution model {model!r}; choose from {', '.join(MODELS)}")
    return rules[model](n)
