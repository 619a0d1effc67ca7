"""Fuzz the parsers that read untrusted input: the webhook body and the ad-metrics CSV import.

    .venv/bin/python benchmarks/fuzz_parsers.py --minutes 10

Hypothesis feeds arbitrary bytes and structures for the given time to
- the webhook body parser (intake.parse_body -> organization_key -> validate_lead -> sql_params), whose
  only documented error is intake.Rejection;
- the CSV import: whole files (open_report + rows(), documented error CsvFormatError) and single records
  (CsvReport.parse_record, which returns a row or its rejection and raises nothing).
It prints how many inputs each target received and exits 1, with the input, on any other exception.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.ingestion.csv_import import CsvReport, ImportOptions, open_report
from hyperdash_pipeline.ingestion.csv_source import CsvFormatError, Record
from hyperdash_pipeline.ingestion.rows import MetricRow, RejectedRow
from hyperdash_pipeline.webhook import intake

HEADERS = {
    "google": b"Campaign,Campaign ID,Ad ID,Day,Currency code,Cost,Impr.,Clicks,Conversions,Conv. value,Views\n",
    "meta": "Nome da campanha;Dia;Valor usado (BRL);Impressões;Cliques no link;Resultados\n".encode(),
    "kag": b"ad_id,xyz_campaign_id,fb_campaign_id,age,gender,interest,Impressions,Clicks,Spent,"
    b"Total_Conversion,Approved_Conversion\n",
}
_NUMBERISH = st.from_regex(r"[-+]?[0-9.,]{0,12}(e[0-9]{1,4})?|NaN|-?Infinity|--|R\$ ?[0-9.,]{1,10}", fullmatch=True)
_CELL = st.one_of(st.text(max_size=40), _NUMBERISH, st.sampled_from(["2024-03-01", "01/03/2024", "BRL", "Total"]))


class Target:
    """One parser under fuzz: how many inputs it got and the first unexpected failure."""

    def __init__(self, name: str) -> None:
        self.name, self.inputs, self.failure = name, 0, ""

    def run(self, call: Callable[[], None], shown: object) -> None:
        self.inputs += 1
        try:
            call()
        except Exception:
            self.failure = f"{self.name} raised on {shown!r}:\n{traceback.format_exc()}"
            raise


def _webhook(target: Target) -> Callable[[], None]:
    json_like = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
        max_leaves=20,
    )
    fields = st.sampled_from(["organization", "email", "phone", "name", "touchpoints", "gclid", "utm_source"])
    lead = st.dictionaries(fields | st.text(max_size=8), json_like, max_size=8)
    body = st.one_of(st.binary(max_size=300), lead.map(lambda d: repr(d).encode()), _form_or_json(lead))

    @settings(max_examples=200, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(media=st.sampled_from([intake.JSON, intake.FORM]), raw=body)
    def fuzz(media: str, raw: bytes) -> None:
        target.run(lambda: _parse_lead(media, raw), raw)

    return fuzz


def _form_or_json(lead: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    def encode(data: dict[str, Any]) -> list[bytes]:
        out = []
        with contextlib.suppress(TypeError):  # e.g. integers beyond 64 bits
            out.append(orjson.dumps(data))
        out.append(urlencode({k: str(v) for k, v in data.items()}).encode())
        return out

    return lead.map(encode).flatmap(st.sampled_from)


def _parse_lead(media: str, raw: bytes) -> None:
    try:
        data = intake.parse_body(media, raw)
        intake.organization_key(data)
        params = intake.validate_lead(data).sql_params()
    except intake.Rejection:
        return
    for value in params.values():
        text = str(value)
        text.encode("utf-8")  # PostgreSQL must be able to store it: no lone surrogate...
        assert "\x00" not in text, "a NUL would reach PostgreSQL"  # ...and no NUL


def _csv_files(target: Target, folder: Path) -> Callable[[], None]:
    rows = st.lists(st.lists(_CELL, max_size=12), max_size=8)
    noise = st.binary(max_size=200)

    @settings(max_examples=100, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(sorted(HEADERS)), rows=rows, noise=noise, delimiter=st.sampled_from([",", ";", "\t"]))
    def fuzz(kind: str, rows: list[list[str]], noise: bytes, delimiter: str) -> None:
        body = "\n".join(delimiter.join(cells) for cells in rows).encode("utf-8", "surrogatepass")
        path = folder / "fuzz.csv"
        path.write_bytes(HEADERS[kind] + body + noise)
        source = "google" if kind == "google" else "meta"
        target.run(lambda: _import(path, source), path.read_bytes())

    return fuzz


def _import(path: Path, source: str) -> None:
    try:
        report = open_report(path, source, ImportOptions(currency="USD"))
    except CsvFormatError:
        return
    for item in report.rows():
        _check(item)


def _check(item: MetricRow | RejectedRow | None) -> None:
    if isinstance(item, MetricRow):
        for value in (item.campaign_id, item.ad_id, item.ad_set_id, item.campaign_name, item.ad_name):
            assert value is None or ("\x00" not in value and value.encode("utf-8")), "unstorable text"


def _csv_records(target: Target, folder: Path) -> Callable[[], None]:
    reports = []
    for kind, header in HEADERS.items():
        path = folder / f"{kind}.csv"
        path.write_bytes(header)
        reports.append(open_report(path, "google" if kind == "google" else "meta", ImportOptions(currency="USD")))

    @settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(which=st.integers(0, len(reports) - 1), cells=st.lists(_CELL, max_size=14))
    def fuzz(which: int, cells: list[str]) -> None:
        report: CsvReport = reports[which]
        target.run(lambda: _check(report.parse_record(Record(2, cells))), cells)

    return fuzz


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to fuzz (default 10)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory() as folder:
        targets = [Target("webhook body"), Target("CSV file"), Target("CSV record")]
        runs = [
            _webhook(targets[0]),
            _csv_files(targets[1], Path(folder)),
            _csv_records(targets[2], Path(folder)),
        ]
        while time.monotonic() < deadline:
            for run, target in zip(runs, targets, strict=True):
                try:
                    run()
                except Exception:
                    print(target.failure or traceback.format_exc(), file=sys.stderr)
                    _report(targets)
                    return 1
    _report(targets)
    return 0


def _report(targets: list[Target]) -> None:
    for target in targets:
        print(
            f"{target.name}: {target.inputs:,} inputs, {'no unexpected exception' if not target.failure else 'FAILED'}"
        )


if __name__ == "__main__":
    sys.exit(main())
