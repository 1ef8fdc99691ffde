// The merchandiser dashboard: fetches each report from /dashboard/api/reports/{name} (session
// cookie) and draws its table and its Chart.js chart. Every value reaches the page through
// textContent or a canvas, never as HTML: a rubrique named "<script>…" is shown as text.
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root) return;
  var cfg = root.dataset;
  var lang = cfg.lang;
  var locale = lang === "fr" ? "fr-FR" : "en-GB";
  var labels = JSON.parse(cfg.labels);
  var values = JSON.parse(cfg.values);
  var COLORS = ["#1f5f8b", "#e07a2f", "#2a9d8f", "#c4455a", "#7b61a8", "#e9b949", "#5c7080", "#8ab17d",
                "#b56576", "#4d908e"];
  var TOP = 10;

  // --- formatting ------------------------------------------------------------------------------

  var integer = new Intl.NumberFormat(locale, {maximumFractionDigits: 0});
  var decimal = new Intl.NumberFormat(locale, {minimumFractionDigits: 2, maximumFractionDigits: 2});
  var money = new Intl.NumberFormat(locale, {style: "currency", currency: "EUR"});
  var share = new Intl.NumberFormat(locale, {style: "percent", maximumFractionDigits: 1});
  var change = new Intl.NumberFormat(locale, {style: "percent", maximumFractionDigits: 0, signDisplay: "exceptZero"});
  var points = new Intl.NumberFormat(locale, {maximumFractionDigits: 1, signDisplay: "exceptZero"});
  var day = new Intl.DateTimeFormat(locale, {day: "numeric", month: "short", year: "numeric", timeZone: "UTC"});
  var month = new Intl.DateTimeFormat(locale, {month: "long", year: "numeric", timeZone: "UTC"});

  function asDate(iso) {
    return new Date(iso + "T00:00:00Z");
  }

  function periodLabel(iso, bucket) {
    return bucket === "month" ? month.format(asDate(iso)) : day.format(asDate(iso));
  }

  function format(value, kind, bucket) {
    if (value === null || value === undefined || value === "") return kind === "text" ? "" : "–";
    switch (kind) {
      case "int": return integer.format(value);
      case "decimal": return decimal.format(value);
      case "money": return money.format(value);
      case "share": return share.format(value);
      case "change": return change.format(value);
      case "nps": return points.format(value);
      case "date": return periodLabel(value, bucket);
      case "code": return Object.prototype.hasOwnProperty.call(values, value) ? values[value] : String(value);
      default: return String(value);
    }
  }

  function numeric(kind) {
    return ["int", "decimal", "money", "share", "change", "nps"].indexOf(kind) >= 0;
  }

  // --- tables ----------------------------------------------------------------------------------

  function columnsOf(table) {
    return Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return {key: th.dataset.key, format: th.dataset.format};
    });
  }

  function fillTable(table, rows, bucket) {
    var columns = columnsOf(table);
    var body = document.createElement("tbody");
    if (!rows || !rows.length) {
      var empty = body.insertRow().insertCell();
      empty.colSpan = columns.length;
      empty.className = "muted";
      empty.textContent = labels.no_data;
    }
    (rows || []).forEach(function (row) {
      var tr = body.insertRow();
      columns.forEach(function (column) {
        var td = tr.insertCell();
        var value = column.format === "nps" ? npsOf(row) : row[column.key];
        td.textContent = format(value, column.format, bucket);
        if (numeric(column.format)) td.className = "num";
        if (column.format === "change" && typeof value === "number" && value !== 0) {
          td.classList.add(value > 0 ? "up" : "down");
        }
      });
    });
    table.replaceChild(body, table.tBodies[0]);
  }

  // --- charts ----------------------------------------------------------------------------------

  function header(section, key) {
    var th = section.querySelector('th[data-key="' + key + '"]');
    return th ? th.textContent : key;
  }

  function dataset(label, data, color, extra) {
    return Object.assign({label: label, data: data, backgroundColor: color, borderColor: color}, extra || {});
  }

  function line(label, data, color, axis) {
    return dataset(label, data, color, {type: "line", yAxisID: axis, cubicInterpolationMode: "monotone",
                                        pointRadius: 2, borderWidth: 2, fill: false});
  }

  function tickFormat(kind) {
    return {callback: function (value) { return format(value, kind); }};
  }

  function scales(left, right) {
    var result = {x: {grid: {display: false}}, y: Object.assign({beginAtZero: true}, left || {})};
    if (right) result.y1 = Object.assign({position: "right", beginAtZero: true, grid: {drawOnChartArea: false}}, right);
    return result;
  }

  function periods(report) {
    return report.rows.map(function (row) { return periodLabel(row.period, report.by); });
  }

  function pluck(rows, key) {
    return rows.map(function (row) { return row[key]; });
  }

  function nameOf(value) {
    return format(value, "code");
  }

  // A bucket without any NPS answer has no NPS (the report says 0): drawn and shown as a gap.
  function npsOf(row) {
    return row.nps_answers ? row.nps : null;
  }

  var CHARTS = {
    "top-rubriques": function (report, section) {
      var rows = report.rows.slice(0, TOP);
      return {type: "bar", data: {labels: pluck(rows, "rubrique"),
                                  datasets: [dataset(header(section, "pageviews"), pluck(rows, "pageviews"), COLORS[0]),
                                             dataset(header(section, "unique_visitors"), pluck(rows, "unique_visitors"),
                                                     COLORS[2])]},
              options: {indexAxis: "y", scales: {x: {beginAtZero: true}, y: {grid: {display: false}}}}};
    },
    visitors: function (report, section) {
      return {type: "bar", data: {labels: periods(report), datasets: [
        dataset(header(section, "new_visitors"), pluck(report.rows, "new_visitors"), COLORS[1], {stack: "v"}),
        dataset(header(section, "returning_visitors"), pluck(report.rows, "returning_visitors"), COLORS[0],
                {stack: "v"})]},
              options: {scales: {x: {stacked: true, grid: {display: false}}, y: {stacked: true, beginAtZero: true}}}};
    },
    basket: function (report, section) {
      return {type: "bar", data: {labels: periods(report), datasets: [
        dataset(header(section, "average_basket"), pluck(report.rows, "average_basket"), COLORS[0], {yAxisID: "y"}),
        line(header(section, "purchase_frequency"), pluck(report.rows, "purchase_frequency"), COLORS[1], "y1")]},
              options: {scales: scales({ticks: tickFormat("money")}, {ticks: tickFormat("decimal")})}};
    },
    attrition: function (report, section) {
      return {type: "bar", data: {labels: periods(report), datasets: [
        dataset(header(section, "lost"), pluck(report.rows, "lost"), COLORS[6], {yAxisID: "y"}),
        line(header(section, "attrition_rate"), pluck(report.rows, "attrition_rate"), COLORS[3], "y1")]},
              options: {scales: scales({suggestedMax: 5, ticks: {precision: 0}},
                                       {suggestedMax: 0.2, ticks: tickFormat("share")})}};
    },
    satisfaction: function (report, section) {
      return {type: "line", data: {labels: periods(report), datasets: [
        line(header(section, "mean_satisfaction"), pluck(report.rows, "mean_satisfaction"), COLORS[2], "y"),
        line(header(section, "nps"), report.rows.map(npsOf), COLORS[4], "y1"),
        dataset(header(section, "complaints"), pluck(report.rows, "complaints"), "rgba(196,69,90,0.35)",
                {type: "bar", yAxisID: "y2"})]},
              options: {spanGaps: true, scales: {
                x: {grid: {display: false}},
                y: {min: 1, max: 5, title: {display: true, text: header(section, "mean_satisfaction")}},
                y1: {position: "right", min: -100, max: 100, grid: {drawOnChartArea: false},
                     title: {display: true, text: header(section, "nps")}},
                y2: {display: false, beginAtZero: true, suggestedMax: 10}}}};
    },
    rfm: function (report, section) {
      return {type: "bar", data: {labels: pluck(report.rows, "segment").map(nameOf), datasets: [
        dataset(header(section, "customers"), pluck(report.rows, "customers"), COLORS[0], {yAxisID: "y"}),
        dataset(header(section, "revenue_share"), pluck(report.rows, "revenue_share"), COLORS[1], {yAxisID: "y1"})]},
              options: {scales: scales({ticks: {precision: 0}}, {ticks: tickFormat("share")})}};
    },
    "customer-value": function (report, section) {
      var bins = report.rows.map(function (row) {
        return row.clv_to === null ? "≥ " + format(row.clv_from, "money")
          : format(row.clv_from, "money") + " – " + format(row.clv_to, "money");
      });
      return {type: "bar", data: {labels: bins, datasets: [
        dataset(header(section, "customers"), pluck(report.rows, "customers"), COLORS[2])]},
              options: {plugins: {legend: {display: false}}, scales: scales({ticks: {precision: 0}})}};
    },
    lifecycle: function (report, section) {
      return {type: "bar", data: {labels: pluck(report.rows, "stage").map(nameOf), datasets: [
        dataset(header(section, "count"), pluck(report.rows, "count"), COLORS.slice(0, 5))]},
              options: {plugins: {legend: {display: false}}, scales: scales({ticks: {precision: 0}})}};
    },
    "top-products": function (report, section) {
      var rows = report.rows.slice(0, TOP);
      return {type: "bar", data: {labels: rows.map(function (r) { return r.name || r.product_id; }), datasets: [
        dataset(header(section, "revenue"), pluck(rows, "revenue"), COLORS[2])]},
              options: {indexAxis: "y", plugins: {legend: {display: false}},
                        scales: {x: {beginAtZero: true, ticks: tickFormat("money")}, y: {grid: {display: false}}}}};
    },
    sources: function (report, section) {
      var visits = {};
      report.rows.forEach(function (row) { visits[row.source] = (visits[row.source] || 0) + row.visits; });
      var names = Object.keys(visits).sort(function (a, b) { return visits[b] - visits[a]; });
      var shown = names.slice(0, 6), rest = names.slice(6);
      var data = shown.map(function (name) { return visits[name]; });
      if (rest.length) {
        shown.push(labels.others);
        data.push(rest.reduce(function (sum, name) { return sum + visits[name]; }, 0));
      }
      return {type: "doughnut", data: {labels: shown, datasets: [
        dataset(header(section, "visits"), data, COLORS.slice(0, shown.length), {borderColor: "#fff"})]},
              options: {plugins: {legend: {position: "right"}}}};
    },
    recommendations: function (report, section) {
      return {type: "bar", data: {labels: pluck(report.rows, "group_name").map(nameOf), datasets: [
        dataset(header(section, "ctr"), pluck(report.rows, "ctr"), COLORS[0]),
        dataset(header(section, "conversion"), pluck(report.rows, "conversion"), COLORS[2])]},
              options: {scales: scales({ticks: tickFormat("share")})}};
    }
  };

  function draw(section, report) {
    var canvas = section.querySelector("canvas");
    var config = CHARTS[report.report](report, section);
    config.options = Object.assign({responsive: true, maintainAspectRatio: false, animation: false,
                                    plugins: {legend: {position: "bottom"}}}, config.options);
    var box = canvas.parentNode;
    if (report.rows.length) delete box.dataset.empty;
    else box.dataset.empty = labels.no_data;
    var existing = window.Chart.getChart(canvas);
    if (existing) existing.destroy();
    return new window.Chart(canvas, config);
  }

  // --- loading ---------------------------------------------------------------------------------

  function query(name) {
    var params = new URLSearchParams({site_id: cfg.site, from: cfg.from, to: cfg.to});
    if (cfg.by) params.set("by", cfg.by);
    return cfg.api + encodeURIComponent(name) + "?" + params.toString();
  }

  function load(section) {
    var name = section.dataset.report;
    return fetch(query(name), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign(cfg.login + "?expired=1");
          throw new Error("signed out");
        }
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body.error && body.error.message) || String(response.status));
          return body;
        });
      })
      .then(function (report) {
        section.querySelectorAll("table[data-table]").forEach(function (table) {
          fillTable(table, report[table.dataset.table], report.by);
        });
        draw(section, report);
        section.dataset.state = "ready";
        return report;
      })
      .catch(function (error) {
        var box = section.querySelector(".error");
        box.textContent = labels.load_error + " " + error.message;
        box.hidden = false;
        section.dataset.state = "error";
        return null;
      });
  }

  function sum(rows, key) {
    return rows.reduce(function (total, row) { return total + (row[key] || 0); }, 0);
  }

  function setKpi(key, text) {
    var cell = root.querySelector('[data-kpi="' + key + '"]');
    if (cell) cell.textContent = text;
  }

  function showKpis(reports) {
    var visitors = reports.visitors, basket = reports.basket, satisfaction = reports.satisfaction;
    if (visitors) setKpi("visits", format(sum(visitors.rows, "visits"), "int"));
    if (basket) {
      var orders = sum(basket.rows, "orders"), revenue = sum(basket.rows, "revenue");
      setKpi("orders", format(orders, "int"));
      setKpi("revenue", format(revenue, "money"));
      setKpi("basket", orders ? format(revenue / orders, "money") : "–");
    }
    if (satisfaction) {
      // NPS over the whole period: each bucket's score weighted by its number of answers.
      var answers = sum(satisfaction.rows, "nps_answers");
      var weighted = satisfaction.rows.reduce(function (t, r) { return t + (r.nps || 0) * r.nps_answers; }, 0);
      setKpi("nps", answers ? format(weighted / answers, "nps") : "–");
      setKpi("complaints", format(sum(satisfaction.rows, "complaints"), "int"));
    }
  }

  function start() {
    if (!window.Chart) return;
    window.Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#3d4852";
    var sections = Array.prototype.slice.call(root.querySelectorAll("section[data-report]"));
    Promise.all(sections.map(load)).then(function (reports) {
      var byName = {};
      reports.forEach(function (report) { if (report) byName[report.report] = report; });
      showKpis(byName);
      root.dataset.state = "ready";
    });
  }

  document.querySelectorAll("[data-autosubmit]").forEach(function (field) {
    field.addEventListener("change", function () { field.form.submit(); });
  });
  start();
})();
