// The report's filters (hyperdash_pipeline/report/slices.py): regroups the embedded facts for the selected
// organization, period and source and rewrites the campaigns table. Same grouping, sums, order and number
// formats as the Python that wrote the default view; nothing is fetched.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var NA = "n/a";
  var SUMMED = ["leads", "customers", "revenue", "spend", "conversion_value"];
  var COLUMNS = ["organization", "campaign", "leads", "customers", "rate", "revenue", "spend", "cpl",
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
  function currencyOf(set) {
    var list = Object.keys(set);
    return list.length === 0 ? null : list.length === 1 ? list[0] : "mixed";
  }
  function withMetrics(row) {
    row.currency = currencyOf(row.currencies);
    delete row.currencies;
    row.cpl = ratio(row.spend, row.leads);
    row.lead_to_customer_rate = ratio(row.customers, row.leads);
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
  function scatterChart(chartId, title, points, x, y, diagonal) {
    var xv = points.map(function (p) { return p.x; });
    var xt = domain(xv, true);
    if (xt.length === 1) xt = [xt[0] - 1, xt[0], xt[0] + 1];
    var yTicks = domain(points.map(function (p) { return p.y; }).concat(diagonal ? xv : []), true);
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
    body.push('<g class="marks">');
    points.forEach(function (p) {
      var tip = esc(p.label + ": " + x.label + " " + x.fmt(p.x) + ", " + y.label + " " + y.fmt(p.y));
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
        return { x: r[spec.x], y: r[spec.y], label: campaignLabel(r), series: r.source };
      });
    if (points.length === 0) return null;
    return scatterChart(spec.id, spec.title, points, { label: spec.x_label, fmt: FORMATS[spec.x_fmt] },
      { label: spec.y_label, fmt: FORMATS[spec.y_fmt] }, spec.diagonal);
  }

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
  }
  Object.keys(selects).forEach(function (name) {
    selects[name].disabled = false;
    selects[name].addEventListener("change", render);
  });
  render();
})();
