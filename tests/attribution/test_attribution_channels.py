"""Channel labels as other tools write them: every touch is kept, mapped, derived or kept as its own label
(docs/attribution.md#channels), and the models work on any labels and any number of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import cast

import psycopg
import pytest
from dagster import AssetCheckResult

from hyperdash_pipeline.attribution.refresh import (
    refresh_attribution_credits,
    refresh_lead_attribution,
    refresh_markov_attribution,
)
from hyperdash_pipeline.defs.attribution.checks import attribution_credits_keep_every_touch
from hyperdash_pipeline.resources import PostgresResource
from tests.support.attribution_support import (
    NOW,
    ORG,
    credits_by_lead,
    fetch_all,
    lead,
    touch,
    upsert_deal,
    upsert_leads,
)

DAY = timedelta(days=1)
OTHER_ORG = uuid.UUID("00000000-0000-4000-8000-000000000002")


@pytest.fixture
def bi(databases) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(databases.bi_url)
    conn.execute(
        "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Acme', 'acme'), (%s, 'Beta', 'beta')", (ORG, OTHER_ORG)
    )
    conn.commit()
    yield conn
    conn.close()


def _refresh(conn: psycopg.Connection) -> None:
    refresh_lead_attribution(conn)
    refresh_attribution_credits(conn)
    refresh_markov_attribution(conn)


def _paths(conn: psycopg.Connection) -> dict[str, list[tuple[str, str | None]]]:
    out: dict[str, list[tuple[str, str | None]]] = {}
    for r in fetch_all(
        conn,
        "SELECT lead_id, channel, channel_raw FROM analytics.attribution_credits WHERE model = 'linear'"
        " ORDER BY lead_id, touch_index",
    ):
        out.setdefault(str(r["lead_id"]), []).append((r["channel"], r["channel_raw"]))
    return out


@pytest.mark.parametrize(
    ("label", "normalised"),
    [
        (" Paid Social ", "paid_social"),
        ("Display_Other", "display_other"),
        ("paid - search", "paid_search"),
        ("A", "a"),
        ("\tE-Mail\n", "e_mail"),
        ("   ", None),
        (None, None),
    ],
)
def test_labels_are_normalised(bi: psycopg.Connection, label: str | None, normalised: str | None) -> None:
    assert fetch_all(bi, "SELECT analytics.normalise_channel(%s) AS n", (label,)) == [{"n": normalised}]


@pytest.mark.parametrize(
    ("source", "medium", "gclid", "fbclid", "channel"),
    [
        (None, None, "Cj0KCQ", None, "paid_search"),
        ("facebook", None, None, "IwAR", "paid_social"),
        ("google", "cpc", None, None, "paid_search"),
        ("Facebook", "CPC", None, None, "paid_social"),
        ("youtube", "paid", None, None, "paid_video"),
        ("criteo", "display", None, None, "display"),
        ("newsletter", "email", None, None, "email"),
        ("partner.com", "referral", None, None, "referral"),
        ("google", "organic", None, None, "organic_search"),
        ("instagram", None, None, None, "organic_social"),
        ("bing", None, None, None, "organic_search"),
        ("(direct)", "(none)", None, None, "direct"),
        ("twilio", "sms", None, None, "sms"),
        ("somewhere", None, None, None, None),  # the caller tries the source as a label, else unassigned
        (None, None, None, None, None),
    ],
)
def test_missing_channels_are_derived_by_documented_rules(
    bi: psycopg.Connection,
    source: str | None,
    medium: str | None,
    gclid: str | None,
    fbclid: str | None,
    channel: str | None,
) -> None:
    got = fetch_all(bi, "SELECT analytics.derive_channel(%s, %s, %s, %s) AS c", (source, medium, gclid, fbclid))
    assert got == [{"c": channel}]


def test_real_world_labels_keep_their_touches_and_credit(bi: psycopg.Connection) -> None:
    """The issue's case: a display -> organic_search path gives display the first touch, not organic_search."""
    display_first = lead(touchpoints=[touch(NOW - 3 * DAY, "Display_Other"), touch(NOW - DAY, "Organic Search")])
    mixed = lead(
        touchpoints=[
            touch(NOW - 5 * DAY, "Paid_Search_Other", campaign_id="g1"),  # mapped
            touch(NOW - 4 * DAY, "Carrier Pigeon"),  # no alias: kept as its normalised self
            touch(NOW - 3 * DAY, None, gclid="Cj0KCQ", campaign_id="g2"),  # derived from its click id
            touch(NOW - 2 * DAY, None, source="newsletter", medium="email"),  # derived from its medium
            touch(NOW - DAY, None),  # nothing to go on
            touch(NOW - DAY / 2, "Direct"),
        ]
    )
    upsert_leads(bi, [display_first, mixed])
    upsert_deal(bi, display_first["id"], "won", 100)
    _refresh(bi)

    paths = _paths(bi)
    assert paths[str(display_first["id"])] == [("display", "Display_Other"), ("organic_search", "Organic Search")]
    assert paths[str(mixed["id"])] == [
        ("paid_search", "Paid_Search_Other"),
        ("carrier_pigeon", "Carrier Pigeon"),
        ("paid_search", None),
        ("email", None),
        ("unassigned", None),
        ("direct", "Direct"),
    ]
    assert credits_by_lead(bi)[(str(display_first["id"]), "first_touch")] == [1.0, 0.0]
    assert fetch_all(bi, "SELECT count(*) AS n FROM quarantine") == [{"n": 0}]
    assert fetch_all(bi, "SELECT organization_id, channel, touches FROM analytics.unmapped_channels") == [
        {"organization_id": ORG, "channel": "carrier_pigeon", "touches": 1}
    ]


def test_fifty_distinct_labels(bi: psycopg.Connection, databases) -> None:
    labels = [f"Vendor {i:02d}" for i in range(50)]
    leads = [
        lead(touchpoints=[touch(NOW - (k + 1) * DAY, labels[(i + k * 7) % 50]) for k in range(4)]) for i in range(50)
    ]
    upsert_leads(bi, leads)
    for row in leads[::3]:
        upsert_deal(bi, row["id"], "won", 10)
    refresh_lead_attribution(bi)
    stats = refresh_attribution_credits(bi)
    markov = refresh_markov_attribution(bi)

    assert (stats.unmapped_labels, stats.unmapped_touches) == (50, 200)
    channel_rows = [r for r in markov.rows if r.dimension == "channel"]
    assert sorted(r.touch for r in channel_rows) == sorted(f"vendor_{i:02d}" for i in range(50))
    assert sum(r.attributed_conversions for r in channel_rows) == pytest.approx(len(leads[::3]))
    for key, shares in credits_by_lead(bi).items():
        assert sum(shares) == pytest.approx(1.0, abs=1e-9), key
    check = cast(AssetCheckResult, attribution_credits_keep_every_touch(bi=PostgresResource(url=databases.bi_url)))
    assert check.passed and check.metadata["touches_in"].value == 200


def test_single_letter_labels_give_a_markov_model(bi: psycopg.Connection) -> None:
    """An organization whose channels are all unknown letters still gets its data-driven model."""
    journeys = [["A", "B", "C"], ["A", "C"], ["B"], ["C", "A"], ["B", "C"]]
    leads = [
        lead(
            organization_id=OTHER_ORG,
            touchpoints=[touch(NOW - (len(j) - k) * DAY, step) for k, step in enumerate(j)],
        )
        for j in journeys
    ]
    upsert_leads(bi, leads)
    for row in leads[:3]:
        upsert_deal(bi, row["id"], "won", 30, organization_id=OTHER_ORG)
    _refresh(bi)

    rows = fetch_all(
        bi,
        "SELECT touch, attributed_conversions FROM analytics.markov_attribution"
        " WHERE organization_id = %s AND dimension = 'channel' ORDER BY touch",
        (OTHER_ORG,),
    )
    assert [r["touch"] for r in rows] == ["a", "b", "c"]
    assert all(r["attributed_conversions"] > 0 for r in rows)
    assert sum(r["attributed_conversions"] for r in rows) == pytest.approx(3.0)


def test_an_organization_maps_its_own_labels(bi: psycopg.Connection) -> None:
    """A row of analytics.channel_map with an organization_id overrides the default for that organization;
    editing the map recomputes every credit on the next refresh."""
    ours = lead(touchpoints=[touch(NOW - DAY, "A")])
    theirs = lead(organization_id=OTHER_ORG, touchpoints=[touch(NOW - DAY, "A")])
    upsert_leads(bi, [ours, theirs])
    _refresh(bi)
    bi.execute(
        "INSERT INTO analytics.channel_map (organization_id, alias, channel_group) VALUES (%s, 'a', 'paid_search')",
        (ORG,),
    )
    bi.commit()

    refresh_lead_attribution(bi)
    stats = refresh_attribution_credits(bi)

    assert stats.full and stats.reason == "configuration or channel map changed"
    paths = _paths(bi)
    assert paths[str(ours["id"])] == [("paid_search", "A")]
    assert paths[str(theirs["id"])] == [("a", "A")]
    assert fetch_all(bi, "SELECT organization_id, channel FROM analytics.unmapped_channels") == [
        {"organization_id": OTHER_ORG, "channel": "a"}
    ]


def test_an_alias_must_be_normalised_and_name_a_channel_group(bi: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        bi.execute("INSERT INTO analytics.channel_map (alias, channel_group) VALUES ('Paid Social', 'paid_social')")
    bi.rollback()
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        bi.execute("INSERT INTO analytics.channel_map (alias, channel_group) VALUES ('pigeon', 'carrier_pigeon')")
    bi.rollback()
