"""Real public data through the attribution tables, checked against direct computations on the same files.

- Olist marketing funnel: 8,000 marketing-qualified leads (origin = source) and 842 closed deals.
- ChannelAttribution example paths: multi-touch journeys whose Markov removal effects we recompute
  straight from the file's path counts.
Both skip unless HYPERDASH_PUBLIC_DATA names the directory holding them (tests/support/public_data.py).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pandas as pd
import psycopg
import pytest
from psycopg.types.json import Jsonb

from hyperdash_pipeline.attribution import markov
from hyperdash_pipeline.attribution.refresh import (
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from tests.support.attribution_support import NOW, ORG, fetch_all
from tests.support.public_data import needs_public_data, public_data

OLIST = public_data("olist_marketing_funnel")
CHANNEL_ATTRIBUTION = public_data("channelattribution_pathdata")


# Olist's lead origins as channel labels (docs/attribution.md#channels): the channel of each, written out.
# "other", "other_publicities" and a missing origin carry nothing a rule knows: unassigned.
CHANNEL_OF_ORIGIN = {
    "direct_traffic": "direct",
    "display": "display",
    "email": "email",
    "organic": "unassigned",
    "organic_search": "organic_search",
    "other": "unassigned",
    "other_publicities": "unassigned",
    "paid_search": "paid_search",
    "referral": "referral",
    "social": "organic_social",
    "unknown": "unassigned",
}


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY crm_raw.{table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()


def _refresh_all(conn: psycopg.Connection) -> None:
    refresh_lead_attribution(conn)
    refresh_attribution_credits(conn)
    refresh_markov_attribution(conn)


@needs_public_data(OLIST)
def test_olist_leads_customers_and_revenue_per_origin(databases) -> None:
    mql = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv")
    deals = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    with psycopg.connect(databases.bi_url) as conn:
        _copy(
            conn,
            "leads",
            ["id", "organization_id", "status", "utm_source", "attribution_synced", "created_at", "updated_at"],
            [
                (
                    uuid.UUID(r.mql_id),
                    ORG,
                    "new",
                    None if pd.isna(r.origin) else r.origin,
                    False,
                    r.first_contact_date,
                    r.first_contact_date,
                )
                for r in mql.itertuples()
            ],
        )
        _copy(
            conn,
            "deals",
            [
                "id",
                "organization_id",
                "lead_id",
                "stage",
                "amount",
                "currency",
                "closed_at",
                "created_at",
                "updated_at",
            ],
            [
                (
                    uuid.uuid5(uuid.NAMESPACE_OID, r.mql_id + r.seller_id),
                    ORG,
                    uuid.UUID(r.mql_id),
                    "won",
                    r.declared_monthly_revenue,
                    "BRL",
                    r.won_date,
                    r.won_date,
                    r.won_date,
                )
                for r in deals.itertuples()
            ],
        )
        _refresh_all(conn)
        ours = (
            pd.DataFrame(
                fetch_all(
                    conn,
                    "SELECT la.source, count(*) AS leads, count(o.lead_id) AS customers,"
                    " coalesce(sum(o.won_revenue), 0)::float8 AS revenue"
                    " FROM lead_attribution la LEFT JOIN analytics.lead_outcomes o USING (lead_id) GROUP BY la.source",
                )
            )
            .set_index("source")
            .sort_index()
        )
        credited = {
            r["channel"]: r["revenue"]
            for r in fetch_all(
                conn,
                "SELECT channel, sum(revenue_credit)::float8 AS revenue FROM analytics.attribution_credits"
                " WHERE model = 'last_touch' GROUP BY channel",
            )
        }
        markov_conversions = {
            r["touch"]: r["attributed_conversions"]
            for r in fetch_all(
                conn,
                "SELECT touch, attributed_conversions FROM analytics.markov_attribution WHERE dimension = 'channel'",
            )
        }

    # The same numbers straight from the files: origin lower-cased, no origin -> organic (the contract).
    mql["source"] = mql["origin"].fillna("organic").str.lower()
    won = deals.groupby("mql_id")["declared_monthly_revenue"].agg(["size", "sum"])
    joined = mql.join(won, on="mql_id")
    expected = (
        joined.groupby("source")
        .agg(leads=("mql_id", "size"), customers=("size", "count"), revenue=("sum", "sum"))
        .sort_index()
    )

    assert len(mql) == 8000 and int(expected["customers"].sum()) == 842
    assert list(ours.index) == list(expected.index)
    assert ours["leads"].tolist() == expected["leads"].tolist()
    assert ours["customers"].tolist() == expected["customers"].tolist()
    assert ours["revenue"].tolist() == pytest.approx(expected["revenue"].tolist())
    # Single-touch paths: each channel gets exactly its own leads' revenue (last touch) and, from the
    # Markov chain, exactly its own customers.
    per_channel = expected.groupby(expected.index.map(CHANNEL_OF_ORIGIN)).sum().sort_index()
    assert sorted(credited) == list(per_channel.index)
    assert [credited[c] for c in per_channel.index] == pytest.approx(per_channel["revenue"].tolist())
    assert [markov_conversions.get(c, 0.0) for c in per_channel.index] == pytest.approx(
        per_channel["customers"].astype(float).tolist()
    )


@needs_public_data(CHANNEL_ATTRIBUTION)
@pytest.mark.parametrize(
    ("file", "sep", "head"),
    [("Data.csv", ";", 250), ("vignette_example_paths.csv", ",", None)],  # Greek-letter and A/B channels
)
def test_channelattribution_paths_markov_matches_direct_computation(
    databases, file: str, sep: str, head: int | None
) -> None:
    """The file's steps are the touches' channel labels (no alias maps them) and their campaigns: both Markov
    dimensions equal the removal effects computed straight from the file's path counts."""
    paths = pd.read_csv(CHANNEL_ATTRIBUTION / file, sep=sep)
    paths = paths.head(head) if head else paths
    leads, deals = [], []
    counts: dict[tuple[str, str], int] = {}
    for r in paths.itertuples():
        steps = [s.strip() for s in r.path.split(">")]
        states = [markov.START, *steps]
        for outcome, journeys in ((markov.CONVERSION, r.total_conversions), (markov.NULL, r.total_null)):
            for a, b in zip(states, [*steps, outcome], strict=True):
                counts[(a, b)] = counts.get((a, b), 0) + int(journeys)
            for _ in range(int(journeys)):
                lead_id = uuid.uuid4()
                touches = [
                    {
                        "timestamp": (NOW - timedelta(hours=len(steps) - i)).isoformat(),
                        "channel": step,
                        "campaign_id": step,
                    }
                    for i, step in enumerate(steps)
                ]
                leads.append((lead_id, ORG, "new", Jsonb(touches), False, NOW, NOW))
                if outcome == markov.CONVERSION:
                    deals.append((uuid.uuid4(), ORG, lead_id, "won", 1, "USD", NOW, NOW, NOW))
    with psycopg.connect(databases.bi_url) as conn:
        _copy(
            conn,
            "leads",
            ["id", "organization_id", "status", "touchpoints", "attribution_synced", "created_at", "updated_at"],
            leads,
        )
        _copy(
            conn,
            "deals",
            [
                "id",
                "organization_id",
                "lead_id",
                "stage",
                "amount",
                "currency",
                "closed_at",
                "created_at",
                "updated_at",
            ],
            deals,
        )
        _refresh_all(conn)
        stored = fetch_all(
            conn,
            "SELECT dimension, touch, removal_effect, attributed_conversions FROM analytics.markov_attribution"
            " ORDER BY dimension, touch",
        )

    # Direct: the file's raw paths (consecutive repeats kept; our pipeline collapses them, which leaves
    # absorption probabilities and so removal effects unchanged).
    direct = markov.removal_effects(counts)
    conversions = int(paths["total_conversions"].sum())
    expected = markov.split(conversions, direct.removal_effects)
    for dimension, name in (("campaign", str), ("channel", str.lower)):  # a channel label is normalised
        rows = [r for r in stored if r["dimension"] == dimension]
        effects = {name(k): v for k, v in direct.removal_effects.items()}
        shares = {name(k): v for k, v in expected.items()}
        assert [r["touch"] for r in rows] == sorted(effects), dimension
        assert [r["removal_effect"] for r in rows] == pytest.approx([effects[r["touch"]] for r in rows], rel=1e-9)
        assert [r["attributed_conversions"] for r in rows] == pytest.approx(
            [shares[r["touch"]] for r in rows], rel=1e-9
        )
        assert sum(r["attributed_conversions"] for r in rows) == pytest.approx(conversions)
