"""The conversions outbox built from the CRM mirror in real PostgreSQL: which events, for which
platform, hashed each platform's way, incrementally, never touching what was already decided."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from hyperdash_pipeline.conversions import normalize
from hyperdash_pipeline.conversions.outbox import build_outbox
from tests.support.conversions_data import NOW, add_lead, add_organization, add_won_deal
from tests.support.postgres import Databases

QUALIFIED = ["qualified", "won"]


@pytest.fixture
def bi(databases: Databases) -> Iterator[psycopg.Connection]:
    with psycopg.connect(databases.bi_url, autocommit=True) as conn:
        yield conn


def _build(conn: psycopg.Connection, country: str | None = "1") -> tuple[int, int, int]:
    with conn.transaction():
        outcome = build_outbox(conn, QUALIFIED, country)
    return outcome.candidates, outcome.inserted, outcome.updated


def _rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT event_id, platform, event_kind, click_id, email_sha256, phone_sha256, value, currency, status "
        "FROM conversions_outbox ORDER BY event_kind, platform"
    ).fetchall()


def test_a_lead_with_both_click_ids_goes_to_both_platforms_hashed_each_way(bi: psycopg.Connection) -> None:
    org = add_organization(bi)
    lead = add_lead(bi, org, email=" Jane.Doe@Gmail.com", phone="(650)555-1212", fbclid="IwAR-fb", gclid="Cj0-g")
    _build(bi)
    rows = _rows(bi)
    assert [(r[1], r[2]) for r in rows] == [("google", "lead"), ("meta", "lead")]
    google, meta = rows
    assert google[0] == meta[0] == normalize.event_id("lead", lead)  # one event, one id, two platforms
    assert (google[3], meta[3]) == ("Cj0-g", "IwAR-fb")
    assert meta[4] == normalize.sha256_hex("jane.doe@gmail.com")
    assert google[4] == normalize.sha256_hex("janedoe@gmail.com")
    assert meta[5] == normalize.sha256_hex("16505551212")
    assert google[5] == normalize.sha256_hex("+16505551212")
    dump = bi.execute("SELECT string_agg(to_jsonb(o)::text, ' ') FROM conversions_outbox AS o").fetchone()
    assert dump is not None
    # Nothing in clear. Timestamps and uuids may hold any short run of digits by chance, so look for
    # the address and the number themselves, not for a fragment of them.
    clear_fragments = ["@", "jane", "gmail", "5551212", "555-1212"]
    assert [f for f in clear_fragments if f in dump[0].lower()] == []


def test_qualified_and_won_deals_become_events_with_value(bi: psycopg.Connection) -> None:
    org = add_organization(bi)
    lead = add_lead(bi, org, fbclid="IwAR-1", status="won")
    deal = add_won_deal(bi, org, lead, amount="1999.90", currency="BRL")
    _build(bi)
    rows = {(r[2]): r for r in _rows(bi)}
    assert set(rows) == {"lead", "qualified", "purchase"}
    purchase = rows["purchase"]
    assert purchase[0] == normalize.event_id("purchase", lead, deal)
    assert (str(purchase[6]), purchase[7]) == ("1999.90", "BRL")
    assert all(r[8] == "pending" for r in rows.values())


def test_only_leads_a_platform_can_match_get_rows(bi: psycopg.Connection) -> None:
    org = add_organization(bi)
    add_lead(bi, org)  # organic: no click id, no ad source
    instagram = add_lead(bi, org, utm_source=" Instagram ")  # Meta source, matched on hashed e-mail / phone
    add_lead(bi, org, utm_source="gads", email=None, phone=None)  # Google source, nothing to match on
    add_lead(bi, org, fbclid="IwAR-old", created_at=NOW - timedelta(days=120))  # past every window
    _build(bi)
    rows = _rows(bi)
    assert [(r[0], r[1], r[3]) for r in rows] == [(normalize.event_id("lead", instagram), "meta", None)]


def test_the_build_is_incremental_and_refreshes_only_pending_rows(bi: psycopg.Connection) -> None:
    org = add_organization(bi)
    first = add_lead(bi, org, fbclid="IwAR-1")
    second = add_lead(bi, org, fbclid="IwAR-2")
    assert _build(bi) == (2, 2, 0)
    assert _build(bi) == (2, 0, 0)  # re-read within the overlap, nothing new
    bi.execute("UPDATE conversions_outbox_state SET watermark = now() + interval '2 hours'")
    assert _build(bi) == (0, 0, 0)  # nothing synced after the watermark: nothing read
    bi.execute("UPDATE conversions_outbox SET status = 'sent' WHERE lead_id = %s", (first,))
    bi.execute(
        "UPDATE crm_raw.leads SET ad_user_data_consent = true, email = 'new@example.com', "
        "_synced_at = now() + interval '3 hours'"
    )
    assert _build(bi) == (2, 0, 1)  # both re-read, only the pending one refreshed
    consent: dict[str, bool | None] = dict(
        bi.execute("SELECT lead_id::text, ad_user_data_consent FROM conversions_outbox").fetchall()
    )
    assert consent == {first: None, second: True}


def test_the_build_never_waits_on_events_a_sender_holds(databases: Databases, bi: psycopg.Connection) -> None:
    org = add_organization(bi)
    held = add_lead(bi, org, fbclid="IwAR-held")
    free = add_lead(bi, org, fbclid="IwAR-free")
    _build(bi)
    bi.execute("UPDATE crm_raw.leads SET ad_user_data_consent = true, _synced_at = now() + interval '3 hours'")
    with psycopg.connect(databases.bi_url) as sender:  # a batch in flight holds its claimed rows
        sender.execute("SELECT 1 FROM conversions_outbox WHERE lead_id = %s FOR UPDATE", (held,))
        bi.execute("SET lock_timeout = '3s'")  # waiting would fail the build, not hang it
        assert _build(bi) == (2, 0, 1)
        sender.rollback()
    consent: dict[str, bool | None] = dict(
        bi.execute("SELECT lead_id::text, ad_user_data_consent FROM conversions_outbox").fetchall()
    )
    assert consent == {held: None, free: True}
    assert _build(bi) == (2, 0, 1)  # released: the next build refreshes it
