// cwatch evidence charts: a ticket's evidence (GET /api/v1/tickets/{id}/evidence) drawn as inline SVG.
// No library and no external resources; colours come from board.css classes (the CSP allows no inline style).
// Water: litres per hour over 72 h as bars, the household's usual use at that hour of the day as a band (the
// middle half of 14 days) with its median, hours without readings hatched (a silent meter is not "no water
// used"). A device: each numeric field's peaks per 15 minutes as a line, broken where there is no reading.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  let W = 600; // the drawing's width in its own units: the container's width in CSS pixels, so text stays legible
  const PAD = { l: 40, r: 8, t: 10, b: 22 };
  const { tr, labelled } = window.cwatchI18n; // texts in the board's language (i18n.js)

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  const round = (v) => (Math.abs(v) >= 10 ? Math.round(v) : Math.round(v * 10) / 10);
  const pad2 = (n) => String(n).padStart(2, "0");

  // a frame of `n` buckets from `start` and the value range [lo, hi]: the scales, axes, day ticks and markers
  function frame(ev, n, lo, hi, height, unit) {
    const plotW = W - PAD.l - PAD.r;
    const plotH = height - PAD.t - PAD.b;
    const x = (i) => PAD.l + (i * plotW) / n;
    const y = (v) => PAD.t + (1 - (v - lo) / (hi - lo || 1)) * plotH;
    const g = svg("g", {});
    g.append(svg("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: y(lo), y2: y(lo) }));
    g.append(svg("text", { class: "tick", x: PAD.l - 4, y: y(hi) + 4, "text-anchor": "end" }, round(hi)));
    g.append(svg("text", { class: "tick", x: PAD.l - 4, y: y(lo), "text-anchor": "end" }, round(lo)));
    g.append(svg("text", { class: "tick", x: PAD.l - 4, y: PAD.t + plotH / 2 + 4, "text-anchor": "end" }, unit));
    for (let i = 0; i <= n; i++) { // local midnights: a line and the date
      const d = new Date((ev.start + i * ev.bucket_s) * 1000);
      if (d.getHours() !== 0 || d.getMinutes() !== 0) continue;
      g.append(svg("line", { class: "day", x1: x(i), x2: x(i), y1: PAD.t, y2: y(lo) }));
      g.append(svg("text", { class: "tick", x: x(i) + 3, y: height - 6 }, `${d.getMonth() + 1}-${pad2(d.getDate())}`));
    }
    for (const m of ev.markers) {
      const i = (m.at - ev.start) / ev.bucket_s;
      if (i < 0 || i > n) continue;
      g.append(svg("line", { class: "marker " + m.label, x1: x(i), x2: x(i), y1: PAD.t, y2: y(lo) }));
      g.append(svg("text", { class: "marker-label " + m.label, x: Math.min(x(i) + 3, W - 90), y: PAD.t + 9 },
        labelled("chart.marker.", m.label)));
    }
    return { g, x, y, lo };
  }

  function waterChart(ev) {
    const s = ev.series[0];
    const n = s.values.length;
    const height = 170;
    const top = Math.max(1, ...s.values.filter((v) => v !== null), ...ev.usual_high.filter((v) => v !== null)) * 1.1;
    const f = frame(ev, n, 0, top, height, "L/h");
    const bw = f.x(1) - f.x(0);
    const band = svg("g", { class: "usual" });
    const bars = svg("g", { class: "use" });
    for (let i = 0; i < n; i++) {
      const lo = ev.usual_low[i];
      const hi = ev.usual_high[i];
      const mid = ev.usual_mid[i];
      if (lo !== null && hi !== null) {
        band.append(svg("rect", { x: f.x(i), y: f.y(hi), width: bw, height: Math.max(1, f.y(lo) - f.y(hi)) }));
      }
      if (mid !== null) band.append(svg("line", { class: "median", x1: f.x(i), x2: f.x(i + 1), y1: f.y(mid), y2: f.y(mid) }));
      const v = s.values[i];
      if (v === null) {
        bars.append(svg("rect", { class: "gap", x: f.x(i), y: PAD.t, width: bw, height: f.y(0) - PAD.t }));
      } else if (v > 0) {
        bars.append(svg("rect", { x: f.x(i) + bw * 0.15, y: f.y(v), width: bw * 0.7, height: f.y(0) - f.y(v) }));
      }
    }
    const known = s.values.filter((v) => v !== null);
    const label = tr("chart.water", { litres: round(known.reduce((a, b) => a + b, 0)) }) +
      (ev.quiet_h !== null ? tr("chart.quiet", { h: ev.quiet_h }) : "") +
      (ev.usual_quiet_h !== null ? tr("chart.usually_quiet", { h: ev.usual_quiet_h }) : "");
    return [svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label, class: "chart water" },
      svg("title", {}, label), band, bars, f.g), label];
  }

  function seriesChart(ev, s) {
    const n = s.values.length;
    const height = 120;
    const known = s.values.filter((v) => v !== null);
    const lo = Math.min(0, ...known);
    const hi = Math.max(lo + 1, ...known) * 1.1;
    const f = frame(ev, n, lo, hi, height, s.unit);
    let d = "";
    let prev = null;
    const dots = svg("g", { class: "dots" });
    s.values.forEach((v, i) => {
      if (v === null) { prev = null; return; }
      const cx = f.x(i + 0.5);
      d += `${prev === null ? "M" : "L"}${cx.toFixed(1)},${f.y(v).toFixed(1)}`;
      if (prev === null && (i + 1 >= n || s.values[i + 1] === null)) dots.append(svg("circle", { cx, cy: f.y(v), r: 2 }));
      prev = v;
    });
    const name = labelled("chart.field.", s.name);
    const label = tr("chart.series", { name, max: round(Math.max(...known)), last: round(known[known.length - 1]), unit: s.unit });
    return [svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label, class: "chart device" },
      svg("title", {}, label), svg("path", { class: "line", d }), dots, f.g), label];
  }

  // The evidence as nodes to place in the detail: the chart(s) with a caption each, a legend. `width`: the
  // container's width in CSS pixels.
  function evidence(ev, width) {
    W = Math.max(280, Math.round(width || 600));
    const out = [];
    const cap = (text) => { const p = document.createElement("p"); p.className = "chart-caption"; p.textContent = text; return p; };
    if (ev.kind === "water_use" && ev.series.length) {
      const [chart, label] = waterChart(ev);
      out.push(chart, cap(label));
      const legend = document.createElement("p");
      legend.className = "chart-legend";
      for (const [cls, text] of [["use", tr("chart.use")], ["usual", tr("chart.usual")],
        ["median", tr("chart.median")], ["gap", tr("chart.gap")]]) {
        const key = document.createElement("span");
        key.className = "key " + cls;
        legend.append(key, text + " ");
      }
      out.push(legend);
    } else if (ev.kind === "device_values") {
      for (const s of ev.series) {
        const [chart, label] = seriesChart(ev, s);
        out.push(chart, cap(label));
      }
    }
    if (ev.note) out.push(cap(ev.note));
    return out;
  }

  window.cwatchChart = { evidence };
})();
