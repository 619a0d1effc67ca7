"""Write the correlation report: query BI, draw, write one HTML file atomically."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hyperdash_pipeline.report import slices
from hyperdash_pipeline.report.data import ReportParams, Section, load_all
from hyperdash_pipeline.report.document import Figure, build_figures, render_html, summary_markdown
from hyperdash_pipeline.resources import PostgresResource
from hyperdash_pipeline.settings import hyperdash_home

REPORT_NAME = "correlation_report"


@dataclass(frozen=True)
class ReportResult:
    path: Path
    summary_md: str
    figures: list[Figure]
    sections: dict[str, Section]

    @property
    def charts_drawn(self) -> int:
        return sum(fig.drawn for fig in self.figures)

    @property
    def findings(self) -> int:
        return len(self.sections["findings"].rows)


def reports_dir() -> Path:
    return hyperdash_home() / "reports"


def report_path(directory: Path, organization_id: str | None) -> Path:
    suffix = f"-{re.sub(r'[^A-Za-z0-9-]', '_', organization_id)}" if organization_id else ""
    return directory / f"{REPORT_NAME}{suffix}.html"


def _write_atomically(path: Path, text: str) -> None:
    """A reader (or a browser refresh) never sees a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(bi: PostgresResource, params: ReportParams, directory: Path | None = None) -> ReportResult:
    generated_at = datetime.now(UTC)
    as_of = params.as_of or generated_at.date()
    with bi.connection(autocommit=True) as conn:
        sections = load_all(conn, params)
        slice_data = slices.load_slice_data(conn, params.organization_id, as_of)
    figures = build_figures(sections)
    path = report_path(directory or reports_dir(), params.organization_id)
    html = render_html(
        figures,
        generated_at=generated_at,
        organization_id=params.organization_id,
        filtered=(slices.filters_html(slice_data), slices.slice_section(slice_data), slices.embedded_data(slice_data)),
        script=slices.script_html(),
        script_hash=slices.SCRIPT_HASH,
    )
    _write_atomically(path, html)
    return ReportResult(path=path, summary_md=summary_markdown(sections, figures), figures=figures, sections=sections)
