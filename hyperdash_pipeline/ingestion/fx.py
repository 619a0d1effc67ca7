"""Exchange-rate files for BI fx_rates: our own `date,currency,rate_to_usd` CSV, or the European
Central Bank's reference rates (`eurofxref-hist.csv`: `Date,USD,JPY,...`, units per euro)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hyperdash_pipeline.ingestion.rows import RejectedRow

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class FxFormatError(ValueError):
    """The file is neither format; the message says what was expected."""


@dataclass
class FxFile:
    format: str
    rates: list[dict[str, object]] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def _positive(value: str) -> Decimal:
    number = Decimal(value.strip())
    if not number.is_finite() or number <= 0:
        raise InvalidOperation(value)
    return number


def parse_fx_file(path: Path, source: str) -> FxFile:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise FxFormatError(f"{path.name} is empty")
    header = [h.strip() for h in lines[0]]
    if {"date", "currency", "rate_to_usd"} <= set(header):
        return _parse_long(path, header, lines[1:], source)
    if header and header[0] == "Date" and "USD" in header:
        return _parse_ecb(path, header, lines[1:])
    raise FxFormatError(
        f"{path.name}: expected the header date,currency,rate_to_usd or the ECB's Date,USD,JPY,... (eurofxref-hist.csv)"
    )


def _reject(result: FxFile, path: Path, line: int, reason: str, cells: list[str]) -> None:
    result.rejected.append(RejectedRow(f"{path.name}:line {line}", reason, {"line": line, "cells": cells}))


def _parse_long(path: Path, header: list[str], body: list[list[str]], source: str) -> FxFile:
    at = {name: header.index(name) for name in ("date", "currency", "rate_to_usd")}
    result = FxFile("date,currency,rate_to_usd")
    for line, cells in enumerate(body, start=2):
        if not any(c.strip() for c in cells):
            continue
        try:
            day = date.fromisoformat(cells[at["date"]].strip())
            currency = cells[at["currency"]].strip().upper()
            if not _CURRENCY.match(currency):
                raise ValueError(f"currency {currency!r} is not an ISO 4217 code")
            rate = _positive(cells[at["rate_to_usd"]])
        except InvalidOperation:
            _reject(result, path, line, "rate_to_usd is not a positive number", cells)
            continue
        except (ValueError, IndexError) as exc:
            _reject(result, path, line, str(exc) if isinstance(exc, ValueError) else "missing columns", cells)
            continue
        result.rates.append({"date": day, "currency": currency, "rate_to_usd": rate, "source": source})
    return result


def _parse_ecb(path: Path, header: list[str], body: list[list[str]]) -> FxFile:
    """ECB rates are units of each currency per euro: USD per unit of C = (USD per EUR) / (C per EUR)."""
    usd_at = header.index("USD")
    result = FxFile("ecb")
    for line, cells in enumerate(body, start=2):
        if not any(c.strip() for c in cells):
            continue
        try:
            day = date.fromisoformat(cells[0].strip())
            usd_per_eur = _positive(cells[usd_at])
        except (ValueError, InvalidOperation, IndexError):
            _reject(result, path, line, "no date or no USD rate on this line", cells)
            continue
        result.rates.append({"date": day, "currency": "EUR", "rate_to_usd": usd_per_eur, "source": "ecb"})
        for name, value in zip(header[1:], cells[1:], strict=False):
            if not _CURRENCY.match(name) or name == "USD" or value.strip() in {"", "N/A"}:
                continue  # the ECB leaves N/A for currencies it did not quote that day
            try:
                rate = (usd_per_eur / _positive(value)).quantize(Decimal("1e-10"))
            except InvalidOperation:
                _reject(result, path, line, f"{name} rate {value!r} is not a positive number", cells)
                continue
            result.rates.append({"date": day, "currency": name, "rate_to_usd": rate, "source": "ecb"})
    return result
