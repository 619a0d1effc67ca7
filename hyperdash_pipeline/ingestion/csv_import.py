"""CSV reports marketers download from Meta Ads Manager and Google Ads, and the KAG Facebook data set.

Reads the file as exported (UTF-8 with or without BOM, UTF-16 "Excel CSV", or a legacy Windows-1252
file; comma, semicolon or tab separated; report title lines above the header; "Total" footer rows),
streamed under a size cap (csv_source.py). Columns are recognised by their header names, and localised
numbers ("1.234,56" or "1,234.56") are read with one decimal separator per file: `--decimal`, else the
one the values show, else the delimiter's usual one. A record that cannot be loaded (not a number in
the file's format, NaN, out of range, over-long field, undecodable bytes...) becomes a RejectedRow with
its line number and reason; it never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path

from hyperdash_pipeline.ingestion.csv_source import (
    DEFAULT_MAX_BYTES,
    MAX_LINE_CHARS,
    OVERLONG_LINE,
    CsvFormatError,
    Record,
    first_lines,
    has_marker,
    records,
    sniff_encoding,
)
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
_EMPTY = {"", "--", "-", "—"}
_CURRENCY_SYMBOLS = re.compile(r"R\$|US\$|\$|€|£|\s|\u00a0")
DECIMAL_SEPARATORS = (",", ".")
MAX_FIELD_CHARS = 1_000  # names and ids included: a real export's longest is a few hundred characters
AMOUNT_LIMIT = Decimal("1e12")  # spend, conversions, conversion value: campaign_metrics holds numeric(14, 2)
COUNT_LIMIT = Decimal("1e12")  # impressions, clicks, views: more in one ad-day is a broken export
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}


def _other(decimal: str) -> str:
    return "," if decimal == "." else "."


def _number_pattern(decimal: str) -> re.Pattern[str]:
    """A number written with `decimal` and, optionally, the other separator grouping thousands by three."""
    d, t = re.escape(decimal), re.escape(_other(decimal))
    mantissa = rf"(?:(?:[0-9]{{1,3}}(?:{t}[0-9]{{3}})+|[0-9]+)(?:{d}[0-9]*)?|{d}[0-9]+)"
    return re.compile(rf"[+-]?{mantissa}(?:[eE][+-]?[0-9]{{1,3}})?")


_NUMBER = {sep: _number_pattern(sep) for sep in DECIMAL_SEPARATORS}
_GROUPED = {sep: re.compile(rf"[0-9]{{1,3}}(?:{re.escape(sep)}[0-9]{{3}}){{2,}}") for sep in DECIMAL_SEPARATORS}


def _bare(value: str) -> str:
    return _CURRENCY_SYMBOLS.sub("", value or "")


def detect_decimal(values: Iterable[str]) -> str | None:
    """The decimal separator the values show ('1.234,56' -> ',', '1,234.56' -> '.', '1.234.567' -> ','),
    or None when every value reads both ways ('1.234', '1,234')."""
    for value in values:
        v = _bare(value)
        if "," in v and "." in v:
            return "," if v.rfind(",") > v.rfind(".") else "."
        for sep in DECIMAL_SEPARATORS:
            if _GROUPED[sep].fullmatch(v):
                return _other(sep)
            if v.count(sep) == 1 and len(v.rsplit(sep, 1)[1]) != 3:
                return sep
    return None


def parse_number(value: str, decimal: str, name: str, limit: Decimal = AMOUNT_LIMIT) -> Decimal:
    """`value` written with `decimal` as a Decimal below `limit` in size; RowError with the reason if not."""
    v = _bare(value)
    if v in _EMPTY:
        return Decimal(0)
    v = v.rstrip("%")
    if not _NUMBER[decimal].fullmatch(v):
        raise RowError(_not_a_number(value, v, decimal, name))
    number = Decimal(v.replace(_other(decimal), "").replace(decimal, "."))
    if abs(number) >= limit:
        raise RowError(f"{name} {value!r} is out of range (must be below {limit:,.0f})")
    return number


def _not_a_number(value: str, bare: str, decimal: str, name: str) -> str:
    other = _other(decimal)
    if _NUMBER[other].fullmatch(bare):
        return (
            f"{name} {value!r} does not use this file's decimal separator {decimal!r}: "
            f"if the file's numbers are written with {other!r} as decimal separator, import it with --decimal {other}"
        )
    return f"{name} is not a number: {value!r}"


def parse_whole(value: str, decimal: str, name: str) -> int:
    """A count: a whole, non-negative number below COUNT_LIMIT."""
    number = parse_number(value, decimal, name, COUNT_LIMIT)
    if number != number.to_integral_value():
        raise RowError(f"{name} is not a whole number: {value!r}")
    if number < 0:
        raise RowError(f"{name} is negative: {value!r}")
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


def _norm(header: str) -> str:
    return " ".join(header.strip().strip('"').split()).casefold()


def _find_header(head: list[Record]) -> Record:
    """The header record: the first of the first ten records naming a known column."""
    known = {"campaign name", "nome da campanha", "campaign", "ad_id", "day", "ad name"}
    for record in head:
        if known & {_norm(c) for c in record.cells}:
            return record
    raise CsvFormatError(
        'no header line found in the first 10 lines: expected a Meta Ads Manager export ("Campaign name", '
        '"Amount spent (XXX)"...), a Google Ads report ("Campaign", "Day", "Cost"...) or KAG_conversion_data.csv'
    )


def _delimiter(sample: str) -> str:
    counts = {d: sample.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d])


@dataclass
class Columns:
    index: dict[str, int]
    header_currency: str | None = None

    def get(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""


def map_columns(header: list[str], aliases: dict[str, tuple[str, ...]]) -> Columns:
    normalised = [_norm(h) for h in header]
    index: dict[str, int] = {}
    for name, names in aliases.items():
        for alias in names:
            if alias in normalised:
                index[name] = normalised.index(alias)
                break
    columns = Columns(index)
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


@dataclass(frozen=True)
class ImportOptions:
    currency: str | None = None  # for files that state none
    default_date: date | None = None  # for files without dates (KAG); default today
    decimal: str | None = None  # ',' or '.' (--decimal); None: detected from the values
    max_bytes: int = DEFAULT_MAX_BYTES


def _clean(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """`text` as the quarantine's jsonb can hold it: capped, markers and NUL shown as U+FFFD."""
    return re.sub("[\x00\ud800-\udfff]", "\ufffd", text[:limit])


@dataclass
class CsvReport:
    """A recognised export, checked and ready to stream: rows() reads it once more, record by record."""

    path: Path
    source: str
    format: str
    encoding: str
    delimiter: str
    header: Record
    options: ImportOptions
    columns: Columns = field(default_factory=lambda: Columns({}))
    decimal_separator: str = "."
    decimal_origin: str = "detected from the values"
    assumed_date: date | None = None
    skipped_totals: int = 0

    def body(self) -> Generator[Record]:
        for record in records(self.path, self.encoding, self.delimiter, self.options.max_bytes):
            if record.line > self.header.line:
                yield record

    def rows(self) -> Iterator[MetricRow | RejectedRow]:
        """Every data record as a MetricRow or a RejectedRow (blank lines and total rows are left out)."""
        for record in self.body():
            item = self.parse_record(record)
            if item is not None:
                yield item

    def parse_record(self, record: Record) -> MetricRow | RejectedRow | None:
        """One record as a row, its rejection, or None for a blank line or a total row (counted)."""
        cells = record.cells
        if record.problem is None and not any(c.strip() for c in cells):
            return None
        try:
            if record.problem is not None:
                raise RowError(record.problem)
            _check_cells(self.header.cells, cells, self.encoding)
            if self.format == "kag":
                return self._kag_row(cells)
            if _is_total(cells) or (self.format == "meta_ads_manager" and not self.columns.get(cells, "campaign_name")):
                self.skipped_totals += 1  # Ads Manager's summary row has no campaign; Google's footers say "Total: ..."
                return None
            currency = self.options.currency
            return report_row(self.source, cells, self.columns, currency, self.decimal_separator)
        except RowError as exc:
            payload = {"line": record.line, "cells": [_clean(c) for c in cells]}
            return RejectedRow(f"{self.path.name}:line {record.line}", str(exc), payload)

    def _kag_row(self, cells: list[str]) -> MetricRow:
        """KAG_conversion_data.csv: one row per ad, no dates, no currency (see docs/ad-platforms.md)."""
        at = {_norm(h): i for i, h in enumerate(self.header.cells)}
        if len(cells) <= max(at[name] for name in KAG_COLUMNS):
            raise RowError("row has fewer columns than the header")
        sep, currency, day = self.decimal_separator, str(self.options.currency).upper(), self.assumed_date
        assert day is not None  # set by open_report for KAG files
        return MetricRow(
            source="meta",
            campaign_id=cells[at["xyz_campaign_id"]].strip(),
            ad_set_id=cells[at["fb_campaign_id"]].strip() or None,
            ad_id=cells[at["ad_id"]].strip() or None,
            date=day,
            currency=currency,
            # Spent carries float noise (1.429999948): cents are what was billed.
            spend=parse_number(cells[at["spent"]], sep, "Spent").quantize(Decimal("0.01")),
            impressions=parse_whole(cells[at["impressions"]], sep, "Impressions"),
            clicks=parse_whole(cells[at["clicks"]], sep, "Clicks"),
            conversions=parse_number(cells[at["total_conversion"]], sep, "Total_Conversion"),
            platform_actions={
                "approved_conversion": parse_whole(cells[at["approved_conversion"]], sep, "Approved_Conversion")
            },
        )


def _check_cells(header: list[str], cells: list[str], encoding: str) -> None:
    """RowError for a record no column parser should see: undecodable bytes, NUL, over-long fields."""
    for index, cell in enumerate(cells):
        name = _clean(header[index].strip(), 60) if index < len(header) and header[index].strip() else ""
        column = repr(name) if name else f"column {index + 1}"
        if OVERLONG_LINE in cell:
            raise RowError(f"the line is over {MAX_LINE_CHARS:,} characters")
        if has_marker(cell):
            raise RowError(
                f"{column} holds bytes that are not valid {_ENCODING_NAMES[encoding]}: save the export as UTF-8"
            )
        if "\x00" in cell:
            raise RowError(f"{column} holds a NUL character")
        if len(cell) > MAX_FIELD_CHARS:
            raise RowError(f"{column} is {len(cell):,} characters long (at most {MAX_FIELD_CHARS:,})")


def _first(items: Generator[Record], count: int) -> list[Record]:
    with closing(items):
        return list(islice(items, count))


def open_report(path: Path, source: str, options: ImportOptions | None = None) -> CsvReport:
    """Recognise `path` (encoding, delimiter, header, format, decimal separator) without loading it.

    Raises CsvFormatError (CsvTooLarge over the size cap) with what was expected.
    """
    options = options or ImportOptions()
    encoding = sniff_encoding(path, options.max_bytes)
    delimiter = _delimiter("".join(first_lines(path, encoding, options.max_bytes, 15)))
    header = _find_header(_first(records(path, encoding, delimiter, options.max_bytes), 10))
    fmt = detect_format(header.cells, source)
    report = CsvReport(path, source, fmt, encoding, delimiter, header, options)
    if fmt == "kag":
        if not options.currency:
            raise CsvFormatError(f"{path.name} states no currency: pass --currency (e.g. --currency USD)")
        report.assumed_date = options.default_date or date.today()
        report.decimal_separator = options.decimal or "."
        report.decimal_origin = "--decimal" if options.decimal else "the data set's"
        return report
    report.columns = map_columns(header.cells, META_COLUMNS if fmt == "meta_ads_manager" else GOOGLE_COLUMNS)
    if "spend" not in report.columns.index:
        raise CsvFormatError(f'{path.name}: no spend column ("Amount spent (XXX)" or "Cost")')
    if "day" not in report.columns.index and "reporting_starts" not in report.columns.index:
        raise CsvFormatError(f'{path.name}: no "Day" column; export the report broken down by day')
    report.decimal_separator, report.decimal_origin = _decimal_for(report, options.decimal)
    return report


def _decimal_for(report: CsvReport, given: str | None) -> tuple[str, str]:
    """(separator, how it was settled): --decimal, else what the spend and impression values show, else
    ',' for a semicolon-separated file (they come from comma-decimal locales) and '.' otherwise."""
    if given:
        return given, "--decimal"
    body = report.body()
    with closing(body):
        values = (report.columns.get(r.cells, name) for r in body for name in ("spend", "impressions"))
        found = detect_decimal(values)
    if found:
        return found, "detected from the values"
    assumed = "," if report.delimiter == ";" else "."
    return assumed, f"assumed from the {report.delimiter!r} delimiter: every value reads both ways; see --decimal"


def _is_total(cells: list[str]) -> bool:
    first = next((c.strip() for c in cells if c.strip()), "")
    return first.casefold().startswith(("total", "totais", "resultados totais"))


def report_row(source: str, cells: list[str], columns: Columns, currency: str | None, sep: str) -> MetricRow:
    """One Meta Ads Manager or Google Ads record as a MetricRow; RowError with the reason if it cannot be."""
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
