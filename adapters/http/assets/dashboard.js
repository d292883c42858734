"use strict";
// costkit dashboard: loads /dashboard/data.json once, filters in the browser, sums amounts exactly
// (decimal strings as scaled BigInts), and draws SVG charts. No libraries, no external hosts.
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var data = null;
  var el = function (id) { return document.getElementById(id); };

  // Exact decimals: [BigInt units, scale].
  function dec(s) {
    var neg = s.charAt(0) === "-";
    if (neg) s = s.slice(1);
    var parts = s.split(".");
    var frac = parts[1] || "";
    var n = BigInt(parts[0] + frac);
    return [neg ? -n : n, frac.length];
  }
  function add(a, b) {
    if (a[1] === b[1]) return [a[0] + b[0], a[1]];
    if (a[1] < b[1]) return [a[0] * (10n ** BigInt(b[1] - a[1])) + b[0], b[1]];
    return [a[0] + b[0] * (10n ** BigInt(a[1] - b[1])), a[1]];
  }
  function fmt(d) {
    var n = d[0], scale = d[1], neg = n < 0n;
    if (neg) n = -n;
    var s = n.toString();
    while (s.length <= scale) s = "0" + s;
    var int = s.slice(0, s.length - scale), frac = s.slice(s.length - scale).replace(/0+$/, "");
    while (frac.length < 2) frac += "0";
    int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + int + "." + frac;
  }
  function num(d) { return Number(d[0]) / Math.pow(10, d[1]); }
  var ZERO = [0n, 0];

  function option(sel, value, text) {
    var o = document.createElement("option");
    o.value = value; o.textContent = text; sel.appendChild(o);
  }
  function fill(id, values) {
    var sel = el(id);
    values.forEach(function (v) { option(sel, v, v); });
  }
  function uniq(rows, i) {
    var s = {}; rows.forEach(function (r) { s[r[i]] = true; });
    return Object.keys(s).sort();
  }

  function filters() {
    return {
      provider: el("f-provider").value, account: el("f-account").value,
      service: el("f-service").value, tag: el("f-tag").value,
      from: el("f-from").value, to: el("f-to").value,
      billed: el("f-basis").value === "billed"
    };
  }

  // Rows after filtering, as {day, currency, service, amount}.
  function selected(f) {
    var out = [];
    var inDays = function (d) { return (!f.from || d >= f.from) && (!f.to || d <= f.to); };
    if (f.tag) {
      var kv = JSON.parse(f.tag);
      data.tags.forEach(function (t) {
        if (t[3] !== kv[0] || t[4] !== kv[1] || !inDays(t[0])) return;
        if (f.provider && t[1] !== f.provider) return;
        out.push({ day: t[0], currency: t[5], service: "(tag " + kv[0] + "=" + kv[1] + ")", amount: dec(f.billed ? t[6] : t[7]) });
      });
    } else {
      data.rows.forEach(function (r) {
        if (!inDays(r[0])) return;
        if (f.provider && r[1] !== f.provider) return;
        if (f.account && r[2] !== f.account) return;
        if (f.service && r[3] !== f.service) return;
        out.push({ day: r[0], currency: r[5], service: r[3], amount: dec(f.billed ? r[6] : r[7]) });
      });
    }
    return out;
  }

  function svgEl(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }

  function barChart(container, labels, values, kind) {
    container.textContent = "";
    var W = 900, H = 260, L = 70, R = 10, T = 10, B = 30;
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, "class": "chart", "data-chart": kind, role: "img" });
    svgEl("title", {}, svg).textContent = kind;
    var max = Math.max.apply(null, values.concat([0])), min = Math.min.apply(null, values.concat([0]));
    if (max === min) max = min + 1;
    var y = function (v) { return T + (H - T - B) * (1 - (v - min) / (max - min)); };
    var slot = (W - L - R) / Math.max(labels.length, 1);
    for (var k = 0; k <= 4; k++) {
      var v = min + (max - min) * k / 4;
      svgEl("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#ddd" }, svg);
      svgEl("text", { x: L - 6, y: y(v) + 4, "font-size": 11, "text-anchor": "end", fill: "#555" }, svg).textContent = v.toFixed(v >= 100 ? 0 : 2);
    }
    var every = Math.max(1, Math.ceil(labels.length / 10));
    labels.forEach(function (lab, i) {
      var v = values[i], x = L + slot * i + slot * 0.15;
      var r = svgEl("rect", { x: x, y: Math.min(y(0), y(v)), width: slot * 0.7, height: Math.abs(y(0) - y(v)), fill: "#4e79a7", "class": "bar" }, svg);
      svgEl("title", {}, r).textContent = lab + ": " + v.toFixed(2);
      if (i % every === 0) {
        svgEl("text", { x: x + slot * 0.35, y: H - B + 16, "font-size": 11, "text-anchor": "middle", fill: "#555" }, svg).textContent = lab.length > 14 ? lab.slice(0, 13) + "…" : lab;
      }
    });
    container.appendChild(svg);
  }

  function render() {
    var f = filters();
    el("tag-hint").hidden = !f.tag;
    el("f-account").disabled = !!f.tag;
    el("f-service").disabled = !!f.tag;
    var rows = selected(f);
    var totals = {}, days = {}, services = {};
    rows.forEach(function (r) {
      totals[r.currency] = add(totals[r.currency] || ZERO, r.amount);
      var dk = r.currency + "|" + r.day;
      days[dk] = add(days[dk] || ZERO, r.amount);
      var sk = r.currency + "|" + r.service;
      services[sk] = add(services[sk] || ZERO, r.amount);
    });
    var box = el("totals");
    box.textContent = "";
    var currencies = Object.keys(totals).sort();
    if (!currencies.length) {
      var p = document.createElement("p"); p.textContent = "No spend matches the filters."; p.className = "hint";
      box.appendChild(p);
    }
    currencies.forEach(function (c) {
      var d = document.createElement("div");
      d.className = "total"; d.setAttribute("data-currency", c);
      var l = document.createElement("div"); l.className = "label"; l.textContent = (f.billed ? "Billed" : "Effective") + " cost, " + c;
      var v = document.createElement("div"); v.className = "value"; v.textContent = fmt(totals[c]);
      var s = document.createElement("div"); s.className = "sub"; s.textContent = rows.filter(function (r) { return r.currency === c; }).length + " aggregate rows";
      d.appendChild(l); d.appendChild(v); d.appendChild(s); box.appendChild(d);
    });
    // Charts: the first currency (amounts of different currencies never share an axis).
    var c0 = currencies[0];
    var dayLabels = [], dayValues = [];
    if (c0) {
      var from = f.from || data.start, to = f.to || data.end;
      for (var t = new Date(from + "T00:00:00Z"); t <= new Date(to + "T00:00:00Z"); t = new Date(t.getTime() + 86400000)) {
        var ds = t.toISOString().slice(0, 10);
        dayLabels.push(ds.slice(5)); dayValues.push(num(days[c0 + "|" + ds] || ZERO));
        if (dayLabels.length > 400) break;
      }
    }
    barChart(el("chart-daily"), dayLabels, dayValues, "daily");
    var svc = Object.keys(services).filter(function (k) { return k.split("|")[0] === c0; })
      .map(function (k) { return [k.slice(c0.length + 1), services[k]]; })
      .sort(function (a, b) { return num(b[1]) - num(a[1]); });
    barChart(el("chart-service"), svc.slice(0, 15).map(function (x) { return x[0]; }), svc.slice(0, 15).map(function (x) { return num(x[1]); }), "by-service");
    var tb = el("top").querySelector("tbody");
    tb.textContent = "";
    svc.slice(0, 20).forEach(function (x) {
      var tr = document.createElement("tr");
      [x[0], c0, fmt(x[1])].forEach(function (txt, i) {
        var td = document.createElement("td"); td.textContent = txt; if (i === 2) td.className = "num"; tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
    el("status").textContent = "Data " + data.start + " to " + data.end + "; " + rows.length + " rows selected.";
    document.body.setAttribute("data-ready", "yes");
  }

  function start() {
    var url = document.querySelector('meta[name="costkit-data"]').content;
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          throw new Error("HTTP " + r.status + (j.error ? ": " + j.error : "") +
            (document.querySelector('meta[name="costkit-signed"]').content === "no" ? " (the server has no signing key: open the dashboard through the platform's authentication or set COSTKIT_SIGNING_KEY)" : ""));
        });
      }
      return r.json();
    }).then(function (d) {
      data = d;
      if (!d.rows.length) { el("status").textContent = "The store has no data."; return; }
      fill("f-provider", uniq(d.rows, 1));
      fill("f-account", uniq(d.rows, 2));
      fill("f-service", uniq(d.rows, 3));
      var seen = {};
      d.tags.forEach(function (t) {
        var k = JSON.stringify([t[3], t[4]]);
        if (!seen[k]) { seen[k] = true; option(el("f-tag"), k, t[3] + " = " + t[4]); }
      });
      el("f-from").value = d.start; el("f-to").value = d.end;
      el("f-from").min = el("f-to").min = d.start; el("f-from").max = el("f-to").max = d.end;
      ["f-provider", "f-account", "f-service", "f-tag", "f-from", "f-to", "f-basis"].forEach(function (id) {
        el(id).addEventListener("change", render);
      });
      el("filters").addEventListener("reset", function () { setTimeout(function () { el("f-from").value = d.start; el("f-to").value = d.end; render(); }, 0); });
      render();
    }).catch(function (e) {
      el("status").textContent = "Could not load data: " + e.message;
      el("status").className = "error";
    });
  }
  start();
})();
