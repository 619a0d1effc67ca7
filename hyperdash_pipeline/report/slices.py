"""The report's filters: organization, period and source over additive facts embedded in the page.

`sql/transforms/report/slice_facts.sql` sums leads, customers, won revenue and spend per organization,
source, campaign and period bucket (UTC days back from the as-of date: 0-6, 7-29, 30-89, older). Every
filter combination is a sum of those rows, so the page carries them as JSON and its inline script
(`slices.js`) regroups them when a filter changes. The default view (last 30 days, all organizations, all
sources) is also grouped here in Python and written into the HTML, so the file reads the same without
JavaScript; the script recomputes it on load with the same rules (a browser test holds the two equal).

Spend-based metrics of a period (CPL, ROAS) divide the spend dated within that period.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from hyperdash_pipeline.report import charts
from hyperdash_pipeline.report.document import _money, _num, campaign_label, evidence_text, interval_words
from hyperdash_pipeline.settings import read_sql

SCRIPT = (Path(__file__).with_name("slices.js")).read_text(encoding="utf-8")
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()

# value, words, buckets it sums (bucket 0 = older than 89 days or dated after the as-of date)
PERIODS: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("7", "last 7 days", frozenset({7})),
    ("30", "last 30 days", frozenset({7, 30})),
    ("90", "last 90 days", frozenset({7, 30, 90})),
    ("all", "all time", frozenset({0, 7, 30, 90})),
)
DEFAULT_PERIOD = "30"
ALL = ""  # the select value of "all organizations" / "all sources"
TABLE_ROWS = 15
MAX_POINTS = 200  # campaigns drawn in the slice's chart, the largest spenders first
# as the all-time sections' defaults (report.data.ReportParams): bars' campaigns, cohort lines, calls listed
MAX_CATEGORIES, MAX_SERIES, MAX_FINDINGS = 8, 6, 10
# The slice's charts (drawn here for the default view, by slices.js for the others): which row fields they
# plot, with which formats (charts.fmt_<name>), the y = x line or not, and what to say when nothing is drawn.
CHARTS: tuple[dict[str, Any], ...] = (
    {
        "id": "chart-slice-cpl-vs-quality",
        "title": "Cost per lead against lead->customer rate, selected slice",
        "x": "cpl",
        "y": "lead_to_customer_rate",
        "x_label": "cost per lead",
        "y_label": "lead -> customer rate",
        "x_fmt": "money",
        "y_fmt": "percent",
        "diagonal": False,
        "interval": True,
        "empty": "No campaign in this slice has leads, so there is no cost per lead or lead->customer rate to draw.",
    },
    {
        "id": "chart-slice-roas",
        "title": "Platform ROAS against real ROAS, selected slice",
        "x": "platform_roas",
        "y": "real_roas",
        "x_label": "platform-reported ROAS",
        "y_label": "real ROAS (CRM won deals)",
        "x_fmt": "ratio",
        "y_fmt": "ratio",
        "diagonal": True,
        "interval": False,
        "empty": "No campaign in this slice has spend dated in the period, so there is no ROAS to draw.",
    },
)
FORMATS = {"money": charts.fmt_money, "percent": charts.fmt_percent, "ratio": charts.fmt_ratio}
COLUMNS = (
    "organization_id",
    "source",
    "campaign_id",
    "bucket",
    "campaign_name",
    "currency",
    "leads",
    "customers",
    "revenue",
    "spend",
    "conversion_value",
)
SUMMED = ("leads", "customers", "revenue", "spend", "conversion_value")
FACT_TABLES = ("public.lead_attribution", "analytics.lead_outcomes", "public.campaign_metrics")
BUCKET_FUNCTION = "analytics.report_bucket(date, date)"


@dataclass(frozen=True)
class SectionFacts:
    """The facts one filtered section of the page regroups (slices.js), read by `sql_file`."""

    name: str
    sql_file: str
    tables: tuple[str, ...]  # what it reads; a missing one leaves the section's facts empty, with a note
    columns: tuple[str, ...]


SECTION_FACTS = (
    SectionFacts(
        "creatives",
        "creative_facts.sql",
        FACT_TABLES,
        (
            "organization_id",
            "source",
            "campaign_id",
            "ad_id",
            "bucket",
            "campaign_name",
            "ad_name",
            "currency",
            "leads",
            "customers",
            "spend",
            "impressions",
            "video_3s_views",
            "thruplays",
        ),
    ),
    SectionFacts(
        "models",
        "model_facts.sql",
        ("analytics.attribution_touch_credits", "public.lead_attribution", "public.campaign_metrics"),
        ("organization_id", "source", "campaign_id", "model", "bucket", "attributed_leads", "attributed_revenue"),
    ),
    SectionFacts(
        "cohorts",
        "cohort_facts.sql",
        ("public.lead_attribution", "analytics.lead_outcomes"),
        ("organization_id", "source", "campaign_id", "week", "bucket", "leads", "customers"),
    ),
    SectionFacts(
        "calls",
        "call_facts.sql",
        ("public.ai_creative_insights", "analytics.creative_performance"),
        (
            "organization_id",
            "source",
            "campaign_id",
            "ad_id",
            "recommendation",
            "campaign_name",
            "ad_name",
            "reason",
            "evidence",
        ),
    ),
    SectionFacts(
        "conversions",
        "conversion_facts.sql",
        ("public.conversions_outbox",),
        ("organization_id", "source", "status", "bucket", "events"),
    ),
)


@dataclass(frozen=True)
class SliceData:
    as_of: date
    organizations: list[tuple[str, str]]  # (id, name), by name
    sources: list[str]
    facts: list[dict[str, Any]]
    note: str | None = None  # why there are no facts to filter
    # per SECTION_FACTS name: its rows as lists in the order of its columns, or a note saying why there are none
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _missing(conn: psycopg.Connection, tables: Sequence[str]) -> list[str]:
    """The tables of `tables` (and the report's bucket function) not in BI yet."""
    found = conn.execute("SELECT t, to_regclass(t) IS NOT NULL FROM unnest(%s::text[]) AS t", (list(tables),))
    missing = [name for name, present in found.fetchall() if not present]
    row = conn.execute("SELECT to_regprocedure(%s) IS NOT NULL", (BUCKET_FUNCTION,)).fetchone()
    return missing if row and row[0] else [*missing, BUCKET_FUNCTION]


def _section_value(column: str, value: Any, row: dict[str, Any]) -> Any:
    if column == "evidence":  # the call's evidence in words (the JSON stays in ai_creative_insights)
        return evidence_text(str(row["recommendation"]), value) if value is not None else None
    if isinstance(value, date):
        return value.isoformat()
    return _plain(value)


def cohort_campaigns(facts: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The campaigns the cohort chart can draw: in any view (organization or all, source or all, any period),
    the MAX_SERIES with the most leads, ranked as `renderCohorts` in slices.js ranks them. Only their weekly
    cohorts are embedded: a campaign outside every view's top never shows, and 2,000 campaigns x 26 weeks
    would weigh megabytes and slow every filter change."""
    leads: dict[tuple[str, str, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for f in facts:
        if f["leads"]:
            leads[(f["organization_id"], str(f["source"]), f["campaign_id"])][f["bucket"]] += f["leads"]
    chosen: set[tuple[str, str, str]] = set()
    for _, _, buckets in PERIODS:
        in_period = {k: sum(v.get(b, 0.0) for b in buckets) for k, v in leads.items()}
        for org, source in _views(list(leads)):
            keys = (
                k
                for k, n in in_period.items()
                if n > 0 and (org is None or k[0] == org) and (source is None or k[1] == source)
            )
            chosen.update(heapq.nsmallest(MAX_SERIES, keys, key=lambda k: (-in_period[k], k[1], k[2], k[0])))
    return sorted(chosen)


def _views(keys: Sequence[tuple[str, str, str]]) -> list[tuple[str | None, str | None]]:
    """Every (organization, source) pair a reader can select for these campaigns, None for "all"."""
    return list(itertools.product([None, *{k[0] for k in keys}], [None, *{k[1] for k in keys}]))


def model_campaigns(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> set[tuple[str, str, str]]:
    """The campaigns the attributed-revenue chart can draw: in any view, the MAX_CATEGORIES with the most
    revenue credited under one model, ranked as `renderModels` in slices.js ranks them."""
    at = {c: i for i, c in enumerate(columns)}
    revenue: dict[tuple[str, str, str], dict[tuple[str, int], float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        key = (r[at["organization_id"]], r[at["source"]], r[at["campaign_id"]])
        revenue[key][(r[at["model"]], r[at["bucket"]])] += r[at["attributed_revenue"]] or 0.0
    chosen: set[tuple[str, str, str]] = set()
    for _, _, buckets in PERIODS:
        best: dict[tuple[str, str, str], float] = {}
        for key, cells in revenue.items():
            per_model: dict[str, float] = defaultdict(float)
            for (model, bucket), value in cells.items():
                if bucket in buckets:
                    per_model[model] += value
            if per_model:
                best[key] = max(per_model.values())
        for org, source in _views(list(best)):
            keys = (k for k in best if (org is None or k[0] == org) and (source is None or k[1] == source))
            chosen.update(heapq.nsmallest(MAX_CATEGORIES, keys, key=lambda k: (-best[k], k[1], k[2], k[0])))
    return chosen


def _other_campaigns_summed(rows: list[list[Any]], columns: Sequence[str]) -> list[list[Any]]:
    """The model facts of the campaigns the chart can draw, and the others' summed per organization, source,
    model and bucket with campaign_id None (they count in the totals table only): 2,000 campaigns x 5 models x
    4 buckets would weigh megabytes and slow every filter change."""
    at = {c: i for i, c in enumerate(columns)}
    drawn = model_campaigns(rows, columns)
    kept = [r for r in rows if (r[at["organization_id"]], r[at["source"]], r[at["campaign_id"]]) in drawn]
    others: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        if (r[at["organization_id"]], r[at["source"]], r[at["campaign_id"]]) in drawn:
            continue
        key = (r[at["organization_id"]], r[at["source"]], r[at["model"]], r[at["bucket"]])
        row = others.get(key)
        if row is None:
            row = list(r)
            row[at["campaign_id"]], row[at["attributed_leads"]], row[at["attributed_revenue"]] = None, 0.0, 0.0
            others[key] = row
        row[at["attributed_leads"]] += r[at["attributed_leads"]] or 0.0
        row[at["attributed_revenue"]] += r[at["attributed_revenue"]] or 0.0
    return kept + list(others.values())


def _load_section(
    conn: psycopg.Connection,
    facts: SectionFacts,
    organization_id: str | None,
    as_of: date,
    campaigns: Sequence[tuple[str, str, str]],
) -> dict[str, Any]:
    missing = _missing(conn, facts.tables)
    if missing:
        return {
            "columns": facts.columns,
            "rows": [],
            "note": f"{', '.join(missing)} does not exist yet: run "
            "`hyperdash migrate`, then materialize the pipeline's assets.",
        }
    with conn.cursor(row_factory=dict_row) as cur:
        params = {
            "organization_id": organization_id,
            "as_of": as_of,
            **{name: [c[i] for c in campaigns] for i, name in enumerate(("orgs", "sources", "campaigns"))},
        }
        cur.execute(read_sql(f"transforms/report/{facts.sql_file}"), params)
        rows = [[_section_value(c, r[c], r) for c in facts.columns] for r in cur.fetchall()]
    if facts.name == "models":
        rows = _other_campaigns_summed(rows, facts.columns)
    return {"columns": facts.columns, "rows": rows, "note": None}


def load_slice_data(conn: psycopg.Connection, organization_id: str | None, as_of: date) -> SliceData:
    missing = _missing(conn, FACT_TABLES)
    facts: list[dict[str, Any]] = []
    if not missing:
        with conn.cursor(row_factory=dict_row) as cur:
            params = {"organization_id": organization_id, "as_of": as_of}
            cur.execute(read_sql("transforms/report/slice_facts.sql"), params)
            facts = [{k: _plain(row[k]) for k in COLUMNS} for row in cur.fetchall()]
    campaigns = cohort_campaigns(facts)
    sections = {f.name: _load_section(conn, f, organization_id, as_of, campaigns) for f in SECTION_FACTS}
    if missing:
        absent = f"{', '.join(missing)} does not exist yet: run `hyperdash migrate`, then materialize lead_attribution."
        return SliceData(as_of, [], [], [], absent, sections)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id::text AS id, name FROM organizations WHERE id::text = ANY(%s) ORDER BY name, id",
            (sorted({f["organization_id"] for f in facts} | _section_values(sections, "organization_id")),),
        )
        organizations = [(r["id"], r["name"]) for r in cur.fetchall()]
    sources = sorted({str(f["source"]) for f in facts} | _section_values(sections, "source"))
    note = None if facts else "No lead and no spend in BI yet: materialize lead_attribution and the ad metrics."
    return SliceData(as_of, organizations, sources, facts, note, sections)


def _section_values(sections: dict[str, dict[str, Any]], column: str) -> set[str]:
    """Organizations or sources the other sections know too (a platform conversions were sent to, say)."""
    found: set[str] = set()
    for section in sections.values():
        at = list(section["columns"]).index(column)
        found |= {str(row[at]) for row in section["rows"]}
    return found


@dataclass(frozen=True)
class Slice:
    organization_id: str = ALL
    period: str = DEFAULT_PERIOD
    source: str = ALL


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _currency(currencies: set[str]) -> str | None:
    if not currencies:
        return None
    return next(iter(currencies)) if len(currencies) == 1 else "mixed"


def campaign_rows(facts: Sequence[dict[str, Any]], view: Slice) -> list[dict[str, Any]]:
    """One row per organization, source and campaign of the slice, sorted by spend then leads (largest first);
    the same grouping, sums, ratios and order as `campaignRows` in slices.js."""
    buckets = next(b for value, _, b in PERIODS if value == view.period)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in facts:
        if f["bucket"] not in buckets:
            continue
        if view.organization_id and f["organization_id"] != view.organization_id:
            continue
        if view.source and f["source"] != view.source:
            continue
        key = (f["organization_id"], f["source"], f["campaign_id"])
        row = groups.setdefault(
            key,
            {
                "organization_id": key[0],
                "source": key[1],
                "campaign_id": key[2],
                "campaign_name": None,
                "currencies": set(),
                **{k: 0.0 for k in SUMMED},
            },
        )
        row["campaign_name"] = row["campaign_name"] or f["campaign_name"]
        if f["currency"]:
            row["currencies"].add(f["currency"])
        for k in SUMMED:
            row[k] += f[k] or 0
    rows = [_with_metrics(r) for r in groups.values()]
    return sorted(rows, key=lambda r: (-r["spend"], -r["leads"], r["organization_id"], r["source"], r["campaign_id"]))


Z_95 = 1.959963984540054  # as analytics.wilson_bound


def _wilson_bound(successes: float, trials: float, side: float) -> float | None:
    """analytics.wilson_bound (migration 0301), operation for operation, so the page shows what SQL would."""
    if not trials > 0:
        return None
    rate = successes / trials
    spread = Z_95 * math.sqrt(max(0.0, rate * (1 - rate)) / trials + Z_95 * Z_95 / (4 * trials * trials))
    return min(1.0, max(0.0, (rate + Z_95 * Z_95 / (2 * trials) + side * spread) / (1 + Z_95 * Z_95 / trials)))


def wilson(successes: float, trials: float) -> tuple[float | None, float | None]:
    """The 95% interval of successes / trials (analytics.wilson_low, wilson_high); None, None without trials."""
    low, high = _wilson_bound(successes, trials, -1.0), _wilson_bound(successes, trials, 1.0)
    if low is None or high is None:
        return None, None
    return min(successes / trials, low), max(successes / trials, high)


def _with_metrics(row: dict[str, Any]) -> dict[str, Any]:
    currencies = row.pop("currencies")
    low, high = wilson(row["customers"], row["leads"])
    return {
        **row,
        "currency": _currency(currencies),
        "cpl": _ratio(row["spend"], row["leads"]),
        "lead_to_customer_rate": _ratio(row["customers"], row["leads"]),
        "lead_to_customer_rate_low": low,
        "lead_to_customer_rate_high": high,
        "platform_roas": _ratio(row["conversion_value"], row["spend"]),
        "real_roas": _ratio(row["revenue"], row["spend"]),
    }


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    sums = {k: sum(r[k] for r in rows) for k in SUMMED}
    return _with_metrics({**sums, "currencies": {r["currency"] for r in rows if r["currency"]}})


# (key, header) of the campaigns table; slices.js writes the same cells (COLUMNS there)
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("organization", "organization"),
    ("campaign", "campaign"),
    ("leads", "leads"),
    ("customers", "customers"),
    ("rate", "lead->customer"),
    ("interval", "95% interval"),
    ("revenue", "won revenue"),
    ("spend", "spend"),
    ("cpl", "CPL"),
    ("platform_roas", "platform ROAS"),
    ("real_roas", "real ROAS"),
)


def cells(row: dict[str, Any], org_names: dict[str, str]) -> dict[str, str]:
    org = row.get("organization_id")
    return {
        "organization": org_names.get(org, org) if org else "",
        "campaign": campaign_label(row) if "campaign_id" in row else "",
        "leads": _num(row["leads"], charts.fmt_number),
        "customers": _num(row["customers"], charts.fmt_number),
        "rate": _num(row["lead_to_customer_rate"], charts.fmt_percent),
        "interval": interval_words(row),
        "revenue": _num(row["revenue"], charts.fmt_money),
        "spend": _money(row["spend"], row["currency"]),
        "cpl": _money(row["cpl"], row["currency"]),
        "platform_roas": _num(row["platform_roas"], charts.fmt_ratio),
        "real_roas": _num(row["real_roas"], charts.fmt_ratio),
    }


def slice_chart(rows: Sequence[dict[str, Any]], spec: dict[str, Any]) -> str | None:
    """The slice's campaigns as points (x and y per `spec`), coloured by source; slices.js draws the same chart
    with the same code translated (scatterChart) when a filter changes."""
    points = [
        charts.Point(
            x=r[spec["x"]],
            y=r[spec["y"]],
            label=campaign_label(r),
            series=r["source"],
            y_low=r["lead_to_customer_rate_low"] if spec["interval"] else None,
            y_high=r["lead_to_customer_rate_high"] if spec["interval"] else None,
        )
        for r in rows
        if r[spec["x"]] is not None and r[spec["y"]] is not None
    ][:MAX_POINTS]
    if not points:
        return None
    return charts.scatter_chart(
        spec["id"],
        spec["title"],
        points,
        charts.Axis(spec["x_label"], FORMATS[spec["x_fmt"]]),
        charts.Axis(spec["y_label"], FORMATS[spec["y_fmt"]]),
        diagonal=spec["diagonal"],
    )


def _chart_html(rows: Sequence[dict[str, Any]], spec: dict[str, Any]) -> str:
    svg = slice_chart(rows, spec)
    note_hidden = "" if rows and not svg else " hidden"
    return (
        f'<p class="note" id="{spec["id"]}-empty"{note_hidden}>{escape(spec["empty"])}</p>'
        f'<figure class="slice-chart" id="{spec["id"]}-figure"{"" if svg else " hidden"}>{svg or ""}</figure>'
    )


def _row_html(values: dict[str, str], tag: str = "td") -> str:
    out = []
    for key, _ in TABLE_COLUMNS:
        css = "" if key in ("organization", "campaign") else ' class="num"'
        out.append(f'<{tag} data-col="{key}"{css}>{escape(values[key])}</{tag}>')
    return "".join(out)


def period_words(period: str, as_of: date) -> str:
    words = next(w for value, w, _ in PERIODS if value == period)
    if period == "all":
        return "all time"
    days = int(period)
    start = date.fromordinal(as_of.toordinal() - days + 1)
    return f"{words} ({start.isoformat()} to {as_of.isoformat()})"


def _org_words(view: Slice, data: SliceData, all_words: str) -> str:
    if not view.organization_id:
        return all_words
    return dict(data.organizations).get(view.organization_id, view.organization_id)


def _source_words(view: Slice, all_words: str) -> str:
    return f"source {view.source}" if view.source else all_words


def empty_text(view: Slice, data: SliceData) -> str:
    return (
        f"Nothing to show for {_org_words(view, data, 'any organization')}, {_source_words(view, 'any source')}, "
        f"{period_words(view.period, data.as_of)}: no lead was created and no spend is dated in that period."
    )


def caption(view: Slice, data: SliceData, shown: int, total: int) -> str:
    return (
        f"{period_words(view.period, data.as_of)} · {_org_words(view, data, 'all organizations')} · "
        f"{_source_words(view, 'all sources')}: {shown} of {total} campaigns shown."
    )


def _select(name: str, label: str, options: Sequence[tuple[str, str]], selected: str) -> str:
    opts = "".join(
        f'<option value="{escape(v)}"{" selected" if v == selected else ""}>{escape(text)}</option>'
        for v, text in options
    )
    return f'<label>{escape(label)} <select id="filter-{name}" name="{name}" disabled>{opts}</select></label>'


def filters_html(data: SliceData) -> str:
    """The filter bar; disabled in the HTML, enabled by the script (without JavaScript: the default view)."""
    orgs = [(ALL, "all organizations"), *((i, f"{n} ({i})") for i, n in data.organizations)]
    periods = [(v, w) for v, w, _ in PERIODS]
    sources = [(ALL, "all sources"), *((s, s) for s in data.sources)]
    return (
        '<form id="filters" class="filters">'
        + _select("organization", "Organization", orgs, ALL)
        + _select("period", "Period", periods, DEFAULT_PERIOD)
        + _select("source", "Source", sources, ALL)
        + "</form>"
        + '<p class="meta" id="filters-explain">'
        + escape(
            f"As of {data.as_of.isoformat()} (UTC). A period counts back from that day by the date each lead was "
            "created; spend-based metrics (CPL, ROAS) divide the spend dated within the same days. Source is the "
            "lead's source (from its utm_source, gclid or fbclid: meta, google, organic, ...) and the ad "
            "platform for spend. Without JavaScript this page shows the default view: last 30 days, all "
            "organizations, all sources."
        )
        + "</p>"
    )


def slice_section(data: SliceData, view: Slice | None = None) -> str:
    """The filtered campaigns section, server-rendered for `view` (the default view)."""
    view = view or Slice()
    rows = campaign_rows(data.facts, view)
    org_names = dict(data.organizations)
    head = _row_html({k: h for k, h in TABLE_COLUMNS}, "th")
    body = "".join(
        f'<tr data-key="{escape(r["organization_id"])}/{escape(r["source"])}/{escape(r["campaign_id"])}">'
        f"{_row_html(cells(r, org_names))}</tr>"
        for r in rows[:TABLE_ROWS]
    )
    total = {**cells(totals(rows), org_names), "organization": "total", "campaign": f"{len(rows)} campaigns"}
    empty = not rows
    parts = [
        '<section id="slice"><h2>Leads, won revenue and spend per campaign</h2>',
        '<p class="explain">Per campaign in the selected organization, period and source: the leads created in '
        "the period, those that became customers (a live won deal) and their won revenue, against the spend dated "
        "in the period. n/a: a ratio whose denominator is 0.</p>",
        f'<p class="meta" id="slice-caption">{escape(caption(view, data, min(len(rows), TABLE_ROWS), len(rows)))}</p>',
        f'<p class="note" id="slice-empty"{"" if empty else " hidden"}>'
        f"{escape(data.note or empty_text(view, data))}</p>",
        f'<table id="slice-table"{" hidden" if empty else ""}><thead><tr>{head}</tr></thead>'
        f'<tbody>{body}</tbody><tfoot><tr data-key="total">{_row_html(total)}</tr></tfoot></table>',
        *(_chart_html(rows, spec) for spec in CHARTS),
        "</section>",
    ]
    return "\n".join(parts)


def embedded_data(data: SliceData) -> str:
    """The facts as JSON in a non-executed script element (every `<` written \\u003c, so no value can close
    the element or open a comment in it)."""
    payload = {
        "as_of": data.as_of.isoformat(),
        "periods": [{"value": v, "words": w, "buckets": sorted(b)} for v, w, b in PERIODS],
        "organizations": data.organizations,
        "columns": list(COLUMNS),
        "rows": [[f[c] for c in COLUMNS] for f in data.facts],
        "table_rows": TABLE_ROWS,
        "max_points": MAX_POINTS,
        "charts": CHARTS,
        "note": data.note,
        "sections": data.sections,
        "max_categories": MAX_CATEGORIES,
        "max_series": MAX_SERIES,
        "max_findings": MAX_FINDINGS,
    }
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("<", "\\u003c")
    return f'<script type="application/json" id="report-data">{text}</script>'


def script_html() -> str:
    return f"<script>{SCRIPT}</script>"
