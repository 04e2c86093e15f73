// cwatch wall: the street's (or a community's) big screen at /wall, read from 3 m away. Counts and overdue per
// community and grid, criticals pinned at the top (flashing unless the viewer asks for reduced motion), the
// other active tickets scrolling by themselves, and the site plan. Nothing to click: no actions on a wall.
// Scoped like the board (the signed-in account's scope). Live through the stream, reloaded every 30 s anyway.
"use strict";

(function () {
  const API = "/api/v1";
  const { tr, named, title } = window.cwatchI18n; // texts in the language chosen on the board (i18n.js)
  const SEV_RANK = { critical: 0, major: 1, minor: 2, warning: 3, info: 4 };
  const PAGE = 500;
  const MAX_TICKETS = 20000;
  const RELOAD_MS = 30000;
  const SOON_MS = 1500; // changes arriving together cause one reload
  const SCROLL_PX = 1; // per step of the smooth auto-scroll
  const SCROLL_STEP_MS = 40;
  const PAGE_MS = 8000; // reduced motion: a page at a time
  const END_PAUSE_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const state = { me: null, plan: null, planView: null, tickets: [], source: null, soon: null, failed: false,
    clock: null, clockSkew: 0 };

  const { el } = window.cwatchDom;

  async function api(path, opts) {
    const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (o.json !== undefined) {
      o.method = "POST";
      o.headers["Content-Type"] = "application/json";
      o.body = JSON.stringify(o.json);
    }
    const r = await fetch(API + path, o);
    const body = r.status === 204 ? null : await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error((body && body.error && body.error.message) || r.statusText);
      err.status = r.status;
      throw err;
    }
    return body;
  }

  // ---- sign-in ---------------------------------------------------------------------------------------------
  function showLogin() {
    state.me = null;
    if (state.source) state.source.close();
    state.source = null;
    $("wall").hidden = true;
    $("login-view").hidden = false;
    $("username").focus();
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      await api("/auth/login", { json: { username: $("username").value, password: $("password").value } });
      $("password").value = "";
      await start();
    } catch (e) {
      $("login-error").textContent = e.status === 401 ? tr("wrong_password") : e.message;
    }
  });

  async function start() {
    try {
      state.me = await api("/me");
    } catch (e) {
      if (e.status === 401) return showLogin();
      throw e;
    }
    $("login-view").hidden = true;
    $("wall").hidden = false;
    $("scope-name").textContent = tr("wall.who", { name: state.me.display_name });
    state.plan = await api("/siteplan");
    const box = $("plan");
    state.planView = window.cwatchPlan.create(box, {
      api: async (path) => (path === "/siteplan" ? state.plan : api(path)),
      // read from 3 m: the plan keeps the buildings' true proportions (letterboxed in its box), buildings and
      // markers have a least size, every compound is named
      width: box.clientWidth - 12, height: box.clientHeight - 12, marker: 16, building: [20, 48],
      names: "microgrid", pad: 60, fonts: [30, 20], // the names' sizes in wall.css
    });
    await state.planView.load();
    await reload();
    connect();
  }

  // ---- data ------------------------------------------------------------------------------------------------
  async function reload() {
    try {
      const items = [];
      let cursor = null;
      do {
        const page = await api(`/tickets?status=active&limit=${PAGE}` + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
        items.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && items.length < MAX_TICKETS);
      const summary = await api("/summary");
      state.tickets = items;
      state.failed = false;
      render(summary);
    } catch (e) {
      if (e.status === 401) return showLogin();
      state.failed = true;
    }
    $("stale").hidden = !state.failed;
    $("wall").classList.toggle("stale", state.failed);
  }

  function reloadSoon() {
    if (state.soon !== null) return;
    state.soon = setTimeout(() => { state.soon = null; reload(); }, SOON_MS);
  }

  function connect() {
    if (!window.EventSource) return;
    const src = new EventSource(API + "/stream");
    state.source = src;
    src.addEventListener("open", () => { $("conn").className = "conn live"; reloadSoon(); });
    src.addEventListener("ticket", reloadSoon);
    src.addEventListener("resync", reloadSoon);
    src.addEventListener("error", () => { $("conn").className = "conn polling"; }); // EventSource retries itself
  }

  // ---- drawing ---------------------------------------------------------------------------------------------
  function place(t) {
    return [t.microgrid_name || t.microgrid_id, t.building_name, t.household_unit].filter(Boolean).join(" · ");
  }

  function since(ts, now) {
    const m = Math.max(0, Math.floor((now - ts) / 60));
    return m < 60 ? tr("dur.minutes", { n: m }) : m < 1440 ? tr("dur.hours", { n: Math.floor(m / 60) })
      : tr("dur.days", { n: Math.floor(m / 1440) });
  }

  function row(t, now) {
    return el("li", { class: `wall-ticket sev-${t.severity}` + (t.overdue ? " overdue" : ""), "data-id": t.id,
      "data-testid": "wall-ticket" },
    el("span", { class: `badge sev-${t.severity}` }, named("severity", t.severity)),
    el("span", { class: "title" }, title(t.title, t.titles),
      t.lone_elderly ? el("span", { class: "badge elderly" }, tr("lone_elderly")) : null),
    el("span", { class: "age" }, since(t.first_seen, now)),
    el("span", { class: "meta" }, place(t),
      t.overdue ? el("span", { class: "badge overdue" }, tr("overdue")) : null,
      t.escalation_level > 0 ? el("span", { class: "badge overdue" }, tr("level_n", { n: t.escalation_level })) : null,
      el("span", {}, "· " + (t.assignee_name || tr("unassigned")))));
  }

  function render(summary) {
    const now = summary.at;
    useClock(summary.tz, summary.at);
    const sorted = state.tickets.slice().sort((a, b) =>
      SEV_RANK[a.severity] - SEV_RANK[b.severity] || b.escalation_level - a.escalation_level || a.first_seen - b.first_seen);
    const crit = sorted.filter((t) => t.severity === "critical");
    const rest = sorted.filter((t) => t.severity !== "critical");
    $("t-active").textContent = summary.active;
    $("t-overdue").textContent = summary.overdue;
    $("t-critical").textContent = summary.by_severity.critical || 0;
    document.querySelector(".big.overdue").classList.toggle("hot", summary.overdue > 0);
    document.querySelector(".big.critical").classList.toggle("hot", (summary.by_severity.critical || 0) > 0);
    $("crit-count").textContent = String(crit.length);
    $("rest-count").textContent = String(rest.length);
    $("criticals").replaceChildren(...(crit.length ? crit.map((t) => row(t, now))
      : [el("li", { class: "all-clear" }, tr("wall.no_critical"))]));
    const frag = document.createDocumentFragment();
    for (const t of rest.slice(0, 500)) frag.append(row(t, now));
    $("rest").replaceChildren(frag);
    renderAreas();
    state.planView.show(state.tickets);
  }

  // Counts per community, with its grids below it, from the areas of the site plan (every area of the scope is
  // listed, also those with nothing to do).
  function renderAreas() {
    const communities = new Map();
    for (const a of state.plan.areas) {
      const ck = a.community_id || "";
      if (!communities.has(ck)) communities.set(ck, { name: a.community_name || ck, grids: new Map(), mgs: new Set() });
      const c = communities.get(ck);
      const gk = a.grid_id || a.microgrid_id;
      const gname = a.grid_name || a.microgrid_name;
      // 阳光社区第一网格 under 阳光社区 reads 第一网格
      const short = c.name && gname.startsWith(c.name) && gname.length > c.name.length ? gname.slice(c.name.length) : gname;
      if (!c.grids.has(gk)) c.grids.set(gk, { name: short, mgs: new Set() });
      c.grids.get(gk).mgs.add(a.microgrid_id);
      c.mgs.add(a.microgrid_id);
    }
    const count = (mgs) => {
      const ts = state.tickets.filter((t) => mgs.has(t.microgrid_id));
      return [ts.length, ts.filter((t) => t.overdue).length, ts.filter((t) => t.severity === "critical").length];
    };
    const cells = (tr, n) => {
      n.forEach((v, i) => tr.append(el("td", { class: v > 0 && i > 0 ? "hot" : v === 0 ? "zero" : "" }, String(v))));
      return tr;
    };
    const rows = [];
    for (const [id, c] of communities) {
      rows.push(cells(el("tr", { class: "community", "data-id": id, "data-testid": "area-community" },
        el("th", { scope: "row" }, c.name)), count(c.mgs)));
      for (const [gid, g] of c.grids) {
        rows.push(cells(el("tr", { class: "grid", "data-id": gid, "data-testid": "area-grid" },
          el("th", { scope: "row" }, g.name)), count(g.mgs)));
      }
    }
    $("areas").replaceChildren(...rows);
  }

  // ---- auto-scroll of the list -----------------------------------------------------------------------------
  // Smoothly, a pixel at a time, pausing at the end and starting over; with reduced motion a page at a time.
  let pausedUntil = 0;
  function step(px) {
    const s = $("scroller");
    if (Date.now() < pausedUntil || s.scrollHeight <= s.clientHeight) return;
    if (s.scrollTop + s.clientHeight >= s.scrollHeight - 1) {
      pausedUntil = Date.now() + END_PAUSE_MS;
      setTimeout(() => { s.scrollTop = 0; pausedUntil = Date.now() + END_PAUSE_MS; }, END_PAUSE_MS);
      return;
    }
    s.scrollTop += px;
  }
  if (reduced) setInterval(() => step($("scroller").clientHeight - 40), PAGE_MS);
  else setInterval(() => step(SCROLL_PX), SCROLL_STEP_MS);

  // ---- clock, periodic reload --------------------------------------------------------------------------------
  // The service's time on the street's clocks (`tz` of the summary, the zone of silences and tickets), whatever
  // the zone of the PC driving the screen; the browser's zone until the server has said, or if it does not know
  // the street's.
  function useClock(tz, at) {
    state.clockSkew = at - Date.now() / 1000;
    if (state.clock && state.clock.resolvedOptions().timeZone === tz) return tick();
    try {
      state.clock = new Intl.DateTimeFormat("en-CA", { timeZone: tz, hourCycle: "h23", month: "numeric",
        day: "2-digit", hour: "2-digit", minute: "2-digit" });
    } catch (e) {
      state.clock = null;
    }
    tick();
  }

  function tick() {
    const d = new Date(Date.now() + state.clockSkew * 1000);
    const f = state.clock || new Intl.DateTimeFormat("en-CA", { hourCycle: "h23", month: "numeric", day: "2-digit",
      hour: "2-digit", minute: "2-digit" });
    const p = {};
    for (const x of f.formatToParts(d)) p[x.type] = x.value;
    $("clock").textContent = `${p.month}-${p.day} ${p.hour}:${p.minute}`;
  }
  tick();
  setInterval(tick, 1000);
  setInterval(() => { if (state.me) reload(); }, RELOAD_MS);
  if (reduced) document.documentElement.classList.add("reduced-motion");
  window.cwatchI18n.load(true).then(start).catch((e) => { $("login-error").textContent = e.message; showLogin(); });
})();
