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

  // Python's round-half-even on an exact tie (2.5 -> "2"), toFixed otherwise.
  function fixed(x, digits) {
    var scaled = x * Math.pow(10, digits);
    if (Math.abs(scaled % 1) === 0.5) {
      var low = Math.floor(scaled);
      return ((low % 2 === 0 ? low : low + 1) / Math.pow(10, digits)).toFixed(digits);
    }
    return x.toFixed(digits);
  }
  function grouped(text) {  // "1234567.89" -> "1,234,567.89"
    var parts = text.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return parts.join(".");
  }
  function general(x, p) {  // Python's format(x, ".{p}g")
    if (x === 0) return "0";
    var exp = Number(x.toExponential(p - 1).split("e")[1]);
    var strip = function (s) { return s.indexOf(".") < 0 ? s : s.replace(/0+$/, "").replace(/\.$/, ""); };
    if (exp >= -4 && exp < p) return strip(x.toFixed(p - 1 - exp));
    var m = x.toExponential(p - 1).split("e");
    var e = Number(m[1]);
    return strip(m[0]) + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
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
    document.body.dataset.view = [view.organization, view.period, view.source].join("|");
  }
  Object.keys(selects).forEach(function (name) {
    selects[name].disabled = false;
    selects[name].addEventListener("change", render);
  });
  render();
})();
