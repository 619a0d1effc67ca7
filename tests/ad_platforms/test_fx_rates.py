"""fx_rates, analytics.fx_convert / campaign_metrics_reporting, and the blocking missing-rate check."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dagster import materialize

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.conventions import META_METRICS_KEY
from hyperdash_pipeline.defs.ad_platforms.assets import CHECKS, build_meta_asset
from hyperdash_pipeline.ingestion.meta import MetaAdsResource
from hyperdash_pipeline.settings import DAGSTER_URL_VAR
from tests.support import FIXTURES
from tests.support.ad_platform_server import Answer, ReplayServer, meta_page, meta_row

META_PATH = "/v25.0/act_111/insights"


def _org(conn: Any, reporting_currency: str) -> str:
    return str(
        conn.execute(
            "INSERT INTO organizations (name, slug, reporting_currency) VALUES ('Acme', 'acme', %s) RETURNING id",
            (reporting_currency,),
        ).fetchone()[0]
    )


def _metric(conn: Any, org: str, ad: str, day: str, currency: str, spend: str, value: str = "0") -> None:
    conn.execute(
        "INSERT INTO campaign_metrics (organization_id, source, campaign_id, ad_id, date, currency, spend,"
        " conversion_value) VALUES (%s, 'meta', 'c1', %s, %s, %s, %s, %s)",
        (org, ad, day, currency, spend, value),
    )


def _rate(conn: Any, day: str, currency: str, rate: str) -> None:
    conn.execute("INSERT INTO fx_rates (date, currency, rate_to_usd) VALUES (%s, %s, %s)", (day, currency, rate))


def test_reporting_view_converts_spend_and_revenue(databases: Any) -> None:
    with databases.bi.connection() as conn:
        org = _org(conn, "BRL")
        _rate(conn, "2024-03-01", "BRL", "0.2")  # Friday: 1 BRL = 0.20 USD
        _rate(conn, "2024-03-01", "EUR", "1.08")
        _metric(conn, org, "usd-ad", "2024-03-02", "USD", "100", "350")  # Saturday: Friday's rate applies
        _metric(conn, org, "eur-ad", "2024-03-01", "EUR", "100")
        _metric(conn, org, "brl-ad", "2024-03-09", "BRL", "100")  # same currency: no rate needed
        rows = conn.execute(
            "SELECT ad_id, reporting_currency, fx_rate, spend_reporting, conversion_value_reporting"
            " FROM analytics.campaign_metrics_reporting ORDER BY ad_id"
        ).fetchall()
    assert rows == [
        ("brl-ad", "BRL", Decimal(1), Decimal("100.00"), Decimal("0.00")),
        ("eur-ad", "BRL", Decimal("5.4"), Decimal("540.000"), Decimal("0.000")),
        ("usd-ad", "BRL", Decimal(5), Decimal("500.00"), Decimal("1750.00")),
    ]


def test_a_stale_or_absent_rate_is_null_never_one(databases: Any) -> None:
    with databases.bi.connection() as conn:
        _rate(conn, "2024-02-20", "BRL", "0.2")  # more than 6 days before: too old to carry forward
        converted = conn.execute(
            "SELECT analytics.fx_convert(100, 'BRL', 'USD', '2024-03-01'),"
            " analytics.fx_convert(100, 'BRL', 'USD', '2024-02-25'),"
            " analytics.fx_convert(100, 'GBP', 'GBP', '2024-03-01')"
        ).fetchone()
    assert converted == (None, Decimal("20.0"), Decimal(100))


def test_missing_rate_fails_the_blocking_check_until_rates_are_loaded(
    databases: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)
    with databases.bi.connection() as conn:
        org = _org(conn, "USD")
        conn.execute(
            "INSERT INTO integrations (organization_id, provider, account_id) VALUES (%s, 'meta', '111')", (org,)
        )
    asset = build_meta_asset(retry_policy=None)
    checks = CHECKS
    with ReplayServer() as server:
        page = Answer(200, meta_page([meta_row("a1", "2024-03-01")], None, META_PATH))  # spend in BRL
        server.add(META_PATH, page, page)
        resources = {
            "bi": databases.bi,
            "meta_ads": MetaAdsResource(api_base_url=server.base_url, access_token="T", backoff_seconds=0.01),
        }
        failing = materialize([asset, *checks], partition_key="2024-03-01", resources=resources, raise_on_error=False)
        rates = tmp_path / "rates.csv"
        rates.write_text("date,currency,rate_to_usd\n2024-03-01,BRL,0.2013\n")
        assert main(["import-fx", str(rates)]) == 0
        passing = materialize([asset, *checks], partition_key="2024-03-01", resources=resources, raise_on_error=False)

    def fx_evaluation(result: Any) -> Any:
        evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == "fx_rates_available"]
        return next(e for e in evaluations if e.asset_key == META_METRICS_KEY)

    failed = fx_evaluation(failing)
    assert not failed.passed
    assert failed.metadata["missing_rates"].value == [
        {"from": "BRL", "to": "USD", "first_date": "2024-03-01", "last_date": "2024-03-01", "rows": 1}
    ]
    assert fx_evaluation(passing).passed
    with databases.bi.connection() as conn:
        (spend_usd,) = conn.execute("SELECT spend_reporting FROM analytics.campaign_metrics_reporting").fetchone()
    assert spend_usd == Decimal("12.34") * Decimal("0.2013")


FX_FIXTURES = FIXTURES / "fx"


def test_ecb_reference_rates_become_usd_rates(databases: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)
    assert main(["import-fx", str(FX_FIXTURES / "eurofxref-hist.csv")]) == 0
    with databases.bi.connection() as conn:
        rates = dict(conn.execute("SELECT currency, rate_to_usd FROM fx_rates WHERE date = '2024-03-01'").fetchall())
        (brl_to_eur,) = conn.execute("SELECT analytics.fx_rate('BRL', 'EUR', '2024-03-02')").fetchone()
    assert "USD" not in rates and "CYP" not in rates  # USD is 1 by definition; N/A currencies are left out
    assert rates["EUR"] == Decimal("1.0838")
    assert rates["BRL"] == (Decimal("1.0838") / Decimal("5.3817")).quantize(Decimal("1e-10"))
    assert abs(brl_to_eur - 1 / Decimal("5.3817")) < Decimal("1e-8")  # back to the ECB's own quote


def test_bad_rate_lines_are_quarantined_the_rest_loads(
    databases: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)
    assert main(["import-fx", str(FX_FIXTURES / "rates_with_errors.csv")]) == 0
    with databases.bi.connection() as conn:
        loaded = conn.execute("SELECT currency, rate_to_usd FROM fx_rates").fetchall()
        quarantined = conn.execute("SELECT source_ref, reason FROM quarantine ORDER BY id").fetchall()
    assert loaded == [("BRL", Decimal("0.2014000000"))]
    assert [ref for ref, _ in quarantined] == [
        "rates_with_errors.csv:line 3",
        "rates_with_errors.csv:line 4",
        "rates_with_errors.csv:line 5",
    ]
    assert quarantined[0][1] == "currency 'REAL' is not an ISO 4217 code"
    assert quarantined[2][1] == "rate_to_usd is not a positive number"
    assert "3 lines quarantined" in capsys.readouterr().out
