"""The shared CLI output helpers: progress lines with rate and ETA, and JSON for scripts."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest

from hyperdash_pipeline.console import Progress, add_json_flag, format_duration, to_json


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_prints_rate_and_eta_at_most_a_few_times_a_second() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = Progress("copy leads", total=10_000, stream=out, min_interval=0.25, clock=clock)
    for done in range(0, 10_001, 10):  # 1,001 updates over 10 seconds
        clock.now = 1000.0 + done / 1000
        progress.update(done)
    lines = out.getvalue().splitlines()
    assert 30 <= len(lines) <= 45  # ~4 a second, not 1,001
    assert lines[-1].startswith("copy leads: 10,000/10,000 (100.0%)")  # the final update always prints
    middle = next(line for line in lines if "5,000/10,000" in line or "5,010/10,000" in line)
    assert "1,000 rows/s" in middle and "ETA 0:00:05" in middle


def test_progress_without_a_total_shows_count_and_rate_only() -> None:
    clock, out = FakeClock(), io.StringIO()
    progress = Progress("scan", stream=out, unit="files", clock=clock)
    clock.now += 2
    progress.update(50)
    progress.finish()
    first, last = out.getvalue().splitlines()
    assert first == "scan: 50 25 files/s"
    assert last == "scan: 50 files in 0:00:02"


def test_json_serialises_what_the_database_returns() -> None:
    data = {
        "at": datetime(2026, 11, 29, 4, 0, tzinfo=UTC),
        "amount": Decimal("12.50"),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
        "path": Path("/tmp/report.html"),
    }
    assert json.loads(to_json(data)) == {
        "at": "2026-11-29T04:00:00+00:00",
        "amount": 12.5,
        "id": "12345678-1234-5678-1234-567812345678",
        "path": "/tmp/report.html",
    }
    with pytest.raises(TypeError, match="cannot serialise object"):
        to_json({"x": object()})


def test_json_flag_and_durations() -> None:
    parser = argparse.ArgumentParser()
    add_json_flag(parser)
    assert parser.parse_args(["--json"]).json is True
    assert parser.parse_args([]).json is False
    assert format_duration(3725.4) == "1:02:05"
