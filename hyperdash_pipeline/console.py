"""Shared CLI output: `--json` for scripts, and a progress line with rate and ETA for long work.

Any `hyperdash` sub-command can use them:

    from hyperdash_pipeline.ops.output import Progress, add_json_flag, print_json

    cmd = sub.add_parser("backfill", ...)
    add_json_flag(cmd)                      # adds --json

    def handler(args):
        progress = Progress("copy leads", total=n_rows)
        for done in ...:
            progress.update(done)           # prints to stderr at most `min_interval` apart
        progress.finish()
        if args.json:
            print_json({"rows": n_rows})    # datetimes, Decimals, UUIDs and Paths serialise
        else:
            print(f"copied {n_rows} rows")

Progress goes to stderr so `--json` output on stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout (for scripts)")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID | Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_default, indent=2, sort_keys=True)


def print_json(data: Any, stream: IO[str] | None = None) -> None:
    print(to_json(data), file=stream or sys.stdout)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class Progress:
    """A progress line on stderr: `label: done/total (pct) rate/s ETA h:mm:ss`.

    `update` is cheap to call in a tight loop: it prints at most once per `min_interval` seconds
    (and always for the final update), so a million updates cost a handful of lines.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "rows",
        stream: IO[str] | None = None,
        min_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self._clock = clock
        self._start = clock()
        self._last_print: float | None = None
        self.done = 0
        self.lines_printed = 0

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self._clock()
        final = self.total is not None and done >= self.total
        if not final and self._last_print is not None and now - self._last_print < self.min_interval:
            return
        self._last_print = now
        print(self.line(now), file=self.stream, flush=True)
        self.lines_printed += 1

    def finish(self) -> None:
        """Print the closing line (with the elapsed time) unless the final update already did."""
        now = self._clock()
        print(f"{self.label}: {self.done:,} {self.unit} in {format_duration(now - self._start)}", file=self.stream)
        self.lines_printed += 1

    def line(self, now: float) -> str:
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.label}: {self.done:,}"]
        if self.total:
            parts[0] += f"/{self.total:,} ({100 * self.done / self.total:.1f}%)"
        parts.append(f"{rate:,.0f} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"ETA {format_duration(max(0, self.total - self.done) / rate)}")
        return " ".join(parts)
