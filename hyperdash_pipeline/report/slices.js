// The report's filters (hyperdash_pipeline/report/slices.py): regroups the embedded facts for the selected
// organization, period and source and rewrites the campaigns table. Same grouping, sums, order and number
// formats as the Python that wrote the default view; nothing is fetched.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var NA = "n/a";
  var SUMMED = ["leads", "customers", "revenue", "spend", "conversion_value"];
  var COLUMNS = ["organization", "campaign", "leads", "customers", "rate", "interval", "revenue", "spend", "cpl",
    "platform_roas", "real_roas"];
  var facts = data.rows.map(function (r) {
    var f = {};
    data.columns.forEach(function (c, i) { f[c] = r[i]; });
    return f;
  });
  var orgNames = {};
  data.organizations.forEach(function (o) { orgNames[o[0]] = o[1]; });

  // Python's format(x, ".{digits}f"): the exact binary value rounded, an exact tie to even (2.5 -> "2"), where
  // toFixed takes the larger. x is a tie exactly when x * 2^(digits + 1) is an odd integer (exact scaling).
  function fixed(x, digits) {
    if (Math.abs(x) >= 1e21) return BigInt(x).toString() + (digits > 0 ? "." + "0".repeat(digits) : "");
    var twice = x * Math.pow(2, digits + 1);
    if (Number.isInteger(twice) && Math.abs(twice) % 2 === 1) {
      var low = Math.floor(x * Math.pow(10, digits));
      return ((low % 2 === 0 ? low : low + 1) / Math.pow(10, digits)).toFixed(digits);
    }
    return x.toFixed(digits);
  }
  function grouped(text) {  // "1234567.89" -> "1,234,567.89"
    var parts = text.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return parts.join(".");
  }
  // The p significant digits of |x| > 0 rounded like Python (half to even on an exact tie), and the exponent.
  function significant(x, p) {
    var e = Number(x.toExponential().split("e")[1]);
    var d = p - 1 - e;
    var digits;
    if (d >= 0) {
      digits = fixed(x, d).replace(".", "").replace(/^0+/, "");
    } else {
      var q = x / Math.pow(10, -d);
      var low = Math.floor(q);
      var tie = Number.isInteger(2 * q) && (2 * q) % 2 === 1;
      digits = String(tie ? (low % 2 === 0 ? low : low + 1) : (q - low > 0.5 ? low + 1 : low));
    }
    if (digits.length > p) { e += 1; digits = digits.slice(0, p); }
    return { digits: digits, exp: e };
  }
  function general(x, p) {  // Python's format(x, ".{p}g")
    if (x === 0) return "0";
    var sig = significant(Math.abs(x), p);
    var digits = sig.digits, e = sig.exp, sign = x < 0 ? "-" : "";
    var strip = function (s) { return s.replace(/0+$/, ""); };
    if (e >= -4 && e < p) {
      var whole = e >= 0 ? digits.slice(0, e + 1) : "0";
      var frac = strip(e >= 0 ? digits.slice(e + 1) : "0".repeat(-e - 1) + digits);
      return sign + whole + (frac ? "." + frac : "");
    }
    var rest = strip(digits.slice(1));
    return sign + digits[0] + (rest ? "." + rest : "") + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
  }
  function fmtNumber(v) { return Math.abs(v) >= 1000 ? grouped(fixed(v, 0)) : general(v, 3); }
  function fmtPercent(v) { return Math.abs(v) >= 0.1 || v === 0 ? fixed(100 * v, 0) + "%" : fixed(100 * v, 1) + "%"; }
  function fmtMoney(v) { return Math.abs(v) >= 100 ? grouped(fixed(v, 0)) : grouped(fixed(v, 2)); }
  function fmtRatio(v) { return general(v, 2) + "x"; }
  function num(v, fmt) { return v === null || v === undefined ? NA : fmt(v); }
  function money(v, currency) {
    var text = num(v, fmtMoney);
    return v === null || !currency ? text : text + " " + currency;
  }
  function ratio(a, b) { return b ? a / b : null; }
  // analytics.wilson_bound (migration 0301) and slices.wilson in Python, operation for operation.
  var Z = 1.959963984540054;
  function wilsonBound(successes, trials, side) {
    if (!(trials > 0)) return null;
    var rate = successes / trials;
    var spread = Z * Math.sqrt(Math.max(0, rate * (1 - rate)) / trials + Z * Z / (4 * trials * trials));
    return Math.min(1, Math.max(0, (rate + Z * Z / (2 * trials) + side * spread) / (1 + Z * Z / trials)));
  }
  function wilson(successes, trials) {
    var low = wilsonBound(successes, trials, -1), high = wilsonBound(successes, trials, 1);
    if (low === null || high === null) return [null, null];
    return [Math.min(successes / trials, low), Math.max(successes / trials, high)];
  }
  function intervalWords(r) {
    if (r.lead_to_customer_rate_low === null || r.lead_to_customer_rate_high === null) return NA;
    return fmtPercent(r.lead_to_customer_rate_low) + " to " + fmtPercent(r.lead_to_customer_rate_high);
  }
  function currencyOf(set) {
    var list = Object.keys(set);
    return list.length === 0 ? null : list.length === 1 ? list[0] : "mixed";
  }
  function withMetrics(row) {
    row.currency = currencyOf(row.currencies);
    delete row.currencies;
    row.cpl = ratio(row.spend, row.leads);
    row.lead_to_customer_rate = ratio(row.customers, row.leads);
    var interval = wilson(row.customers, row.leads);
    row.lead_to_customer_rate_low = interval[0];
    row.lead_to_customer_rate_high = interval[1];
    row.platform_roas = ratio(row.conversion_value, row.spend);
    row.real_roas = ratio(row.revenue, row.spend);
    return row;
  }
  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  function campaignRows(view) {
    var buckets = data.periods.filter(function (p) { return p.value === view.period; })[0].buckets;
    var groups = new Map();
    facts.forEach(function (f) {
      if (buckets.indexOf(f.bucket) < 0) return;
      if (view.organization && f.organization_id !== view.organization) return;
      if (view.source && f.source !== view.source) return;
      var key = JSON.stringify([f.organization_id, f.source, f.campaign_id]);
      var row = groups.get(key);
      if (!row) {
        row = { organization_id: f.organization_id, source: f.source, campaign_id: f.campaign_id,
          campaign_name: null, currencies: {} };
        SUMMED.forEach(function (k) { row[k] = 0; });
        groups.set(key, row);
      }
      row.campaign_name = row.campaign_name || f.campaign_name;
      if (f.currency) row.currencies[f.currency] = true;
      SUMMED.forEach(function (k) { row[k] += f[k] || 0; });
    });
    var rows = Array.from(groups.values()).map(withMetrics);
    rows.sort(function (a, b) {
      return (b.spend - a.spend) || (b.leads - a.leads) || cmp(a.organization_id, b.organization_id)
        || cmp(a.source, b.source) || cmp(a.campaign_id, b.campaign_id);
    });
    return rows;
  }
  function totals(rows) {
    var row = { currencies: {} };
    SUMMED.forEach(function (k) { row[k] = 0; });
    rows.forEach(function (r) {
      SUMMED.forEach(function (k) { row[k] += r[k]; });
      if (r.currency) row.currencies[r.currency] = true;
    });
    return withMetrics(row);
  }
  function campaignLabel(r) {
    var ids = r.source + "/" + r.campaign_id;
    return r.campaign_name ? r.campaign_name + " (" + ids + ")" : ids;
  }
  function cells(r) {
    return {
      organization: r.organization_id ? (orgNames[r.organization_id] || r.organization_id) : "",
      campaign: r.campaign_id !== undefined ? campaignLabel(r) : "",
      leads: num(r.leads, fmtNumber),
      customers: num(r.customers, fmtNumber),
      rate: num(r.lead_to_customer_rate, fmtPercent),
      interval: intervalWords(r),
      revenue: num(r.revenue, fmtMoney),
      spend: money(r.spend, r.currency),
      cpl: money(r.cpl, r.currency),
      platform_roas: num(r.platform_roas, fmtRatio),
      real_roas: num(r.real_roas, fmtRatio)
    };
  }
  function tableRow(key, values) {
    var tr = document.createElement("tr");
    tr.dataset.key = key;
    COLUMNS.forEach(function (col) {
      var td = document.createElement("td");
      td.dataset.col = col;
      if (col !== "organization" && col !== "campaign") td.className = "num";
      td.textContent = values[col];
      tr.appendChild(td);
    });
    return tr;
  }
  function isoDaysBefore(iso, days) {
    var d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() - days);
    return d.toISOString().slice(0, 10);
  }
  function periodWords(period) {
    if (period === "all") return "all time";
    var words = data.periods.filter(function (p) { return p.value === period; })[0].words;
    return words + " (" + isoDaysBefore(data.as_of, Number(period) - 1) + " to " + data.as_of + ")";
  }
  function orgWords(view, all) { return view.organization ? (orgNames[view.organization] || view.organization) : all; }
  function sourceWords(view, all) { return view.source ? "source " + view.source : all; }


  // The scatter chart of hyperdash_pipeline/report/charts.py (scatter_chart without interval bars), line for
  // line, so a filtered view draws what Python draws for the default view (a browser test compares them).
  var WIDTH = 720, HEIGHT = 400, MARGIN_LEFT = 70, MARGIN_RIGHT = 150, MARGIN_TOP = 20, MARGIN_BOTTOM = 50;
  var PALETTE = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e"];
  var FONT_SIZE = 11, CHAR_WIDTH = 0.65 * FONT_SIZE, LABEL_GAP = 6.0;
  var LEGEND_X = WIDTH - MARGIN_RIGHT + 14;
  var LEGEND_CHARS = Math.trunc((WIDTH - LEGEND_X - 14 - 4) / CHAR_WIDTH);
  var Y_TICK_CHARS = Math.trunc((MARGIN_LEFT - 6 - 22) / CHAR_WIDTH);
  function f1(v) { return fixed(v, 1); }
  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
  }
  function pow10(k) { return k < 0 ? 1 / Math.pow(10, -k) : Math.pow(10, k); }
  function round12(v) { return Number(v.toFixed(12)); }
  function niceTicks(lo, hi, count) {
    count = count || 5;
    if (hi <= lo) hi = lo + 1;
    var raw = (hi - lo) / count;
    var magnitude = pow10(Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * magnitude; }).filter(function (v) { return v >= raw; })[0];
    var value = Math.floor(lo / step) * step;
    var ticks = [];
    while (value <= hi + step * 1e-9) { ticks.push(round12(value)); value += step; }
    if (ticks[ticks.length - 1] < hi) ticks.push(round12(value));
    return ticks;
  }
  function domain(values, includeZero) {
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (includeZero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    return niceTicks(lo, hi);
  }
  function shorten(text, maxChars) {
    var chars = Array.from(text);
    return chars.length <= maxChars ? text : chars.slice(0, Math.max(maxChars - 1, 0)).join("") + "\u2026";
  }
  function labelWidth(text) { return Array.from(text).length * CHAR_WIDTH; }
  function textLabel(x, y, text, maxChars, anchor, css) {
    return '<text class="' + css + '" x="' + f1(x) + '" y="' + f1(y) + '" text-anchor="' + anchor + '"><title>'
      + esc(text) + "</title>" + esc(shorten(text, maxChars)) + "</text>";
  }
  function fmtCompact(v) {
    var units = [[1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(v) >= units[i][0]) return general(v / units[i][0], 3) + units[i][1];
    }
    return general(v, 3);
  }
  function scale(lo, hi, outLo, outHi) {
    var f = function (v) { return outLo + (v - lo) / (hi - lo) * (outHi - outLo); };
    f.outLo = outLo; f.outHi = outHi;
    return f;
  }
  function spaced(centres, texts) {
    var order = centres.map(function (_, i) { return i; }).sort(function (a, b) { return centres[a] - centres[b]; });
    var kept = [], rightEdge = -Infinity;
    order.forEach(function (i) {
      var half = labelWidth(texts[i]) / 2;
      if (centres[i] - half >= rightEdge + LABEL_GAP) { kept.push(i); rightEdge = centres[i] + half; }
    });
    return kept;
  }
  function axes(xs, ys, xTicks, yTicks, x, y) {
    var out = ['<g class="axes" stroke="#ccc">'];
    yTicks.forEach(function (t) {
      out.push('<line x1="' + f1(xs.outLo) + '" x2="' + f1(xs.outHi) + '" y1="' + f1(ys(t)) + '" y2="' + f1(ys(t)) + '"/>');
    });
    out.push("</g><g class='tick-labels' fill='#555'>");
    yTicks.forEach(function (t) {
      var text = y.fmt(t);
      text = Array.from(text).length <= Y_TICK_CHARS ? text : fmtCompact(t);
      out.push('<text x="' + f1(xs.outLo - 6) + '" y="' + f1(ys(t) + 4) + '" text-anchor="end">' + esc(text) + "</text>");
    });
    var xTexts = xTicks.map(x.fmt);
    spaced(xTicks.map(xs), xTexts).forEach(function (i) {
      out.push('<text x="' + f1(xs(xTicks[i])) + '" y="' + f1(ys.outLo + 16) + '" text-anchor="middle">'
        + esc(xTexts[i]) + "</text>");
    });
    out.push("</g>");
    var midX = (xs.outLo + xs.outHi) / 2, midY = (ys.outLo + ys.outHi) / 2;
    out.push('<text x="' + f1(midX) + '" y="' + (HEIGHT - 8) + '" text-anchor="middle" font-weight="bold">'
      + esc(x.label) + "</text>");
    out.push('<text transform="translate(14 ' + f1(midY) + ') rotate(-90)" text-anchor="middle" font-weight="bold">'
      + esc(y.label) + "</text>");
    return out;
  }
  function legend(colors) {
    var out = ['<g class="legend">'];
    colors.forEach(function (entry, i) {
      if (!entry[0]) return;
      var y = MARGIN_TOP + 14 * i + 6;
      out.push('<rect x="' + LEGEND_X + '" y="' + (y - 8) + '" width="10" height="10" fill="' + entry[1] + '"/>');
      out.push(textLabel(LEGEND_X + 14, y + 1, entry[0], LEGEND_CHARS, "start", "legend-label"));
    });
    out.push("</g>");
    return out;
  }
  function intervalText(p, fmt) {
    return p.yLow === null || p.yHigh === null ? "" : " (95% interval " + fmt(p.yLow) + " to " + fmt(p.yHigh) + ")";
  }
  function lines(points, xs, ys, colors) {
    var out = ['<g class="lines" fill="none" stroke-width="2">'];
    colors.forEach(function (entry) {
      var coords = points.filter(function (p) { return p.series === entry[0]; })
        .map(function (p) { return [p.x, p.y]; })
        .sort(function (a, b) { return (a[0] - b[0]) || (a[1] - b[1]); });
      var path = coords.map(function (c) { return f1(xs(c[0])) + "," + f1(ys(c[1])); }).join(" ");
      out.push('<polyline points="' + path + '" stroke="' + entry[1] + '"/>');
    });
    out.push("</g>");
    return out;
  }
  // opts: diagonal (the y = x line), connect (join each series in x order), xTicks (instead of round ticks)
  function scatterChart(chartId, title, points, x, y, opts) {
    var diagonal = Boolean(opts.diagonal);
    var xv = points.map(function (p) { return p.x; });
    var xt = opts.xTicks ? opts.xTicks.slice().sort(function (a, b) { return a - b; }) : domain(xv, x.zero !== false);
    if (xt.length === 1) xt = [xt[0] - 1, xt[0], xt[0] + 1];
    var yValues = [];
    points.forEach(function (p) {
      [p.y, p.yLow, p.yHigh].forEach(function (v) { if (v !== null && v !== undefined) yValues.push(v); });
    });
    var yTicks = domain(yValues.concat(diagonal ? xv : []), y.zero !== false);
    if (diagonal) {
      xt = yTicks = niceTicks(Math.min(xt[0], yTicks[0]), Math.max(xt[xt.length - 1], yTicks[yTicks.length - 1]));
    }
    var xs = scale(Math.min.apply(null, [xt[0]].concat(xv)), Math.max.apply(null, [xt[xt.length - 1]].concat(xv)),
      MARGIN_LEFT, WIDTH - MARGIN_RIGHT);
    var ys = scale(yTicks[0], yTicks[yTicks.length - 1], HEIGHT - MARGIN_BOTTOM, MARGIN_TOP);
    var colors = [], colorOf = {};
    points.forEach(function (p) {
      if (!(p.series in colorOf)) {
        colorOf[p.series] = PALETTE[colors.length % PALETTE.length];
        colors.push([p.series, colorOf[p.series]]);
      }
    });
    var body = axes(xs, ys, xt, yTicks, x, y);
    if (diagonal) {
      var lo = xt[0], hi = xt[xt.length - 1];
      body.push('<line class="reference" x1="' + f1(xs(lo)) + '" y1="' + f1(ys(lo)) + '" x2="' + f1(xs(hi)) + '" y2="'
        + f1(ys(hi)) + '" stroke="#999" stroke-dasharray="4 4"><title>platform = real</title></line>');
    }
    if (opts.connect) body = body.concat(lines(points, xs, ys, colors));
    body.push('<g class="marks">');
    points.forEach(function (p) {
      var tip = esc(p.label + ": " + x.label + " " + x.fmt(p.x) + ", " + y.label + " " + y.fmt(p.y)
        + intervalText(p, y.fmt));
      if (p.yLow !== null && p.yLow !== undefined && p.yHigh !== null && p.yHigh !== undefined) {
        body.push('<line class="interval" x1="' + f1(xs(p.x)) + '" x2="' + f1(xs(p.x)) + '" y1="' + f1(ys(p.yLow))
          + '" y2="' + f1(ys(p.yHigh)) + '" stroke="' + colorOf[p.series] + '" stroke-opacity="0.5" stroke-width="2"/>');
      }
      body.push('<circle class="mark" data-series="' + esc(p.series) + '" cx="' + f1(xs(p.x)) + '" cy="'
        + f1(ys(p.y)) + '" r="4" fill="' + colorOf[p.series] + '" fill-opacity="0.85"><title>' + tip
        + "</title></circle>");
    });
    body.push("</g>");
    body = body.concat(legend(colors));
    return '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="' + esc(chartId) + '" role="img" viewBox="0 0 '
      + WIDTH + " " + HEIGHT + '" width="' + WIDTH + '" height="' + HEIGHT
      + '" font-family="sans-serif" font-size="11"><title>' + esc(title) + "</title>" + body.join("") + "</svg>";
  }
  var FORMATS = { money: fmtMoney, percent: fmtPercent, ratio: fmtRatio };
  function sliceChart(rows, spec) {
    var points = rows.filter(function (r) { return r[spec.x] !== null && r[spec.y] !== null; })
      .slice(0, data.max_points).map(function (r) {
        return { x: r[spec.x], y: r[spec.y], label: campaignLabel(r), series: r.source,
          yLow: spec.interval ? r.lead_to_customer_rate_low : null,
          yHigh: spec.interval ? r.lead_to_customer_rate_high : null };
      });
    if (points.length === 0) return null;
    return scatterChart(spec.id, spec.title, points, { label: spec.x_label, fmt: FORMATS[spec.x_fmt] },
      { label: spec.y_label, fmt: FORMATS[spec.y_fmt] }, { diagonal: spec.diagonal });
  }

  // charts.grouped_bar_chart and its category labels, line for line.
  function categoryLabels(categories, band) {
    var rows = (band - LABEL_GAP) / CHAR_WIDTH >= 12 || categories.length === 1 ? 1 : 2;
    var maxChars = Math.trunc((rows * band - LABEL_GAP) / CHAR_WIDTH);
    return categories.map(function (name, i) {
      return textLabel(MARGIN_LEFT + band * (i + 0.5), HEIGHT - MARGIN_BOTTOM + 16 + 14 * (i % rows), name,
        maxChars, "middle", "category");
    });
  }
  function groupedBarChart(chartId, title, categories, series, y) {
    var names = Object.keys(series), values = [];
    names.forEach(function (n) { series[n].forEach(function (v) { if (v !== null) values.push(v); }); });
    var yTicks = domain(values, true);
    var ys = scale(yTicks[0], yTicks[yTicks.length - 1], HEIGHT - MARGIN_BOTTOM, MARGIN_TOP);
    var band = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / categories.length;
    var bar = band * 0.8 / Math.max(1, names.length);
    var colors = names.map(function (n, i) { return [n, PALETTE[i % PALETTE.length]]; });
    var body = ['<g class="axes" stroke="#ccc">'];
    yTicks.forEach(function (t) {
      body.push('<line x1="' + MARGIN_LEFT + '" x2="' + (WIDTH - MARGIN_RIGHT) + '" y1="' + f1(ys(t)) + '" y2="'
        + f1(ys(t)) + '"/>');
    });
    body.push("</g><g class='tick-labels' fill='#555'>");
    yTicks.forEach(function (t) {
      var text = y.fmt(t);
      text = Array.from(text).length <= Y_TICK_CHARS ? text : fmtCompact(t);
      body.push('<text x="' + f1(MARGIN_LEFT - 6) + '" y="' + f1(ys(t) + 4) + '" text-anchor="end">' + esc(text)
        + "</text>");
    });
    body = body.concat(categoryLabels(categories, band));
    body.push("</g>");
    body.push('<text transform="translate(14 ' + f1((HEIGHT - MARGIN_BOTTOM + MARGIN_TOP) / 2) + ') rotate(-90)" '
      + 'text-anchor="middle" font-weight="bold">' + esc(y.label) + '</text><g class="marks">');
    names.forEach(function (name, s) {
      series[name].forEach(function (value, i) {
        if (value === null) return;
        var x0 = MARGIN_LEFT + band * i + band * 0.1 + bar * s;
        var top = ys(Math.max(value, 0)), base = ys(Math.min(value, 0));
        body.push('<rect class="mark" data-series="' + esc(name) + '" x="' + f1(x0) + '" y="' + f1(top) + '" width="'
          + f1(bar) + '" height="' + f1(Math.max(base - top, 0.5)) + '" fill="' + colors[s][1] + '"><title>'
          + esc(categories[i] + ", " + name + ": " + y.fmt(value)) + "</title></rect>");
      });
    });
    body.push("</g>");
    body = body.concat(legend(colors));
    return '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="' + esc(chartId) + '" role="img" viewBox="0 0 '
      + WIDTH + " " + HEIGHT + '" width="' + WIDTH + '" height="' + HEIGHT
      + '" font-family="sans-serif" font-size="11"><title>' + esc(title) + "</title>" + body.join("") + "</svg>";
  }
  var EPOCH_ORDINAL = 719163;  // Python's date(1970, 1, 1).toordinal()
  function ordinal(iso) { return Date.parse(iso + "T00:00:00Z") / 86400000 + EPOCH_ORDINAL; }
  function fmtDate(v) { return new Date((Math.round(v) - EPOCH_ORDINAL) * 86400000).toISOString().slice(0, 10); }

  // The sections below the campaigns: each regroups its own facts (data.sections, written by slices.py from
  // sql/transforms/report/<name>_facts.sql) for the view and replaces its section's body.
  function sectionRows(name) {
    var section = data.sections[name];
    return section.rows.map(function (r) {
      var f = {};
      section.columns.forEach(function (c, i) { f[c] = r[i]; });
      return f;
    });
  }
  var sectionFacts = {};
  Object.keys(data.sections).forEach(function (name) { sectionFacts[name] = sectionRows(name); });
  function inView(f, view, buckets) {
    if (view.organization && f.organization_id !== view.organization) return false;
    if (view.source && f.source !== view.source) return false;
    return !buckets || f.bucket === undefined || f.bucket === -1 || buckets.indexOf(f.bucket) >= 0;
  }
  function bucketsOf(view) { return data.periods.filter(function (p) { return p.value === view.period; })[0].buckets; }
  // Sums `summed` per `keys` over the facts in view; the first non-null of each `firsts`, a currency set.
  function regroup(facts, view, keys, summed, firsts, buckets) {
    var groups = new Map();
    facts.forEach(function (f) {
      if (!inView(f, view, buckets)) return;
      var key = JSON.stringify(keys.map(function (k) { return f[k]; }));
      var row = groups.get(key);
      if (!row) {
        row = { currencies: {} };
        keys.forEach(function (k) { row[k] = f[k]; });
        summed.forEach(function (k) { row[k] = 0; });
        firsts.forEach(function (k) { row[k] = null; });
        groups.set(key, row);
      }
      summed.forEach(function (k) { row[k] += f[k] || 0; });
      firsts.forEach(function (k) { row[k] = row[k] || f[k] || null; });
      if (f.currency) row.currencies[f.currency] = true;
    });
    return Array.from(groups.values());
  }
  function htmlTable(headers, rows, numericFrom) {
    return "<table><thead><tr>" + headers.map(function (h) { return "<th>" + esc(h) + "</th>"; }).join("")
      + "</tr></thead><tbody>" + rows.map(function (row) {
        return "<tr>" + row.map(function (c, i) {
          return (i >= numericFrom ? '<td class="num">' : "<td>") + esc(c) + "</td>";
        }).join("") + "</tr>";
      }).join("") + "</tbody></table>";
  }
  function note(text) { return '<p class="note">' + esc(text) + "</p>"; }
  function figure(svg) { return "<figure>" + svg + "</figure>"; }
  function creativeLabel(r) {
    var ids = r.source + "/" + r.campaign_id + "/" + r.ad_id;
    var names = [r.campaign_name, r.ad_name].filter(Boolean).join(" / ");
    return names ? names + " (" + ids + ")" : ids;
  }
  function selectionWords(view, period) {
    return (period ? periodWords(view.period) + " \u00b7 " : "") + orgWords(view, "all organizations") + " \u00b7 "
      + sourceWords(view, "all sources");
  }
  function missing(name) { return data.sections[name].note; }

  function callsByCreative() {
    var calls = {};
    sectionFacts.calls.forEach(function (c) {
      var key = [c.organization_id, c.source, c.campaign_id, c.ad_id].join("/");
      if (!(key in calls)) calls[key] = c.recommendation;
    });
    return calls;
  }
  function renderFindings(view) {
    if (missing("calls")) return note(missing("calls"));
    var calls = sectionFacts.calls.filter(function (c) { return inView(c, view, null); });
    var counts = {};
    calls.forEach(function (c) { counts[c.recommendation] = (counts[c.recommendation] || 0) + 1; });
    var countText = Object.keys(counts).sort().map(function (k) { return k + ": " + counts[k]; }).join(", ");
    var out = ['<p class="meta">' + esc(selectionWords(view, false) + " (calls are made on all of a creative's "
      + "data: the period does not apply)" + (countText ? "; all calls: " + countText : "") + ".") + "</p>"];
    [["scale", "Scale"], ["pause", "Pause"]].forEach(function (pair) {
      var rows = calls.filter(function (c) { return c.recommendation === pair[0]; }).slice(0, data.max_findings)
        .map(function (c) { return [creativeLabel(c), c.reason || "", c.evidence || NA]; });
      if (rows.length) out.push("<h3>" + pair[1] + "</h3>" + htmlTable(["creative", "reason", "evidence"], rows, 99));
    });
    if (out.length === 1) out.push(note("No creative of this selection has a scale or pause call yet."));
    return out.join("");
  }

  function creativeRows(view) {
    var calls = callsByCreative();
    var rows = regroup(sectionFacts.creatives, view, ["organization_id", "source", "campaign_id", "ad_id"],
      ["leads", "customers", "spend", "impressions", "video_3s_views", "thruplays"], ["campaign_name", "ad_name"],
      bucketsOf(view));
    rows.forEach(function (r) {
      r.currency = currencyOf(r.currencies);
      r.lead_to_customer_rate = ratio(r.customers, r.leads);
      var interval = wilson(r.customers, r.leads);
      r.lead_to_customer_rate_low = interval[0];
      r.lead_to_customer_rate_high = interval[1];
      r.hook_rate = r.video_3s_views > 0 ? ratio(r.video_3s_views, r.impressions) : null;
      r.hold_rate = ratio(r.thruplays, r.video_3s_views);
      r.recommendation = calls[[r.organization_id, r.source, r.campaign_id, r.ad_id].join("/")] || null;
    });
    rows.sort(function (a, b) {
      return (b.spend - a.spend) || (b.leads - a.leads) || cmp(a.organization_id, b.organization_id)
        || cmp(a.source, b.source) || cmp(a.campaign_id, b.campaign_id) || cmp(a.ad_id, b.ad_id);
    });
    return rows;
  }
  function renderCreatives(view) {
    if (missing("creatives")) return note(missing("creatives"));
    var rows = creativeRows(view);
    var out = ['<p class="meta">' + esc(selectionWords(view, true) + ": " + Math.min(rows.length, data.table_rows)
      + " of " + rows.length + " creatives shown.") + "</p>"];
    if (!rows.length) return out.join("") + note("No creative has leads or spend in this selection.");
    var points = rows.filter(function (r) { return r.hook_rate !== null && r.lead_to_customer_rate !== null; })
      .slice(0, data.max_points).map(function (r) {
        return { x: r.hook_rate, y: r.lead_to_customer_rate, label: creativeLabel(r),
          series: r.recommendation || "no call", yLow: r.lead_to_customer_rate_low,
          yHigh: r.lead_to_customer_rate_high };
      });
    out.push(points.length ? figure(scatterChart("chart-hook-vs-conversion", "Hook rate against conversion rate per "
      + "creative", points, { label: "hook rate (3-second views / impressions)", fmt: fmtPercent },
      { label: "lead -> customer rate", fmt: fmtPercent }, {}))
      : note("No creative of this selection has both a hook rate and a lead->customer rate (video views or leads "
        + "missing)."));
    out.push(htmlTable(["creative", "spend", "leads", "hook rate", "hold rate", "lead->customer", "95% interval",
      "call"], rows.slice(0, data.table_rows).map(function (r) {
      return [creativeLabel(r), money(r.spend, r.currency), num(r.leads, fmtNumber), num(r.hook_rate, fmtPercent),
        num(r.hold_rate, fmtPercent), num(r.lead_to_customer_rate, fmtPercent), intervalWords(r),
        r.recommendation || NA];
    }), 1));
    return out.join("");
  }

  function campaignNames() {
    var names = {};
    facts.forEach(function (f) {
      var key = [f.organization_id, f.source, f.campaign_id].join("/");
      names[key] = names[key] || f.campaign_name;
    });
    return names;
  }
  function renderModels(view) {
    if (missing("models")) return note(missing("models"));
    var names = campaignNames();
    var rows = regroup(sectionFacts.models, view, ["organization_id", "source", "campaign_id", "model"],
      ["attributed_leads", "attributed_revenue"], [], bucketsOf(view));
    var out = ['<p class="meta">' + esc(selectionWords(view, true) + ", by the day each credited lead was created.")
      + "</p>"];
    if (!rows.length) return out.join("") + note("No lead of this selection has attribution credits.");
    var best = new Map();
    rows.forEach(function (r) {
      if (r.campaign_id === null) return;  // the campaigns the chart never draws, summed (slices.py)
      r.campaign_name = names[[r.organization_id, r.source, r.campaign_id].join("/")] || null;
      var key = JSON.stringify([r.organization_id, r.source, r.campaign_id]);
      var top = best.get(key);
      if (!top || r.attributed_revenue > top.attributed_revenue) best.set(key, r);
    });
    var campaigns = Array.from(best.values()).sort(function (a, b) {
      return (b.attributed_revenue - a.attributed_revenue) || cmp(a.source, b.source)
        || cmp(a.campaign_id, b.campaign_id) || cmp(a.organization_id, b.organization_id);
    }).slice(0, data.max_categories);
    var models = Array.from(new Set(rows.map(function (r) { return r.model; }))).sort();
    var categories = campaigns.map(campaignLabel);
    var revenue = new Map();
    rows.forEach(function (r) {
      revenue.set(JSON.stringify([r.organization_id, r.source, r.campaign_id, r.model]), r.attributed_revenue);
    });
    var series = {};
    models.forEach(function (m) {
      series[m] = campaigns.map(function (c) {
        var key = JSON.stringify([c.organization_id, c.source, c.campaign_id, m]);
        return revenue.has(key) ? revenue.get(key) : null;
      });
    });
    var anyRevenue = campaigns.some(function (c) { return c.attributed_revenue > 0; });
    out.push(anyRevenue ? figure(groupedBarChart("chart-revenue-by-model", "Attributed revenue by model", categories,
      series, { label: "attributed revenue", fmt: fmtMoney }))
      : note("No campaign of this selection has attributed revenue."));
    var spend = campaignRows(view).reduce(function (sum, r) { return sum + r.spend; }, 0);
    out.push(htmlTable(["model", "attributed leads", "attributed revenue", "spend", "ROAS"], models.map(function (m) {
      var leads = 0, revenue = 0;
      rows.forEach(function (r) { if (r.model === m) { leads += r.attributed_leads; revenue += r.attributed_revenue; } });
      return [m, num(leads, fmtNumber), num(revenue, fmtMoney), num(spend, fmtMoney), num(ratio(revenue, spend),
        fmtRatio)];
    }), 1));
    return out.join("");
  }

  function renderCohorts(view) {
    if (missing("cohorts")) return note(missing("cohorts"));
    var names = campaignNames();
    var rows = regroup(sectionFacts.cohorts, view, ["organization_id", "source", "campaign_id", "week"],
      ["leads", "customers"], [], bucketsOf(view));
    var totals = new Map();
    rows.forEach(function (r) {
      r.campaign_name = names[[r.organization_id, r.source, r.campaign_id].join("/")] || null;
      var key = JSON.stringify([r.organization_id, r.source, r.campaign_id]);
      var t = totals.get(key) || { row: r, leads: 0 };
      t.leads += r.leads;
      totals.set(key, t);
    });
    var top = Array.from(totals.entries()).sort(function (a, b) {
      return (b[1].leads - a[1].leads) || cmp(a[1].row.source, b[1].row.source)
        || cmp(a[1].row.campaign_id, b[1].row.campaign_id) || cmp(a[1].row.organization_id, b[1].row.organization_id);
    }).slice(0, data.max_series).map(function (e) { return e[0]; });
    var asOf = ordinal(data.as_of);
    var drawn = new Set(top);
    var points = rows.filter(function (r) {
      return r.leads > 0 && drawn.has(JSON.stringify([r.organization_id, r.source, r.campaign_id]));
    }).map(function (r) {
      var x = ordinal(r.week);
      return { x: x, y: r.customers / r.leads, series: campaignLabel(r), yLow: null, yHigh: null,
        label: campaignLabel(r) + " week of " + r.week + " (" + fixed(r.leads, 0) + " leads, " + (asOf - x)
          + " days old)" };
    });
    var out = ['<p class="meta">' + esc(selectionWords(view, true) + ": the " + top.length + " campaigns with the "
      + "most leads.") + "</p>"];
    if (!points.length) return out.join("") + note("No weekly cohort of this selection has leads.");
    var weeks = Array.from(new Set(points.map(function (p) { return p.x; }))).sort(function (a, b) { return a - b; });
    var step = Math.ceil(weeks.length / 8);
    out.push(figure(scatterChart("chart-cohort-curves", "Lead -> customer rate per weekly cohort", points,
      { label: "week the leads arrived", fmt: fmtDate, zero: false }, { label: "lead -> customer rate", fmt: fmtPercent },
      { connect: true, xTicks: weeks.filter(function (_, i) { return i % step === 0; }) })));
    return out.join("");
  }

  var STATUSES = ["sent", "rejected", "expired", "skipped_consent", "pending"];
  function renderConversions(view) {
    if (missing("conversions")) return note(missing("conversions"));
    var rows = regroup(sectionFacts.conversions, view, ["source", "status"], ["events"], [], bucketsOf(view));
    var platforms = Array.from(new Set(rows.map(function (r) { return r.source; }))).sort();
    var out = ['<p class="meta">' + esc(selectionWords(view, true) + ", by the day each event's status last changed; "
      + "pending: what waits now.") + "</p>"];
    if (!platforms.length) return out.join("") + note("No conversion of this selection was queued for a platform.");
    out.push(htmlTable(["platform", "sent", "rejected", "expired", "skipped (consent)", "pending now"],
      platforms.map(function (p) {
        return [p].concat(STATUSES.map(function (s) {
          var hit = rows.filter(function (r) { return r.source === p && r.status === s; })[0];
          return String(hit ? hit.events : 0);
        }));
      }), 1));
    return out.join("");
  }

  var SECTIONS = { findings: renderFindings, "hook-vs-conversion": renderCreatives,
    "revenue-by-model": renderModels, "cohort-curves": renderCohorts, conversions: renderConversions };
  function renderSections(view) {
    Object.keys(SECTIONS).forEach(function (key) {
      var body = document.getElementById(key + "-body");
      if (body) body.innerHTML = SECTIONS[key](view);
    });
  }
  // Filtered, the campaigns section above shows what these two show for all time: they stay for a reader
  // without JavaScript.
  ["cpl-vs-quality", "platform-vs-real-roas", "unfiltered"].forEach(function (id) {
    var element = document.getElementById(id);
    if (element) element.hidden = true;
  });
  var conversionsTitle = document.querySelector("#conversions h2");
  if (conversionsTitle) conversionsTitle.textContent = "CRM outcomes sent back to the ad platforms";

  var selects = {
    organization: document.getElementById("filter-organization"),
    period: document.getElementById("filter-period"),
    source: document.getElementById("filter-source")
  };
  function render() {
    var view = { organization: selects.organization.value, period: selects.period.value,
      source: selects.source.value };
    var rows = campaignRows(view);
    var shown = Math.min(rows.length, data.table_rows);
    document.getElementById("slice-caption").textContent = periodWords(view.period) + " \u00b7 "
      + orgWords(view, "all organizations") + " \u00b7 " + sourceWords(view, "all sources") + ": "
      + shown + " of " + rows.length + " campaigns shown.";
    var empty = document.getElementById("slice-empty");
    var table = document.getElementById("slice-table");
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    empty.textContent = data.note || ("Nothing to show for " + orgWords(view, "any organization") + ", "
      + sourceWords(view, "any source") + ", " + periodWords(view.period)
      + ": no lead was created and no spend is dated in that period.");
    var body = table.tBodies[0];
    body.replaceChildren.apply(body, rows.slice(0, data.table_rows).map(function (r) {
      return tableRow(r.organization_id + "/" + r.source + "/" + r.campaign_id, cells(r));
    }));
    var total = cells(totals(rows));
    total.organization = "total";
    total.campaign = rows.length + " campaigns";
    table.tFoot.replaceChildren(tableRow("total", total));
    data.charts.forEach(function (spec) {
      var svg = sliceChart(rows, spec);
      var figure = document.getElementById(spec.id + "-figure");
      figure.innerHTML = svg || "";
      figure.hidden = !svg;
      document.getElementById(spec.id + "-empty").hidden = Boolean(svg) || rows.length === 0;
    });
    renderSections(view);
  }
  Object.keys(selects).forEach(function (name) {
    selects[name].disabled = false;
    selects[name].addEventListener("change", render);
  });
  render();
})();
