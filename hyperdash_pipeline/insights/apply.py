"""Apply the recommendation rule to every creative of analytics.creative_performance.

Creatives are few (one row per ad), so the rows come to Python; the rule stays a pure function.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from hyperdash_pipeline.insights.decide import Decision, DecisionRule, Outcomes, decide, percentile_ranks
from hyperdash_pipeline.settings import read_sql

AccountKey = tuple[UUID, str]


@dataclass(frozen=True)
class CreativeRow:
    organization_id: UUID
    source: str
    campaign_id: str
    ad_id: str | None
    leads: int
    customers: int
    spend: float
    hook_rate: float | None  # None: the ad had no video views, so a hook rate does not apply
    campaign_name: str | None = None
    ad_name: str | None = None
    currency: str | None = None

    @property
    def title(self) -> str:
        """How the reason names the creative: its latest names beside its ids."""
        ad = f'ad "{self.ad_name}" ({self.ad_id})' if self.ad_name else f"ad {self.ad_id}"
        campaign = (
            f'campaign "{self.campaign_name}" ({self.campaign_id})'
            if self.campaign_name
            else f"campaign {self.campaign_id}"
        )
        return f"{ad} in {campaign}"

    @property
    def account(self) -> AccountKey:
        return (self.organization_id, self.source)

    @property
    def outcomes(self) -> Outcomes:
        return Outcomes(leads=self.leads, customers=self.customers, spend=self.spend)


@dataclass(frozen=True)
class CreativeDecision:
    creative: CreativeRow
    decision: Decision


def account_baselines(rows: Sequence[CreativeRow]) -> dict[AccountKey, Outcomes]:
    """Totals per (organization, source): the ad account each creative is compared with."""
    totals: dict[AccountKey, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for row in rows:
        acc = totals[row.account]
        acc[0] += row.leads
        acc[1] += row.customers
        acc[2] += row.spend
    return {key: Outcomes(leads=int(v[0]), customers=int(v[1]), spend=float(v[2])) for key, v in totals.items()}


def decide_all(rows: Sequence[CreativeRow], rule: DecisionRule) -> list[CreativeDecision]:
    """One decision per creative with an ad_id; hook-rate percentiles are ranked within each account."""
    baselines = account_baselines(rows)
    creatives = [row for row in rows if row.ad_id is not None]
    by_account: dict[AccountKey, list[CreativeRow]] = defaultdict(list)
    for row in creatives:
        by_account[row.account].append(row)
    decisions: list[CreativeDecision] = []
    for key, members in by_account.items():
        ranks = percentile_ranks([m.hook_rate for m in members])
        for member, rank in zip(members, ranks, strict=True):
            decision = decide(
                member.outcomes, baselines[key], rule, hook_rate=member.hook_rate, hook_rate_percentile=rank
            )
            decisions.append(CreativeDecision(member, decision))
    return decisions


def load_creatives(conn: psycopg.Connection) -> list[CreativeRow]:
    with conn.cursor(row_factory=class_row(CreativeRow)) as cur:
        return cur.execute(read_sql("transforms/insights/creatives.sql")).fetchall()


def write_insights(conn: psycopg.Connection, decisions: Sequence[CreativeDecision]) -> Counter[str]:
    """Replace ai_creative_insights with `decisions` (each reason opens with the creative's names and ids, the
    evidence gives the currency of its money) and stamp creative_performance.recommendation."""
    conn.execute("DELETE FROM public.ai_creative_insights")
    with conn.cursor() as cur, cur.copy(read_sql("transforms/insights/copy_insights.sql")) as copy:
        for d in decisions:
            row = d.creative
            copy.write_row(
                (
                    row.organization_id,
                    row.source,
                    row.campaign_id,
                    row.ad_id,
                    d.decision.recommendation,
                    f"{row.title}: {d.decision.reason}",
                    Jsonb({**d.decision.evidence, "currency": row.currency}),
                )
            )
    conn.execute(read_sql("transforms/insights/set_recommendations.sql"))
    return Counter(d.decision.recommendation for d in decisions)
