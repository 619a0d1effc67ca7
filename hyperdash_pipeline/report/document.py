"""The correlation report: one self-contained HTML page (inline SVG, inline CSS) and a markdown summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from typing import Any

from hyperdash_pipeline.insights.decide import RULE_WORDS
from hyperdash_pipeline.report import charts
from hyperdash_pipeline.report.charts import Axis, Point
from hyperdash_pipeline.report.data import Section

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
section { margin: 2.5rem 0; } .note { background: #fff6d6; border-left: 4px solid #efb118; padding: 0.5rem 1rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin-top: 0.8rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .explain { color: #555; }
.filters { display: flex; gap: 1.2rem; flex-wrap: wrap; margin-top: 1rem; } .filters select { margin-left: 0.3rem; }
tfoot td { font-weight: bold; border-top: 2px solid #999; }
"""


@dataclass(frozen=True)
class Figure:
    """One section of the page: a heading, what it shows, a chart or a note, and tables."""

    key: str
    title: str
    explain: str
    svg: str | None
    note: str | None
    tables: tuple[str, ...] = ()

    @property
    def drawn(self) -> bool:
        return self.svg is not None


NOT_APPLICABLE = "n/a"  # a metric whose denominator is 0 (no video views: no hook rate) is n/a, not 0
TABLE_ROWS = 15


def _num(value: Any, fmt: Callable[[float], str]) -> str:
    return NOT_APPLICABLE if value is None else fmt(float(value))


def _money(value: Any, currency: str | None) -> str:
    """A rounded amount with its currency ('mixed': several currencies were summed)."""
    text = _num(value, charts.fmt_money)
    return text if value is None or not currency else f"{text} {currency}"


def interval_words(row: dict[str, Any]) -> str:
    low, high = row["lead_to_customer_rate_low"], row["lead_to_customer_rate_high"]
    if low is None or high is None:
        return NOT_APPLICABLE
    return f"{charts.fmt_percent(float(low))} to {charts.fmt_percent(float(high))}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(c)}</td>' if i >= numeric_from else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def campaign_label(row: dict[str, Any]) -> str:
    """The campaign's latest name beside its ids: "Spring sale (meta/123)", or the ids alone."""
    ids = f"{row['source']}/{row['campaign_id']}"
    return f"{row['campaign_name']} ({ids})" if row.get("campaign_name") else ids


def creative_label(row: dict[str, Any]) -> str:
    """The creative's campaign and ad names beside its ids: "Spring sale / Video 1 (meta/123/456)"."""
    ids = f"{row['source']}/{row['campaign_id']}/{row['ad_id']}"
    names = " / ".join(n for n in (row.get("campaign_name"), row.get("ad_name")) if n)
    return f"{names} ({ids})" if names else ids


def _points(
    rows: Sequence[dict[str, Any]], x: str, y: str, series: Callable[[dict[str, Any]], str], **ci: str
) -> list[Point]:
    return [
        Point(
            x=float(r[x]),
            y=float(r[y]),
            label=creative_label(r) if "ad_id" in r else campaign_label(r),
            series=series(r),
            y_low=None if r.get(ci.get("low", "")) is None else float(r[ci["low"]]),
            y_high=None if r.get(ci.get("high", "")) is None else float(r[ci["high"]]),
        )
        for r in rows
        if r.get(x) is not None and r.get(y) is not None
    ]


def _chart_or_note(
    section: Section, points: list[Point], empty: str, draw: Callable[[list[Point]], str]
) -> tuple[str | None, str | None]:
    if section.note:
        return None, section.note
    if not points:
        return None, empty
    return draw(points), None


def cpl_vs_quality(section: Section) -> Figure:
    points = _points(
        section.rows,
        "cpl",
        "lead_to_customer_rate",
        lambda r: r["source"],
        low="lead_to_customer_rate_low",
        high="lead_to_customer_rate_high",
    )
    svg, note = _chart_or_note(
        section,
        points,
        "No campaign has both a cost per lead and a lead->customer rate yet (spend or leads are 0).",
        lambda pts: charts.scatter_chart(
            "chart-cpl-vs-quality",
            "Cost per lead against lead->customer rate",
            pts,
            Axis("cost per lead", charts.fmt_money),
            Axis("lead -> customer rate", charts.fmt_percent),
        ),
    )
    rows = [
        [
            campaign_label(r),
            _money(r["spend"], r.get("currency")),
            _num(r["leads"], charts.fmt_number),
            _num(r["customers"], charts.fmt_number),
            _money(r["cpl"], r.get("currency")),
            _num(r["lead_to_customer_rate"], charts.fmt_percent),
            interval_words(r),
            _num(r["platform_roas"], charts.fmt_ratio),
            _num(r["real_roas"], charts.fmt_ratio),
        ]
        for r in section.rows[:TABLE_ROWS]
    ]
    headers = ["campaign", "spend", "leads", "customers", "CPL", "lead->customer", "95% interval"]
    table = _table([*headers, "platform ROAS", "real ROAS"], rows) if rows else ""
    return Figure(
        "cpl-vs-quality",
        "Which campaigns bring leads that buy?",
        "Each point is a campaign: what a lead costs (x) against the share of its leads that became customers (y), "
        "with the 95% interval of that rate. Cheap leads that never buy sit bottom-left; "
        "worth-the-price leads top-right.",
        svg,
        note,
        (table,) if table else (),
    )


def platform_vs_real_roas(section: Section) -> Figure:
    points = _points(section.rows, "platform_roas", "real_roas", lambda r: r["source"])
    svg, note = _chart_or_note(
        section,
        points,
        "No campaign has both a platform ROAS and a real ROAS yet (no spend recorded).",
        lambda pts: charts.scatter_chart(
            "chart-platform-vs-real-roas",
            "Platform ROAS against real ROAS",
            pts,
            Axis("platform-reported ROAS", charts.fmt_ratio),
            Axis("real ROAS (CRM won deals)", charts.fmt_ratio),
            diagonal=True,
        ),
    )
    return Figure(
        "platform-vs-real-roas",
        "Does the platform's ROAS hold up in the CRM?",
        "Each point is a campaign: the ROAS the ad platform reports from its pixel (x) against the ROAS of the deals "
        "its leads actually closed (y). Points below the dashed line are over-reported by the platform.",
        svg,
        note,
    )


def hook_vs_conversion(section: Section) -> Figure:
    points = _points(
        section.rows,
        "hook_rate",
        "lead_to_customer_rate",
        lambda r: r.get("recommendation") or "no call",
        low="lead_to_customer_rate_low",
        high="lead_to_customer_rate_high",
    )
    svg, note = _chart_or_note(
        section,
        points,
        "No creative has both a hook rate and a lead->customer rate yet (video views or leads missing).",
        lambda pts: charts.scatter_chart(
            "chart-hook-vs-conversion",
            "Hook rate against conversion rate per creative",
            pts,
            Axis("hook rate (3-second views / impressions)", charts.fmt_percent),
            Axis("lead -> customer rate", charts.fmt_percent),
        ),
    )
    rows = [
        [
            creative_label(r),
            _money(r["spend"], r.get("currency")),
            _num(r["leads"], charts.fmt_number),
            _num(r["hook_rate"], charts.fmt_percent),
            _num(r["hold_rate"], charts.fmt_percent),
            _num(r["lead_to_customer_rate"], charts.fmt_percent),
            str(r.get("recommendation") or NOT_APPLICABLE),
        ]
        for r in section.rows[:TABLE_ROWS]
    ]
    headers = ["creative", "spend", "leads", "hook rate", "hold rate", "lead->customer", "call"]
    return Figure(
        "hook-vs-conversion",
        "Do creatives that hook also convert?",
        "Each point is a creative (ad), coloured by its recommendation: a high hook rate with a low conversion rate "
        "attracts attention but not buyers. A creative without video views (a search ad) has no hook or hold "
        "rate: n/a in the table, not on the chart.",
        svg,
        note,
        (_table(headers, rows),) if rows else (),
    )


def revenue_by_model(section: Section, totals: Section) -> Figure:
    categories = list(dict.fromkeys(campaign_label(r) for r in section.rows))
    models = sorted({str(r["model"]) for r in section.rows})
    values = {(campaign_label(r), str(r["model"])): r["attributed_revenue"] for r in section.rows}
    series = {m: [values.get((c, m)) for c in categories] for m in models}
    has_values = any(v is not None for vs in series.values() for v in vs)
    svg = None
    note = section.note
    if not note and not has_values:
        note = "No campaign has attributed revenue yet."
    elif not note:
        svg = charts.grouped_bar_chart(
            "chart-revenue-by-model",
            "Attributed revenue by model",
            categories,
            series,
            Axis("attributed revenue", charts.fmt_money),
        )
    rows = [
        [
            str(r["model"]),
            _num(r["attributed_leads"], charts.fmt_number),
            _num(r["attributed_revenue"], charts.fmt_money),
            _num(r["spend"], charts.fmt_money),
            _num(r["roas"], charts.fmt_ratio),
        ]
        for r in totals.rows
    ]
    table = _table(["model", "attributed leads", "attributed revenue", "spend", "ROAS"], rows) if rows else ""
    return Figure(
        "revenue-by-model",
        "How much revenue does each attribution model give each campaign?",
        "Revenue of won deals split over the touches that led to them, per model, for the campaigns with the most "
        "attributed revenue. Campaigns that only look good under last touch are closers, not openers.",
        svg,
        note,
        (table,) if table else (),
    )


def cohort_curves(section: Section) -> Figure:
    points = [
        Point(
            x=float(r["week"].toordinal() if isinstance(r["week"], date) else r["week"]),
            y=float(r["lead_to_customer_rate"]),
            label=f"{campaign_label(r)} week of {r['week']} ({r['leads']:.0f} leads, {r['cohort_age_days']} days old)",
            series=campaign_label(r),
        )
        for r in section.rows
        if r.get("lead_to_customer_rate") is not None
    ]
    svg, note = _chart_or_note(
        section,
        points,
        "No weekly cohort has leads yet.",
        lambda pts: charts.scatter_chart(
            "chart-cohort-curves",
            "Lead -> customer rate per weekly cohort",
            pts,
            Axis("week the leads arrived", charts.fmt_date, zero=False),
            Axis("lead -> customer rate", charts.fmt_percent),
            connect=True,
            x_ticks=_week_ticks(pts),
        ),
    )
    return Figure(
        "cohort-curves",
        "How do weekly lead cohorts convert?",
        "Each line is a campaign (those with the most leads); each point the share of one week's leads that became "
        "customers so far. Recent weeks are young cohorts still converting, so their rate keeps rising.",
        svg,
        note,
    )


def _week_ticks(points: Sequence[Point], most: int = 8) -> list[float]:
    """One tick per week, thinned to at most `most` so the dates stay readable."""
    weeks = sorted({p.x for p in points})
    step = -(-len(weeks) // most)
    return weeks[::step]


def _ordinal(rank: float) -> str:
    n = round(100 * rank)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} percentile"


def _rate_words(ev: dict[str, Any]) -> str | None:
    if ev.get("leads") is None or ev.get("customers") is None:
        return None
    rate = _num(ev.get("lead_to_customer_rate"), charts.fmt_percent)
    text = f"{ev['customers']:,} of {ev['leads']:,} leads bought ({rate}"
    interval = ev.get("interval")
    if isinstance(interval, dict):
        conf = f"{100 * float(interval.get('confidence') or 0.95):g}%"
        low, high = (_num(interval.get(k), charts.fmt_percent) for k in ("low", "high"))
        text += f", {conf} interval {low} to {high}"
    return text + ")"


def _account_words(ev: dict[str, Any], currency: str | None) -> str | None:
    account = ev.get("account")
    if not isinstance(account, dict) or account.get("leads") is None:
        return None
    rate = _num(account.get("lead_to_customer_rate"), charts.fmt_percent)
    return (
        f"account: {account.get('customers', 0):,} of {account['leads']:,} ({rate}), "
        f"CAC {_money(account.get('cac'), currency)}"
    )


def _cost_words(ev: dict[str, Any], currency: str | None) -> str | None:
    if ev.get("spend") is None:
        return None
    return (
        f"spend {_money(ev['spend'], currency)}, CPL {_money(ev.get('cpl'), currency)}, "
        f"CAC {_money(ev.get('cac'), currency)}"
    )


def _hook_words(ev: dict[str, Any]) -> str | None:
    if "hook_rate" not in ev:
        return None
    if ev["hook_rate"] is None:
        return f"hook rate {NOT_APPLICABLE} (no video views)"
    rank = ev.get("hook_rate_percentile")
    where = f", {_ordinal(float(rank))} in its account" if rank is not None else ""
    return f"hook rate {charts.fmt_percent(float(ev['hook_rate']))}{where}"


def _rule_words(recommendation: str, ev: dict[str, Any]) -> str | None:
    rule = RULE_WORDS.get(recommendation)
    thresholds = ev.get("thresholds")
    if rule and isinstance(thresholds, dict) and thresholds.get("min_leads") is not None:
        conf = f"{100 * float(thresholds.get('confidence') or 0.95):g}%"
        rule += f" (at least {thresholds['min_leads']} leads, {conf} confidence)"
    return f"rule: {rule}" if rule else None


def evidence_text(recommendation: str, evidence: Any) -> str:
    """The evidence JSON of a call in words: rounded numbers with their units and the rule that made it
    (the JSON itself stays in ai_creative_insights.evidence)."""
    ev = evidence if isinstance(evidence, dict) else {}
    currency = ev.get("currency")
    parts = (
        _rate_words(ev),
        _account_words(ev, currency),
        _cost_words(ev, currency),
        _hook_words(ev),
        _rule_words(recommendation, ev),
    )
    return "; ".join(p for p in parts if p) or NOT_APPLICABLE


def findings_tables(section: Section) -> tuple[str, ...]:
    tables = []
    for call, heading in (("scale", "Scale"), ("pause", "Pause")):
        rows = [
            [creative_label(r), str(r["reason"]), evidence_text(call, r["evidence"])]
            for r in section.rows
            if r["recommendation"] == call
        ]
        if rows:
            tables.append(f"<h3>{heading}</h3>" + _table(["creative", "reason", "evidence"], rows, numeric_from=99))
    return tuple(tables)


def findings(section: Section, counts: Section) -> Figure:
    count_text = ", ".join(f"{r['recommendation']}: {r['creatives']}" for r in counts.rows)
    tables = findings_tables(section)
    note = section.note or (None if tables else "No creative has a scale or pause call yet.")
    return Figure(
        "findings",
        "Top findings: what to scale, what to pause",
        "The newest calls from ai_creative_insights, each with its reason and statistical evidence"
        + (f" (all calls: {count_text})." if count_text else "."),
        None,
        note,
        tables,
    )


def conversions_sent(section: Section) -> Figure:
    """Per platform, the CRM outcomes sent back to it (docs/conversions.md)."""
    rows = [
        [str(r["platform"]), *(str(r[k]) for k in ("sent", "rejected", "expired", "skipped_consent", "pending"))]
        for r in section.rows
    ]
    headers = ["platform", "sent", "rejected", "expired", "skipped (consent)", "pending now"]
    return Figure(
        "conversions",
        "CRM outcomes sent back to the ad platforms (last 7 days)",
        "Leads, qualified leads and won deals reported to Meta and Google so their bidding optimises for "
        "customers; rejected events carry the platform's reason in conversions_outbox.",
        None,
        section.note,
        (_table(headers, rows),) if rows else (),
    )


def build_figures(sections: dict[str, Section]) -> list[Figure]:
    return [
        findings(sections["findings"], sections["insight_counts"]),
        cpl_vs_quality(sections["campaigns"]),
        platform_vs_real_roas(sections["campaigns"]),
        hook_vs_conversion(sections["creatives"]),
        revenue_by_model(sections["attributed_revenue"], sections["model_totals"]),
        cohort_curves(sections["weekly"]),
        conversions_sent(sections["conversions"]),
    ]


def render_html(
    figures: Sequence[Figure],
    *,
    generated_at: datetime,
    organization_id: str | None,
    filtered: Sequence[str] = (),
    script: str = "",
    script_hash: str = "",
) -> str:
    """`filtered`: the filter bar and filtered sections (HTML), placed first; `script` (inline, allowed by its
    hash in the Content-Security-Policy) redraws them when a filter changes."""
    scope = f"organization {organization_id}" if organization_id else "all organizations"
    csp = "default-src 'none'; style-src 'unsafe-inline'" + (f"; script-src '{script_hash}'" if script_hash else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        "<title>HyperDash correlation report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>HyperDash correlation report</h1>",
        f'<p class="meta">{escape(scope)} · generated {generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC</p>',
        *filtered,
    ]
    if filtered:
        parts.append(
            '<p class="note" id="unfiltered">Without JavaScript the filters do not apply to the sections below: '
            "they show every day and source of the report's scope (the correlation tables, the calls made on all "
            "the data, and the conversions sent in the last 7 days).</p>"
        )
    for fig in figures:
        parts.append(
            f'<section id="{escape(fig.key)}" data-drawn="{str(fig.drawn).lower()}"><h2>{escape(fig.title)}</h2>'
        )
        parts.append(f'<p class="explain">{escape(fig.explain)}</p>')
        # the body the filters' script replaces with the selected slice (the default view once it runs)
        parts.append(f'<div class="section-body" id="{escape(fig.key)}-body">')
        if fig.note:
            parts.append(f'<p class="note">{escape(fig.note)}</p>')
        if fig.svg:
            parts.append(f"<figure>{fig.svg}</figure>")
        parts.extend(fig.tables)
        parts.append("</div></section>")
    parts.append(script)
    parts.append("</body></html>")
    return "\n".join(parts)


def summary_markdown(sections: dict[str, Section], figures: Sequence[Figure]) -> str:
    """The top findings for the asset's metadata panel in the Dagster UI."""
    lines = ["## Top findings"]
    for call, heading in (("scale", "Scale"), ("pause", "Pause")):
        rows = [r for r in sections["findings"].rows if r["recommendation"] == call][:5]
        for r in rows:
            lines.append(f"- **{heading}** `{creative_label(r)}`: {r['reason']}")
    if len(lines) == 1:
        lines.append("- No scale or pause call yet.")
    gap = _largest_roas_gap(sections["campaigns"].rows)
    if gap:
        lines.append(
            f"- **Largest ROAS gap** `{campaign_label(gap)}`: platform reports {gap['platform_roas']:.2f}x, "
            f"CRM deals say {gap['real_roas']:.2f}x"
        )
    lines += ["", "## Sections", ""]
    lines += [f"- {fig.title}: {'drawn' if fig.drawn or fig.tables else fig.note}" for fig in figures]
    return "\n".join(lines)


def _largest_roas_gap(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    both = [r for r in rows if r.get("platform_roas") is not None and r.get("real_roas") is not None]
    return max(both, key=lambda r: abs(r["platform_roas"] - r["real_roas"]), default=None)
