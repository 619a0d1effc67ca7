"""Real public data through the attribution tables, checked against direct computations on the same files.

- Olist marketing funnel: 8,000 marketing-qualified leads (origin = source) and 842 closed deals.
- ChannelAttribution example paths: multi-touch journeys whose Markov removal effects we recompute
  straight from the file's path counts.
Both skip when /work/shared/data is absent.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from attribution_support import NOW, ORG, fetch_all
from psycopg.types.json import Jsonb

from hyperdash_pipeline.attribution import markov
from hyperdash_pipeline.attribution.refresh import (
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)

DATA = Path("/work/shared/data")
OLIST = DATA / "olist_marketing_funnel"
CHANNEL_ATTRIBUTION = DATA / "channelattribution_pathdata"


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY crm_raw.{table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()


def _refresh_all(conn: psycopg.Connection) -> None:
    refresh_lead_attribution(conn)
    refresh_attribution_credits(conn)
    refresh_markov_attribution(conn)


@pytest.mark.skipif(not OLIST.is_dir(), reason=f"{OLIST} is absent")
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
    assert [credited.get(s, 0.0) for s in expected.index] == pytest.approx(expected["revenue"].tolist())
    # Single-touch paths: the Markov chain gives each channel exactly its own customers.
    assert [markov_conversions.get(s, 0.0) for s in expected.index] == pytest.approx(
        expected["customers"].astype(float).tolist()
    )


@pytest.mark.skipif(not CHANNEL_ATTRIBUTION.is_dir(), reason=f"{CHANNEL_ATTRIBUTION} is absent")
def test_channelattribution_paths_markov_matches_direct_computation(databases) -> None:
    paths = pd.read_csv(CHANNEL_ATTRIBUTION / "Data.csv", sep=";").head(250)
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
                        "channel": "other",
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
        rows = fetch_all(
            conn,
            "SELECT touch, removal_effect, attributed_conversions FROM analytics.markov_attribution"
            " WHERE dimension = 'campaign' ORDER BY touch",
        )

    # Direct: the file's raw paths (consecutive repeats kept; our pipeline collapses them, which leaves
    # absorption probabilities and so removal effects unchanged).
    direct = markov.removal_effects(counts)
    conversions = int(paths["total_conversions"].sum())
    expected = markov.split(conversions, direct.removal_effects)
    assert [r["touch"] for r in rows] == sorted(direct.removal_effects)
    assert [r["removal_effect"] for r in rows] == pytest.approx(
        [direct.removal_effects[r["touch"]] for r in rows], rel=1e-9
    )
    assert [r["attributed_conversions"] for r in rows] == pytest.approx([expected[r["touch"]] for r in rows], rel=1e-9)
    assert sum(r["attributed_conversions"] for r in rows) == pytest.approx(conversions)
