"""CSV reports marketers download from Meta Ads Manager and Google Ads, and the KAG Facebook data set.

Reads the file as exported (UTF-8 with or without BOM, or UTF-16 "Excel CSV"; comma, semicolon or tab
separated; report title lines above the header; "Total" footer rows), recognises the columns by
their header names, and parses localised numbers ("1.234,56" or "1,234.56") with one decimal
separator per file. Rows that cannot be read are returned as rejected with their line number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hyperdash_pipeline.ingestion.rows import MetricRow, RejectedRow, RowError

# Canonical field -> header names (case-insensitive) that carry it, English and Brazilian Portuguese.
META_COLUMNS: dict[str, tuple[str, ...]] = {
    "campaign_name": ("campaign name", "nome da campanha"),
    "ad_set_name": ("ad set name", "nome do conjunto de anúncios"),
    "ad_name": ("ad name", "nome do anúncio"),
    "campaign_id": ("campaign id", "identificação da campanha"),
    "ad_set_id": ("ad set id", "identificação do conjunto de anúncios"),
    "ad_id": ("ad id", "identificação do anúncio"),
    "day": ("day", "dia"),
    "reporting_starts": ("reporting starts", "início dos relatórios"),
    "reporting_ends": ("reporting ends", "término dos relatórios"),
    "currency": ("currency", "moeda"),
    "impressions": ("impressions", "impressões"),
    "clicks": ("clicks (all)", "cliques (todos)"),
    "link_clicks": ("link clicks", "cliques no link"),
    "conversions": ("results", "resultados", "leads", "purchases", "compras"),
    "conversion_value": (
        "purchases conversion value",
        "website purchases conversion value",
        "valor de conversão das compras",
    ),
    "video_3s_views": ("3-second video plays", "reproduções de vídeo de 3 segundos"),
    "thruplays": ("thruplays",),
}
META_SPEND = re.compile(r"^(amount spent|valor usado)(\s*\((?P<currency>[A-Za-z]{3})\))?$", re.I)

GOOGLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "campaign_name": ("campaign",),
    "campaign_id": ("campaign id",),
    "ad_set_name": ("ad group",),
    "ad_set_id": ("ad group id",),
    "ad_id": ("ad id",),
    "ad_name": ("ad name", "ad"),
    "account_id": ("customer id", "account id"),
    "day": ("day",),
    "currency": ("currency code", "currency"),
    "spend": ("cost",),
    "impressions": ("impr.", "impressions"),
    "clicks": ("clicks",),
    "conversions": ("conversions",),
    "conversion_value": ("conv. value", "conversion value", "total conv. value"),
    "thruplays": ("views", "trueview views"),
}

KAG_COLUMNS = {
    "ad_id",
    "xyz_campaign_id",
    "fb_campaign_id",
    "impressions",
    "clicks",
    "spent",
    "total_conversion",
    "approved_conversion",
}
_EMPTY = {"", "--", " --", "-", "—"}
_CURRENCY_SYMBOLS = re.compile(r"R\$|US\$|\$|€|£|\s|\u00a0")


class CsvFormatError(ValueError):
    """The file is not a report this importer knows; the message says what was expected."""


@dataclass
class ParsedFile:
    format: str
    rows: list[MetricRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    skipped_totals: int = 0
    decimal_separator: str = "."
    assumed_date: date | None = None


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def _norm(header: str) -> str:
    return " ".join(header.strip().strip('"').split()).casefold()


def _find_header(lines: list[list[str]]) -> int:
    """Index of the header line: the first of the first ten lines naming a known column."""
    known = {"campaign name", "nome da campanha", "campaign", "ad_id", "day", "ad name"}
    for index, cells in enumerate(lines[:10]):
        if known & {_norm(c) for c in cells}:
            return index
    raise CsvFormatError(
        'no header line found in the first 10 lines: expected a Meta Ads Manager export ("Campaign name", '
        '"Amount spent (XXX)"...), a Google Ads report ("Campaign", "Day", "Cost"...) or KAG_conversion_data.csv'
    )


def _split(text: str) -> tuple[list[list[str]], str]:
    sample = "\n".join(text.splitlines()[:15])
    counts = {d: sample.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    return list(csv.reader(io.StringIO(text), delimiter=delimiter)), delimiter


def detect_decimal(values: Iterable[str], default: str = ".") -> str:
    """The decimal separator of a file's numbers: ',' for 1.234,56 style, '.' for 1,234.56 style."""
    for value in values:
        v = _CURRENCY_SYMBOLS.sub("", value)
        if "," in v and "." in v:
            return "," if v.rfind(",") > v.rfind(".") else "."
        for sep in (",", "."):
            if v.count(sep) == 1 and len(v.rsplit(sep, 1)[1]) != 3:
                return sep
    return default


def parse_number(value: str, decimal: str, name: str) -> Decimal:
    v = _CURRENCY_SYMBOLS.sub("", value or "")
    if v in _EMPTY:
        return Decimal(0)
    thousands = "." if decimal == "," else ","
    v = v.replace(thousands, "").replace(decimal, ".").rstrip("%")
    try:
        return Decimal(v)
    except InvalidOperation:
        raise RowError(f"{name} is not a number: {value!r}") from None


def parse_whole(value: str, decimal: str, name: str) -> int:
    number = parse_number(value, decimal, name)
    if number != number.to_integral_value():
        raise RowError(f"{name} is not a whole number: {value!r}")
    return int(number)


def parse_day(value: str, day_first: bool) -> date:
    v = value.strip()
    formats = ["%Y-%m-%d", "%d/%m/%Y" if day_first else "%m/%d/%Y", "%b %d, %Y", "%a, %b %d, %Y", "%d.%m.%Y"]
    for fmt in formats:
        try:
            return datetime.strptime(v, fmt).date()
        except ValueError:
            continue
    raise RowError(f"day {value!r} is not a date (expected e.g. 2024-03-01)")


@dataclass
class _Columns:
    index: dict[str, int]
    header_currency: str | None = None

    def get(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""


def _map_columns(header: list[str], aliases: dict[str, tuple[str, ...]]) -> _Columns:
    normalised = [_norm(h) for h in header]
    index: dict[str, int] = {}
    for name, names in aliases.items():
        for alias in names:
            if alias in normalised:
                index[name] = normalised.index(alias)
                break
    columns = _Columns(index)
    for i, h in enumerate(header):
        match = META_SPEND.match(_norm(h))
        if match and "spend" not in index:
            index["spend"] = i
            columns.header_currency = (match["currency"] or "").upper() or None
    return columns


def detect_format(header: list[str], source: str) -> str:
    normalised = {_norm(h) for h in header}
    if normalised >= KAG_COLUMNS:
        return "kag"
    if source == "meta" and ({"campaign name", "nome da campanha"} & normalised):
        return "meta_ads_manager"
    if source == "google" and "campaign" in normalised and ("cost" in normalised):
        return "google_ads"
    raise CsvFormatError(
        f"the header {header[:6]}... is not a {source} export this importer knows "
        f"(see docs/ad-platforms.md for the expected columns)"
    )


def parse_file(path: Path, source: str, *, currency: str | None = None, default_date: date | None = None) -> ParsedFile:
    """Every data row of `path` as MetricRow or RejectedRow (line numbers are 1-based file lines)."""
    lines, delimiter = _split(_read_text(path))
    header_at = _find_header(lines)
    header = lines[header_at]
    fmt = detect_format(header, source)
    body = [(header_at + 2 + i, cells) for i, cells in enumerate(lines[header_at + 1 :])]
    if fmt == "kag":
        return _parse_kag(path, body, header, currency, default_date or date.today())
    aliases = META_COLUMNS if fmt == "meta_ads_manager" else GOOGLE_COLUMNS
    columns = _map_columns(header, aliases)
    if "spend" not in columns.index:
        raise CsvFormatError(f'{path.name}: no spend column ("Amount spent (XXX)" or "Cost")')
    if "day" not in columns.index and "reporting_starts" not in columns.index:
        raise CsvFormatError(f'{path.name}: no "Day" column; export the report broken down by day')
    default_sep = "," if delimiter == ";" else "."  # semicolon files come from comma-decimal locales
    money = [columns.get(c, "spend") for _, c in body] + [columns.get(c, "impressions") for _, c in body]
    parsed = ParsedFile(fmt, decimal_separator=detect_decimal(money, default_sep))
    for line, cells in body:
        _parse_report_row(path, source, fmt, line, cells, columns, currency, parsed)
    return parsed


def _is_total(cells: list[str]) -> bool:
    first = next((c.strip() for c in cells if c.strip()), "")
    return first.casefold().startswith(("total", "totais", "resultados totais"))


def _parse_report_row(
    path: Path,
    source: str,
    fmt: str,
    line: int,
    cells: list[str],
    columns: _Columns,
    currency: str | None,
    parsed: ParsedFile,
) -> None:
    if not any(c.strip() for c in cells):
        return
    if _is_total(cells) or (fmt == "meta_ads_manager" and not columns.get(cells, "campaign_name")):
        parsed.skipped_totals += 1  # Ads Manager's summary row has no campaign; Google's footers say "Total: ..."
        return
    try:
        parsed.rows.append(_report_row(source, cells, columns, currency, parsed.decimal_separator))
    except RowError as exc:
        parsed.rejected.append(RejectedRow(f"{path.name}:line {line}", str(exc), {"line": line, "cells": cells}))


def _report_row(source: str, cells: list[str], columns: _Columns, currency: str | None, sep: str) -> MetricRow:
    get = columns.get
    day_text = get(cells, "day")
    if not day_text:
        starts, ends = get(cells, "reporting_starts"), get(cells, "reporting_ends")
        if not starts or (ends and ends != starts):
            raise RowError("row has no single day (export the report with a breakdown by Day)")
        day_text = starts
    row_currency = (get(cells, "currency") or columns.header_currency or currency or "").upper()
    if not row_currency:
        raise RowError("no currency: the file has no currency column; pass --currency")
    campaign_name = get(cells, "campaign_name")
    campaign_id = get(cells, "campaign_id") or campaign_name
    if not campaign_id:
        raise RowError("campaign is empty")
    return MetricRow(
        source=source,
        account_id=get(cells, "account_id").replace("-", "") or None,
        campaign_id=campaign_id,
        ad_set_id=get(cells, "ad_set_id") or get(cells, "ad_set_name") or None,
        ad_id=get(cells, "ad_id") or get(cells, "ad_name") or None,
        date=parse_day(day_text, day_first=sep == ","),
        campaign_name=campaign_name or None,
        ad_name=get(cells, "ad_name") or None,
        currency=row_currency,
        spend=parse_number(get(cells, "spend"), sep, "spend"),
        impressions=parse_whole(get(cells, "impressions"), sep, "impressions"),
        clicks=parse_whole(get(cells, "clicks") or get(cells, "link_clicks"), sep, "clicks"),
        link_clicks=parse_whole(get(cells, "link_clicks"), sep, "link clicks"),
        conversions=parse_number(get(cells, "conversions"), sep, "conversions"),
        conversion_value=parse_number(get(cells, "conversion_value"), sep, "conversion value"),
        video_3s_views=parse_whole(get(cells, "video_3s_views"), sep, "3-second video plays"),
        thruplays=parse_whole(get(cells, "thruplays"), sep, "thruplays"),
    )


def _parse_kag(
    path: Path, body: list[tuple[int, list[str]]], header: list[str], currency: str | None, day: date
) -> ParsedFile:
    """KAG_conversion_data.csv: one row per ad, no dates, no currency (see docs/ad-platforms.md)."""
    if not currency:
        raise CsvFormatError(f"{path.name} states no currency: pass --currency (e.g. --currency USD)")
    at = {_norm(h): i for i, h in enumerate(header)}
    parsed = ParsedFile("kag", assumed_date=day)
    for line, cells in body:
        if not any(c.strip() for c in cells):
            continue
        try:
            approved = parse_whole(cells[at["approved_conversion"]], ".", "Approved_Conversion")
            parsed.rows.append(
                MetricRow(
                    source="meta",
                    campaign_id=cells[at["xyz_campaign_id"]].strip(),
                    ad_set_id=cells[at["fb_campaign_id"]].strip() or None,
                    ad_id=cells[at["ad_id"]].strip() or None,
                    date=day,
                    currency=currency.upper(),
                    # Spent carries float noise (1.429999948): cents are what was billed.
                    spend=parse_number(cells[at["spent"]], ".", "Spent").quantize(Decimal("0.01")),
                    impressions=parse_whole(cells[at["impressions"]], ".", "Impressions"),
                    clicks=parse_whole(cells[at["clicks"]], ".", "Clicks"),
                    conversions=parse_number(cells[at["total_conversion"]], ".", "Total_Conversion"),
                    platform_actions={"approved_conversion": approved},
                )
            )
        except (RowError, IndexError) as exc:
            reason = str(exc) if isinstance(exc, RowError) else "row has fewer columns than the header"
            parsed.rejected.append(RejectedRow(f"{path.name}:line {line}", reason, {"line": line, "cells": cells}))
    return parsed
