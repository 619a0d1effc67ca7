"""`hyperdash import-ads`: Meta Ads Manager and Google Ads exports, localised numbers, quarantine, KAG."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.ingestion.csv_import import detect_decimal, parse_number
from hyperdash_pipeline.settings import DAGSTER_URL_VAR
from tests.support import FIXTURES
from tests.support.public_data import needs_public_data, public_data

ADS_EXPORTS = FIXTURES / "ads"  # real exports: Meta Ads Manager (pt-BR, en) and a Google Ads report
KAG = public_data("kag_facebook_ad_conversion/KAG_conversion_data.csv")


@pytest.fixture
def bi(databases: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)  # all three set: no embedded server is started
    with databases.bi.connection() as conn:
        conn.execute("INSERT INTO organizations (name, slug, reporting_currency) VALUES ('Acme', 'acme', 'BRL')")
    return databases.bi


def _rows(bi: Any, source: str) -> list[tuple]:
    with bi.connection() as conn:
        return conn.execute(
            "SELECT campaign_id, ad_set_id, ad_id, date::text, currency, spend, impressions, clicks, conversions,"
            " conversion_value, video_3s_views, thruplays FROM campaign_metrics WHERE source = %s"
            " ORDER BY date, ad_id",
            (source,),
        ).fetchall()


def _quarantine(bi: Any) -> list[tuple]:
    with bi.connection() as conn:
        return conn.execute("SELECT stage, source_ref, reason FROM quarantine ORDER BY id").fetchall()


def test_meta_export_with_comma_decimals_and_bad_rows(bi: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = ADS_EXPORTS / "meta_ads_manager_ptbr.csv"
    assert main(["import-ads", "--source", "meta", str(path), "--organization", "acme"]) == 0

    rows = _rows(bi, "meta")
    assert [r[2] for r in rows] == ["120208000000000301", "120208000000000302", "120208000000000303"]
    first = rows[0]
    assert first[:6] == (
        "120208000000000101",
        "120208000000000201",
        "120208000000000301",
        "2024-03-01",
        "BRL",
        Decimal("1234.56"),
    )
    assert first[6:] == (21345, 712, Decimal("19.00"), Decimal("0.00"), 4870, 1780)
    assert rows[2][3] == "2024-03-02"  # 02/03/2024 is day-first in a comma-decimal file
    assert _quarantine(bi) == [
        (
            "import-ads:meta",
            "meta_ads_manager_ptbr.csv:line 6",
            "day '32/03/2024' is not a date (expected e.g. 2024-03-01)",
        ),
        ("import-ads:meta", "meta_ads_manager_ptbr.csv:line 7", "spend is not a number: 'abc'"),
    ]
    out = capsys.readouterr().out
    assert "3 rows read" in out and "1 total/summary rows skipped" in out and "2 quarantined" in out


def test_meta_export_without_ids_sums_breakdown_rows(bi: Any) -> None:
    path = ADS_EXPORTS / "meta_ads_manager_en.csv"
    assert main(["import-ads", "--source", "meta", str(path)]) == 0  # the only organization is used

    rows = {r[2]: r for r in _rows(bi, "meta")}
    assert set(rows) == {"UGC video v2", "Static offer 20%"}  # names stand in for missing ids
    ugc = rows["UGC video v2"]
    assert ugc[0] == "Spring Sale - Conversions" and ugc[1] == "Broad US 25-54" and ugc[4] == "USD"
    # the two age rows of one ad and day are one row: 1,204.50 + 795.50
    assert ugc[5:] == (Decimal("2000.00"), 84000, 3000, Decimal("50.00"), Decimal("8000.00"), 20000, 6000)
    assert rows["Static offer 20%"][5] == Decimal("250.00")
    assert _quarantine(bi) == []


def test_google_report_skips_title_and_total_rows(bi: Any) -> None:
    path = ADS_EXPORTS / "google_ads_ad_report.csv"
    assert main(["import-ads", "--source", "google", str(path), "--organization", "acme"]) == 0

    rows = _rows(bi, "google")
    assert [(r[2], r[3], r[5]) for r in rows] == [
        ("690123456781", "2024-03-01", Decimal("1234.56")),
        ("690123456782", "2024-03-01", Decimal("98.10")),
        ("690123459991", "2024-03-02", Decimal("456.00")),
    ]
    assert rows[0][6:10] == (12345, 321, Decimal("12.00"), Decimal("2400.00"))
    assert rows[2][11] == 9870  # Views -> thruplays
    assert [(ref, reason.split(" (")[0]) for _, ref, reason in _quarantine(bi)] == [
        ("google_ads_ad_report.csv:line 7", "row has no single day"),
        ("google_ads_ad_report.csv:line 8", "spend is not a number: '12.5.1'"),
    ]


def test_google_utf16_tab_separated_export(bi: Any, tmp_path: Path) -> None:
    source = (ADS_EXPORTS / "google_ads_ad_report.csv").read_text().splitlines()
    lines = list(csv.reader(source))
    target = tmp_path / "Ad report.csv"
    target.write_text("\n".join("\t".join(cells) for cells in lines) + "\n", encoding="utf-16")
    assert main(["import-ads", "--source", "google", str(target)]) == 0
    assert [r[5] for r in _rows(bi, "google")] == [Decimal("1234.56"), Decimal("98.10"), Decimal("456.00")]


def test_importing_the_same_file_twice_changes_nothing(bi: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ADS_EXPORTS / "google_ads_ad_report.csv")
    assert main(["import-ads", "--source", "google", path]) == 0
    before = _rows(bi, "google")
    capsys.readouterr()
    assert main(["import-ads", "--source", "google", path]) == 0
    assert _rows(bi, "google") == before
    assert "0 new or changed" in capsys.readouterr().out


def test_a_file_that_is_no_ads_report_is_refused(bi: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("name,email\nAna,ana@example.com\n")
    assert main(["import-ads", "--source", "meta", str(path)]) == 2
    assert "no header line found" in capsys.readouterr().err
    assert _rows(bi, "meta") == []


def test_an_unknown_organization_is_refused(bi: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ADS_EXPORTS / "google_ads_ad_report.csv")
    assert main(["import-ads", "--source", "google", path, "--organization", "nope"]) == 2
    assert "no organization with slug 'nope'" in capsys.readouterr().err


@needs_public_data(KAG)
def test_kag_facebook_file_loads_through_its_mapping(bi: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with KAG.open(encoding="utf-8-sig", newline="") as handle:
        source = list(csv.DictReader(handle))
    argv = ["import-ads", "--source", "meta", str(KAG), "--currency", "USD", "--date", "2017-08-01"]
    assert main(argv) == 0

    with bi.connection() as conn:
        count, days, spend, impressions, clicks, conversions, approved = conn.execute(
            "SELECT count(*), array_agg(DISTINCT date::text), sum(spend), sum(impressions), sum(clicks),"
            " sum(conversions), sum((platform_actions->>'approved_conversion')::int)"
            " FROM campaign_metrics WHERE source = 'meta'"
        ).fetchone()
    assert count == len(source) and days == ["2017-08-01"]
    assert impressions == sum(int(r["Impressions"]) for r in source)
    assert clicks == sum(int(r["Clicks"]) for r in source)
    assert conversions == sum(int(r["Total_Conversion"]) for r in source)
    assert approved == sum(int(r["Approved_Conversion"]) for r in source)
    assert spend == sum(Decimal(r["Spent"]).quantize(Decimal("0.01")) for r in source)
    assert "has no dates: every row was loaded on 2017-08-01" in capsys.readouterr().out


@needs_public_data(KAG)
def test_kag_file_needs_a_currency(bi: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-ads", "--source", "meta", str(KAG)]) == 2
    assert "pass --currency" in capsys.readouterr().err


@given(amounts=st.lists(st.decimals(min_value=0, max_value=10**9, places=2), min_size=1, max_size=20))
def test_localised_amounts_read_back_exactly(amounts: list[Decimal]) -> None:
    english = [f"{a:,.2f}" for a in amounts]  # 1,234,567.89
    brazilian = [s.replace(",", "_").replace(".", ",").replace("_", ".") for s in english]  # 1.234.567,89
    for texts in (english, brazilian):
        separator = detect_decimal(texts) or "."
        assert [parse_number(t, separator, "spend") for t in texts] == amounts


def test_add_integration_links_an_account_and_names_its_token_variable(
    bi: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["add-integration", "--provider", "google", "--account", "123-456-7890", "--credentials-env", "GADS_ACME"]
    assert main(argv) == 0
    assert main(argv) == 0  # idempotent
    with bi.connection() as conn:
        rows = conn.execute("SELECT provider, account_id, credentials_env_var, status FROM integrations").fetchall()
    assert rows == [("google", "1234567890", "GADS_ACME", "pending")]
    assert "token read from $GADS_ACME" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["add-integration", "--provider", "meta", "--account", "act_1", "--credentials-env", "EAAB-token-value"])
    refused = capsys.readouterr().err
    assert "NAME of an environment variable" in refused and "EAAB-token-value" not in refused
