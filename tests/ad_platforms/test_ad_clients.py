"""The Meta and Google Ads clients against a local server replaying the APIs' real answer shapes."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from hyperdash_pipeline.ingestion.google import GoogleAdsResource
from hyperdash_pipeline.ingestion.http import AdPlatformError, MalformedResponseError
from hyperdash_pipeline.ingestion.meta import MetaAdsResource
from tests.support.ad_platform_server import Answer, ReplayServer, google_row, meta_page, meta_row

META_PATH = "/v25.0/act_111/insights"
GOOGLE_PATH = "/v22/customers/1234567890/googleAds:search"
TOKEN = "TEST-META-TOKEN"
DAY = date(2024, 3, 1)


def _meta(server: ReplayServer, **kwargs: Any) -> MetaAdsResource:
    return MetaAdsResource(api_base_url=server.base_url, backoff_seconds=0.01, **kwargs)


def _google(server: ReplayServer, **kwargs: Any) -> GoogleAdsResource:
    return GoogleAdsResource(api_base_url=server.base_url, developer_token="DEV-TOKEN", backoff_seconds=0.01, **kwargs)


def test_meta_follows_pages_through_rate_limit_and_5xx() -> None:
    rate_limited = {"error": {"message": "User request limit reached", "type": "OAuthException", "code": 17}}
    with ReplayServer() as server:
        server.add(
            META_PATH,
            Answer(400, rate_limited, {"Retry-After": "0"}),
            Answer(200, meta_page([meta_row("a1", "2024-03-01"), meta_row("a2", "2024-03-01")], "CUR1", META_PATH)),
            Answer(503, {"error": {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}}),
            Answer(200, meta_page([meta_row("a3", "2024-03-01")], "CUR2", META_PATH)),
            Answer(200, meta_page([meta_row("a4", "2024-03-02", spend="0.50")], None, META_PATH)),
        )
        result = _meta(server).fetch_insights("act_111", DAY, date(2024, 3, 2), TOKEN)
        first = server.requests_to(META_PATH)[0]
        later = server.requests_to(META_PATH)[2]

    assert [r.ad_id for r in result.rows] == ["a1", "a2", "a3", "a4"]
    assert (result.pages, result.http_calls, result.retries) == (3, 5, 2)
    assert first.query["level"] == ["ad"] and first.query["time_increment"] == ["1"]
    assert json.loads(first.query["time_range"][0]) == {"since": "2024-03-01", "until": "2024-03-02"}
    assert later.query["after"] == ["CUR1"]  # the paging.next link was followed
    row = result.rows[0]
    assert (row.spend, row.currency, row.impressions, row.clicks, row.link_clicks) == (
        Decimal("12.34"),
        "BRL",
        1000,
        40,
        25,
    )
    # conversions = lead + purchase actions; value = purchase action_values; video from the real fields
    assert (row.conversions, row.conversion_value, row.video_3s_views, row.thruplays) == (
        Decimal(4),
        Decimal("199.90"),
        300,
        120,
    )
    assert row.platform_actions is not None and row.platform_actions["offsite_conversion.fb_pixel_lead"] == 3


def test_meta_malformed_page_fails_without_leaking_the_token() -> None:
    with ReplayServer() as server:
        server.add(
            META_PATH,
            Answer(200, meta_page([meta_row("a1", "2024-03-01")], "CUR1", META_PATH)),
            Answer(200, {"error_summary": "unexpected"}),
        )
        with pytest.raises(MalformedResponseError) as caught:
            _meta(server).fetch_insights("111", DAY, DAY, TOKEN)
    assert "page 2" in str(caught.value) and "data" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_meta_truncated_body_is_retried_then_gives_up_with_a_clear_error() -> None:
    with ReplayServer() as server:
        server.add(META_PATH, *[Answer(200, '{"data": [{"ad_id": "a1"') for _ in range(3)])
        with pytest.raises(AdPlatformError, match=r"not JSON.*gave up after 3 attempts"):
            _meta(server, max_attempts=3).fetch_insights("111", DAY, DAY, TOKEN)
        assert len(server.requests_to(META_PATH)) == 3


def test_meta_invalid_token_is_not_retried_and_not_echoed() -> None:
    expired = {"error": {"message": f"Error validating access token {TOKEN}", "type": "OAuthException", "code": 190}}
    with ReplayServer() as server:
        server.add(META_PATH, Answer(400, expired))
        with pytest.raises(AdPlatformError) as caught:
            _meta(server).fetch_insights("111", DAY, DAY, TOKEN)
        assert len(server.requests_to(META_PATH)) == 1
    assert "190" in str(caught.value)
    assert "access_token" not in str(caught.value)


def test_meta_bad_row_is_rejected_the_rest_loads() -> None:
    bad = meta_row("a2", "2024-03-01", spend="twelve")
    with ReplayServer() as server:
        server.add(META_PATH, Answer(200, meta_page([meta_row("a1", "2024-03-01"), bad], None, META_PATH)))
        result = _meta(server).fetch_insights("111", DAY, DAY, TOKEN)
    assert [r.ad_id for r in result.rows] == ["a1"]
    assert len(result.rejected) == 1 and "spend is not a number" in result.rejected[0].reason
    assert "page 1 row 2" in result.rejected[0].source_ref


def test_google_pages_retries_and_converts_micros() -> None:
    sparse = google_row("903", "2024-03-01", cost_micros="1990000")
    del sparse["metrics"]["conversions"]  # zero-valued metrics are omitted by the API
    with ReplayServer() as server:
        server.add(
            GOOGLE_PATH,
            Answer(200, {"results": [google_row("901", "2024-03-01", conversionsValue=150.5)], "nextPageToken": "P2"}),
            Answer(
                429, {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}
            ),
            Answer(500, {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}),
            Answer(
                200,
                {
                    "results": [google_row("902", "2024-03-01", videoTrueviewViews="44"), sparse],
                    "fieldMask": "customer.currencyCode,campaign.id",
                },
            ),
        )
        result = _google(server).fetch_ad_metrics("123-456-7890", DAY, DAY, "ACCESS")
        calls = server.requests_to(GOOGLE_PATH)

    assert [r.ad_id for r in result.rows] == ["901", "902", "903"]
    assert (result.pages, result.retries) == (2, 2)
    assert result.rows[0].spend == Decimal("5.25") and result.rows[0].conversion_value == Decimal("150.5")
    assert result.rows[1].thruplays == 44
    assert (result.rows[2].spend, result.rows[2].conversions) == (Decimal("1.99"), Decimal(0))
    assert (result.rows[0].campaign_id, result.rows[0].ad_set_id, result.rows[0].currency) == ("111", "222", "USD")
    first, last = json.loads(calls[0].body), json.loads(calls[-1].body)
    assert (
        "FROM ad_group_ad" in first["query"] and "segments.date BETWEEN '2024-03-01' AND '2024-03-01'" in first["query"]
    )
    assert "pageToken" not in first and last["pageToken"] == "P2"
    assert calls[0].headers["developer-token"] == "DEV-TOKEN" and calls[0].headers["Authorization"] == "Bearer ACCESS"


def test_google_empty_answer_has_no_results_key() -> None:
    with ReplayServer() as server:
        server.add(GOOGLE_PATH, Answer(200, {"fieldMask": "campaign.id"}))
        result = _google(server).fetch_ad_metrics("1234567890", DAY, DAY, "ACCESS")
    assert result.rows == [] and result.pages == 1


def test_google_malformed_page_is_an_error() -> None:
    with ReplayServer() as server:
        server.add(GOOGLE_PATH, Answer(200, {"results": "oops", "nextPageToken": 7}))
        with pytest.raises(MalformedResponseError, match="page 1"):
            _google(server).fetch_ad_metrics("1234567890", DAY, DAY, "ACCESS")


def test_google_refresh_token_is_exchanged_and_never_reported() -> None:
    with ReplayServer() as server:
        server.add("/token", Answer(200, {"access_token": "ya29.fresh", "expires_in": 3599, "token_type": "Bearer"}))
        server.add(GOOGLE_PATH, Answer(200, {"results": [google_row("901", "2024-03-01")]}))
        client = _google(server, client_id="cid", client_secret="SECRET", token_url=f"{server.base_url}/token")
        client.fetch_ad_metrics("1234567890", DAY, DAY, "1//REFRESH")
        token_call = server.requests_to("/token")[0]
        search_call = server.requests_to(GOOGLE_PATH)[0]
    assert b"refresh_token=1%2F%2FREFRESH" in token_call.body and b"grant_type=refresh_token" in token_call.body
    assert search_call.headers["Authorization"] == "Bearer ya29.fresh"
    configured = _google(server, refresh_token="1//REFRESH-VALUE").credentials(None)
    assert configured.token == "1//REFRESH-VALUE" and "1//REFRESH-VALUE" not in repr(configured)


def test_unreachable_api_is_retried_then_reported_without_the_token() -> None:
    with ReplayServer() as server:
        base = server.base_url  # the port is free again once the server is shut down
    client = MetaAdsResource(api_base_url=base, backoff_seconds=0.01, max_attempts=2, timeout_seconds=2)
    with pytest.raises(AdPlatformError) as caught:
        client.fetch_insights("111", DAY, DAY, TOKEN)
    assert "ConnectionError (gave up after 2 attempts)" in str(caught.value)
    assert TOKEN not in str(caught.value)
