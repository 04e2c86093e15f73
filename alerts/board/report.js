// The monthly report page: fetches GET /api/v1/reports with the board's session cookie and draws it as
// text and SVG (no library, no CDN). Printable on A4 (report.css). Language: ?lang=, else the board's choice.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const I18N = window.cwatchI18n; // the board's language and texts (i18n.js, core/messages/board.toml)
  const t = (k) => I18N.tr("report." + k);
  const lang = () => (I18N.lang === "zh-CN" ? "zh" : "en");
  const COLS = ["tickets", "open", "ack_on_time_rate", "resolve_on_time_rate", "mtta_s", "mttr_s", "rating"];

  function pct(v) { return v == null ? t("none") : (v * 100).toFixed(1) + "%"; }
  function dur(s) {
    if (s == null) return t("none");
    return s < 5400 ? Math.round(s / 60) + " " + t("min") : (s / 3600).toFixed(1) + " " + t("h");
  }
  function cell(k, v) {
    if (k.endsWith("_rate")) return pct(v);
    if (k.endsWith("_s")) return dur(v);
    if (k === "rating") return v == null ? t("none") : v.toFixed(2);
    return String(v);
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function query(format) {
    const q = new URLSearchParams();
    q.set("month", $("month").value);
    if ($("by").value) q.set("by", $("by").value);
    if (params.get("scope")) q.set("scope", params.get("scope"));
    if (format) q.set("format", format);
    return "/api/v1/reports?" + q.toString();
  }

  function table(node, head, rows) {
    node.replaceChildren();
    const tr = el("tr");
    head.forEach((h) => tr.append(el("th", h)));
    node.append(el("thead"));
    node.firstChild.append(tr);
    const body = el("tbody");
    rows.forEach((r) => {
      const row = el("tr");
      row.append(el("th", r.name));
      COLS.forEach((k) => {
        const c = el("td", cell(k, r[k]));
        if (k.endsWith("_rate") && r[k] != null && r[k] < 0.9) c.className = "late";
        row.append(c);
      });
      body.append(row);
    });
    node.append(body);
  }

  function svg(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, String(v)));
    return e;
  }

  function trend(points) {
    const box = $("trend");
    box.replaceChildren();
    const W = 800, H = 220, L = 36, B = 20, n = Math.max(points.length, 1);
    const max = Math.max(1, ...points.map((p) => p.tickets));
    const step = (W - L) / n;
    box.append(svg("line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" }));
    const top = svg("text", { x: 2, y: 12 });
    top.textContent = String(max);
    box.append(top);
    let line = "";
    points.forEach((p, i) => {
      const h = ((H - B - 10) * p.tickets) / max;
      const bar = svg("rect", { x: L + i * step + 1, y: H - B - h, width: Math.max(step - 2, 1), height: h, class: "bar" });
      const title = svg("title", {});
      title.textContent = p.start + ": " + p.tickets + " · " + pct(p.resolve_on_time_rate);
      bar.append(title);
      box.append(bar);
      if (p.resolve_on_time_rate != null) {
        const y = H - B - (H - B - 10) * p.resolve_on_time_rate;
        line += (line ? " L " : "M ") + (L + i * step + step / 2).toFixed(1) + " " + y.toFixed(1);
      }
      if (n <= 12 || i % Math.ceil(n / 10) === 0) {
        const label = svg("text", { x: L + i * step, y: H - 5 });
        label.textContent = p.start.slice(5) || p.start;
        box.append(label);
      }
    });
    if (line) box.append(svg("path", { d: line, class: "rate" }));
  }

  // MTTA and MTTR per day (month): a line each, broken where a bucket has none, a dot per value with its figure
  function times(points) {
    const box = $("times");
    box.replaceChildren();
    const W = 800, H = 220, L = 36, B = 20, n = Math.max(points.length, 1);
    const step = (W - L) / n;
    const values = points.flatMap((p) => [p.mtta_s, p.mttr_s]).filter((v) => v != null);
    const max = Math.max(60, ...values);
    box.append(svg("line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" }));
    const top = svg("text", { x: 2, y: 12 });
    top.textContent = dur(max);
    box.append(top);
    ["mtta_s", "mttr_s"].forEach((k) => {
      let d = "";
      let joined = false;
      points.forEach((p, i) => {
        if (p[k] == null) { joined = false; return; }
        const x = (L + i * step + step / 2).toFixed(1), y = (H - B - ((H - B - 10) * p[k]) / max).toFixed(1);
        d += (joined ? " L " : " M ") + x + " " + y;
        joined = true;
        const dot = svg("circle", { cx: x, cy: y, r: 3, class: k });
        const title = svg("title", {});
        title.textContent = p.start + ": " + t(k) + " " + dur(p[k]);
        dot.append(title);
        box.append(dot);
      });
      if (d) box.append(svg("path", { d: d.trim(), class: k }));
    });
    points.forEach((p, i) => {
      if (n <= 12 || i % Math.ceil(n / 10) === 0) {
        const label = svg("text", { x: L + i * step, y: H - 5 });
        label.textContent = p.start.slice(5) || p.start;
        box.append(label);
      }
    });
  }

  function render(r) {
    const levels = { street: "", community: t("community"), grid: t("grid"), microgrid: t("microgrid") };
    $("title").textContent = r.scope.name + " · " + t("title");
    $("period").textContent = r.period.from + " – " + r.period.to;
    const cards = $("cards");
    cards.replaceChildren();
    ["tickets", "open", "ack_on_time_rate", "resolve_on_time_rate", "mtta_s", "mttr_s", "rating"].forEach((k) => {
      const c = el("div", null, "card");
      c.append(el("b", cell(k, r.totals[k])), el("span", t(k)));
      cards.append(c);
    });
    $("h-trend").textContent = r.period.bucket === "day" ? t("trend") : t("trendMonthly");
    $("trend").setAttribute("aria-label", $("h-trend").textContent);
    $("trend-caption").textContent = t("caption");
    trend(r.trend);
    $("h-times").textContent = r.period.bucket === "day" ? t("times") : t("timesMonthly");
    $("times").setAttribute("aria-label", $("h-times").textContent);
    $("times-caption").textContent = t("timesCaption");
    times(r.trend);
    $("h-areas").textContent = t("areas") + " (" + (levels[r.area_level] || r.area_level) + ")";
    table($("areas"), [t("area"), ...COLS.map(t)], r.by_area);
    $("h-rules").textContent = t("rules");
    table($("rules"), [t("rule"), ...COLS.map(t)], r.by_rule);
    $("method").textContent = t("method");
    $("report").hidden = false;
    // rows by a level at or below the report's own (the server refuses the others); a micro-grid has no choice
    const order = ["street", "community", "grid", "microgrid"];
    const from = order.indexOf(r.scope.level);
    for (const o of $("by").options) o.hidden = Boolean(o.value) && order.indexOf(o.value) < from;
    $("by").closest("label").hidden = from >= order.length - 1;
  }

  async function load() {
    $("status").textContent = t("loading");
    $("csv").href = query("csv");
    $("xlsx").href = query("xlsx");
    history.replaceState(null, "", "?" + new URLSearchParams({ month: $("month").value, lang: lang() }).toString());
    let r;
    try {
      r = await fetch(query(), { headers: { "Accept-Language": I18N.lang } });
    } catch (e) {
      $("status").textContent = t("failed") + e.message;
      return;
    }
    if (r.status === 401) { // the board's login brings its reader back here, to this month
      const back = { to: location.pathname + location.search, at: Date.now() };
      sessionStorage.setItem("cwatch.after-login", JSON.stringify(back));
      const sign = el("a", t("signIn"));
      sign.href = "/";
      sign.id = "sign-in";
      $("status").replaceChildren(t("login") + " ", sign);
      $("report").hidden = true;
      return;
    }
    const body = await r.json();
    if (!r.ok) { $("status").textContent = t("failed") + (body.error ? body.error.message : r.status); return; }
    $("status").textContent = "";
    render(body);
  }

  function texts() {
    document.title = t("title") + " · cwatch";
    $("back").textContent = t("board");
    $("l-month").textContent = t("month");
    $("l-by").textContent = t("by");
    $("show").textContent = t("show");
    $("print").textContent = t("print");
    $("lang").textContent = t("other");
    const by = $("by"), chosen = by.value || params.get("by") || "";
    const deflt = el("option", t("byDefault")); // the server's default: one level below the scope
    deflt.value = "";
    by.replaceChildren(deflt);
    ["community", "grid", "microgrid"].forEach((k) => {
      const o = el("option", t(k));
      o.value = k;
      by.append(o);
    });
    by.value = chosen;
    months();
  }

  // The month picker: the last three years' months named in the board's language (an <input type="month">
  // follows the browser's locale instead), and the month the address asks for.
  const ym = (y, m) => y + "-" + String(m).padStart(2, "0");
  const today = new Date();
  let chosenMonth = params.get("month") || ym(today.getFullYear(), today.getMonth() + 1);
  function months() {
    const sel = $("month");
    if (sel.value) chosenMonth = sel.value;
    const name = new Intl.DateTimeFormat(I18N.lang, { year: "numeric", month: "long", timeZone: "UTC" });
    const values = [];
    for (let i = 0; i < 36; i++) {
      const d = new Date(Date.UTC(today.getFullYear(), today.getMonth() - i, 1));
      values.push([ym(d.getUTCFullYear(), d.getUTCMonth() + 1), name.format(d)]);
    }
    if (!values.some(([v]) => v === chosenMonth)) {
      const m = /^(\d{4})-(\d{2})$/.exec(chosenMonth); // older, or not a month: the server says why
      values.push([chosenMonth, m ? name.format(new Date(Date.UTC(+m[1], +m[2] - 1, 1))) : chosenMonth]);
    }
    sel.replaceChildren(...values.map(([v, text]) => {
      const o = el("option", text);
      o.value = v;
      return o;
    }));
    sel.value = chosenMonth;
  }
  $("controls").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("print").addEventListener("click", () => window.print());
  $("lang").addEventListener("click", () => {
    I18N.toggle();
    texts();
    load();
  });
  I18N.load(true).then(() => {
    if (params.get("lang")) I18N.use(params.get("lang"), true);
    texts();
    load();
  });
})();
