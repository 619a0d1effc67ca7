"""`hyperdash import-ads` on hostile files: NaN, infinities, absurd magnitudes, over-long fields and lines,
bytes that are not UTF-8, ambiguous decimals, the size cap. Bad rows are quarantined with their line and
reason, the good ones load, and nothing ends in a traceback."""

from __future__ import annotations

import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hyperdash_pipeline.cli import main
from hyperdash_pipeline.ingestion.csv_import import open_report
from hyperdash_pipeline.ingestion.csv_source import MAX_LINE_CHARS
from hyperdash_pipeline.ingestion.rows import MetricRow
from hyperdash_pipeline.settings import DAGSTER_URL_VAR

HEADER = b"Campaign,Campaign ID,Ad ID,Day,Currency code,Cost,Impr.,Clicks\n"


@pytest.fixture
def bi(databases: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(DAGSTER_URL_VAR, databases.bi_url)
    with databases.bi.connection() as conn:
        conn.execute("INSERT INTO organizations (name, slug, reporting_currency) VALUES ('Acme', 'acme', 'BRL')")
    return databases.bi


def _loaded(bi: Any) -> list[tuple[Any, ...]]:
    with bi.connection() as conn:
        return conn.execute(
            "SELECT campaign_name, ad_id, spend, impressions, clicks FROM campaign_metrics ORDER BY ad_id"
        ).fetchall()


def _quarantined(bi: Any) -> list[tuple[Any, ...]]:
    with bi.connection() as conn:
        return conn.execute(
            "SELECT source_ref, reason, (payload->>'line')::int FROM quarantine WHERE stage = 'import-ads:google'"
            " ORDER BY id"
        ).fetchall()


def _row(name: bytes, ad: str, cost: bytes, impressions: bytes = b"100", clicks: bytes = b"5") -> bytes:
    return b",".join([name, b"7", ad.encode(), b"2024-03-01", b"BRL", cost, impressions, clicks]) + b"\n"


def test_hostile_rows_are_quarantined_with_line_and_reason(
    bi: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        HEADER,  # line 1
        _row(b"Brand", "1", b'"1,234.56"', b'"12,345"'),  # 2: loads
        _row(b"Brand", "2", b"NaN"),  # 3
        _row(b"Brand", "3", b"Infinity"),  # 4
        _row(b"Brand", "4", b"-Infinity"),  # 5
        _row(b"Brand", "5", b'"2,000,000,000,000.00"'),  # 6: spend beyond 1e12
        _row(b"Brand", "6", b"10.00", b"-5"),  # 7: negative count
        _row(b"Brand", "7", b"10.00", b"100", b"1000000000000"),  # 8: count beyond 1e12
        _row(b"x" * 1_001, "8", b"10.00"),  # 9: over-long name
        _row(b"Promo\xff\xfe", "9", b"10.00"),  # 10: not UTF-8
        _row(b"Brand", "10", b'"1.234,56"'),  # 11: the other decimal separator
        _row(b"Brand\x00", "11", b"10.00"),  # 12: NUL
        _row(b'"Brand\nBR"', "12", b"1e3"),  # 13-14: a quoted newline; loads
        _row("Promoção".encode(), "13", b"7.50"),  # 15: loads, accents intact
    ]
    path = tmp_path / "hostile.csv"
    path.write_bytes(b"".join(lines))

    assert main(["import-ads", "--source", "google", str(path)]) == 0

    assert _loaded(bi) == [
        ("Brand", "1", Decimal("1234.56"), 12345, 5),
        ("Brand\nBR", "12", Decimal("1000.00"), 100, 5),
        ("Promoção", "13", Decimal("7.50"), 100, 5),
    ]
    other_separator = (
        "spend '1.234,56' does not use this file's decimal separator '.': if the file's numbers are written"
        " with ',' as decimal separator, import it with --decimal ,"
    )
    assert _quarantined(bi) == [
        ("hostile.csv:line 3", "spend is not a number: 'NaN'", 3),
        ("hostile.csv:line 4", "spend is not a number: 'Infinity'", 4),
        ("hostile.csv:line 5", "spend is not a number: '-Infinity'", 5),
        ("hostile.csv:line 6", "spend '2,000,000,000,000.00' is out of range (must be below 1,000,000,000,000)", 6),
        ("hostile.csv:line 7", "impressions is negative: '-5'", 7),
        ("hostile.csv:line 8", "clicks '1000000000000' is out of range (must be below 1,000,000,000,000)", 8),
        ("hostile.csv:line 9", "'Campaign' is 1,001 characters long (at most 1,000)", 9),
        ("hostile.csv:line 10", "'Campaign' holds bytes that are not valid UTF-8: save the export as UTF-8", 10),
        ("hostile.csv:line 11", other_separator, 11),
        ("hostile.csv:line 12", "'Campaign' holds a NUL character", 12),
    ]
    out = capsys.readouterr().out
    assert "3 rows read" in out and "10 quarantined" in out and "line 3: spend is not a number: 'NaN'" in out


def test_ambiguous_decimals_follow_the_delimiter_unless_decimal_is_given(
    bi: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ambiguous.csv"
    path.write_bytes(HEADER + _row(b"Brand", "1", b"1.234", b'"2,000"'))  # both read either way

    assert main(["import-ads", "--source", "google", str(path)]) == 0
    assert _loaded(bi)[0][2:4] == (Decimal("1.23"), 2000)  # ',' delimiter: '.' is assumed decimal
    assert "assumed from the ',' delimiter: every value reads both ways; see --decimal" in capsys.readouterr().out

    assert main(["import-ads", "--source", "google", str(path), "--decimal", ","]) == 0
    assert _loaded(bi)[0][2:4] == (Decimal("1234.00"), 2)
    assert "decimal separator ',' --decimal" in capsys.readouterr().out
    assert _quarantined(bi) == []


def test_legacy_windows_1252_export_still_loads(bi: Any, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    body = HEADER + _row("Promoção".encode("cp1252"), "1", b"10.00") + _row(b"Bad \x81 byte", "2", b"10.00")
    path.write_bytes(body)  # 0x81 has no character in Windows-1252

    assert main(["import-ads", "--source", "google", str(path)]) == 0
    assert [r[:2] for r in _loaded(bi)] == [("Promoção", "1")]
    assert _quarantined(bi) == [
        ("excel.csv:line 3", "'Campaign' holds bytes that are not valid Windows-1252: save the export as UTF-8", 3)
    ]


def test_an_over_long_line_is_quarantined_and_the_next_lines_load(bi: Any, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    long_line = _row(b"y" * (MAX_LINE_CHARS * 2), "2", b"1.00")
    path.write_bytes(HEADER + _row(b"Brand", "1", b"1.00") + long_line + _row(b"Brand", "3", b"3.00"))

    assert main(["import-ads", "--source", "google", str(path)]) == 0
    assert [r[1] for r in _loaded(bi)] == ["1", "3"]
    assert _quarantined(bi) == [("long.csv:line 3", "the line is over 131,072 characters", 3)]


def test_a_file_over_the_size_cap_is_refused_and_nothing_loads(
    bi: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(HEADER + b"".join(_row(b"Brand", str(i), b"1.00") for i in range(100)))
    assert main(["import-ads", "--source", "google", str(path), "--max-size", "2KiB"]) == 2
    err = capsys.readouterr().err
    assert "big.csv is over the 2 KiB import limit" in err and "--max-size" in err
    assert _loaded(bi) == [] and _quarantined(bi) == []
    with pytest.raises(SystemExit):
        main(["import-ads", "--source", "google", str(path), "--max-size", "lots"])
    assert "is not a size such as 512MiB" in capsys.readouterr().err


def test_the_file_is_streamed_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    with path.open("wb") as handle:
        handle.write(HEADER)
        for i in range(20_000):
            handle.write(_row(b"Campaign with a long enough name", str(i), b'"1,234.56"', b'"12,345"'))
    size = path.stat().st_size
    report = open_report(path, "google")
    tracemalloc.start()
    try:
        count = sum(1 for item in report.rows() if isinstance(item, MetricRow))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < size / 4, f"parsing a {size:,}-byte file peaked at {peak:,} bytes"


def test_rows_of_one_ad_summing_beyond_the_bound_are_refused_cleanly(
    bi: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "repeated.csv"
    path.write_bytes(HEADER + _row(b"Brand", "1", b"900000000000") * 2 + _row(b"Brand", "2", b"5.00"))
    assert main(["import-ads", "--source", "google", str(path)]) == 2
    assert "the rows of one ad and day add up to 10^12 or more" in capsys.readouterr().err
    assert _loaded(bi) == [] and _quarantined(bi) == []
