// cwatch board: login, live ticket list (SSE, polling fallback), detail with timeline and actions.
// Plain ES2017, no build step, no external resources. All text from the server is inserted as text, never HTML.
// The board says when it cannot trust what it shows: a banner when the server or its live stream is unreachable
// (with the time of the last update), actions that could not reach the server say so in words, and it resyncs
// (full reload, stream reconnected with backoff) when the server is back.
"use strict";

(function () {
  const API = "/api/v1";
  const SEVERITIES = ["critical", "major", "minor", "warning", "info"];
  const SEV_RANK = { critical: 0, major: 1, minor: 2, warning: 3, info: 4 };
  const NEEDS_NOTE = { resolve: true, reopen: true, comment: true };
  const POLL_MS = 10000;
  const SAFETY_POLL_MS = 30000;
  const PAGE = 500; // tickets per request when loading the list
  const FIRST_PAGE = 100; // the page's first request: more than a screen, and drawn before the rest comes
  const MAX_TICKETS = 20000; // the list stops loading here and says so (narrow it with the filters)
  const RENDER_MS = 150; // changes arriving together (an alert storm) are drawn together
  const GROUP_ROWS = 200; // rows drawn of one expanded group
  const FETCH_TIMEOUT_MS = 12000;
  const DOWN_GRACE_MS = 2000; // a shorter interruption shows no banner
  const MISSED_BEATS = 2; // heartbeats the stream may miss (plus a second) before it counts as lost
  const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000]; // stream reconnects; jittered by ±20 %

  const $ = (id) => document.getElementById(id);

  // the texts in the chosen language (i18n.js)
  const I18N = window.cwatchI18n;
  const { tr, named, labelled, title } = I18N;
  $("lang").addEventListener("click", () => {
    I18N.toggle();
    redraw();
  });

  const state = {
    me: null, tickets: new Map(), selected: null, detail: null, pending: null, truncated: false,
    source: null, pollTimer: null, safetyTimer: null, clockSkew: 0, media: null,
  };
  // the connection to the server: when each part was lost (ms, null while fine), the last update, reconnects
  const link = {
    apiDown: null, streamDown: null, lastUpdate: null, lastBeat: 0, beatMs: 15000, attempts: 0, retryTimer: null,
  };

  // ---- helpers -------------------------------------------------------------------------------------------
  const { el } = window.cwatchDom;

  async function api(path, opts) {
    const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (o.json !== undefined) {
      o.method = o.method || "POST";
      o.headers["Content-Type"] = "application/json";
      o.body = JSON.stringify(o.json);
    }
    const lost = () => offline(tr(o.method && o.method !== "GET" ? "offline" : "no_server"));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), o.timeoutMs || FETCH_TIMEOUT_MS); // a hung server answers nothing
    o.signal = abort.signal;
    let r;
    let body;
    try {
      r = await fetch(API + path, o);
      if (r.status === 502 || r.status === 504 || (r.status === 503 && !isJson(r))) { // a proxy without its server
        linkLost("api");
        throw offline(tr("unavailable"));
      }
      body = r.status === 204 ? null : await r.json().catch((e) => {
        if (abort.signal.aborted) throw e;
        return {};
      });
    } catch (e) { // no answer at all: the server is down, hangs, or the network is
      if (e.offline) throw e;
      linkLost("api");
      throw lost();
    } finally {
      clearTimeout(timer);
    }
    linkOk("api");
    if (r.status === 204) return null;
    if (r.status === 503) throw offline(body.error ? tr("unavailable_why", { why: body.error.message }) : tr("unavailable"));
    if (!r.ok) {
      const err = new Error((body.error && body.error.message) || r.statusText);
      err.status = r.status;
      err.code = body.error && body.error.code;
      throw err;
    }
    return body;
  }

  const isJson = (r) => (r.headers.get("content-type") || "").startsWith("application/json");

  // An error whose message says in words that the server could not be reached (what actions show).
  function offline(message) {
    const err = new Error(message);
    err.offline = true;
    return err;
  }

  const serverNow = () => Date.now() / 1000 + state.clockSkew;

  function age(ts) {
    const s = Math.max(0, serverNow() - ts);
    if (s < 60) return tr("age.now");
    if (s < 3600) return tr("age.minutes", { n: Math.floor(s / 60) });
    if (s < 86400) return tr("age.hours", { n: Math.floor(s / 3600) });
    return tr("age.days", { n: Math.floor(s / 86400) });
  }

  // A date and time as the board writes them, from their parts (strings, two digits but the year's four):
  // month-day hh:mm:ss, with the year first (year-month-day) when it is not the current year's: an away or a
  // silence may end in the next one, a ticket come from the last. `year`: the current year where `p` is read.
  function dated(p, year) {
    const day = p.year === year ? `${Number(p.month)}-${p.day}` : `${p.year}-${p.month}-${p.day}`;
    return `${day} ${p.hour}:${p.minute}:${p.second}`;
  }
  const localParts = (d) => {
    const p = (n) => String(n).padStart(2, "0");
    return { year: String(d.getFullYear()), month: p(d.getMonth() + 1), day: p(d.getDate()), hour: p(d.getHours()),
      minute: p(d.getMinutes()), second: p(d.getSeconds()) };
  };

  // `ts` on this browser's clocks (a ticket's times)
  function clock(ts) {
    return dated(localParts(new Date(ts * 1000)), localParts(new Date(serverNow() * 1000)).year);
  }

  function place(t) {
    const dev = t.device_id ? t.device_id + (t.device_label ? `（${t.device_label}）` : "") : null;
    return [t.microgrid_name || t.microgrid_id, t.building_name || t.building_id, t.household_unit || t.household_id, dev]
      .filter(Boolean).join(" · ");
  }

  // replaceChildren(...nodes) would pass every row as an argument: thousands in an alert storm
  function fill(parent, nodes) {
    const frag = document.createDocumentFragment();
    for (const n of nodes) frag.append(n);
    parent.replaceChildren(frag);
  }

  // ---- login ---------------------------------------------------------------------------------------------
  function showLogin() {
    stopLive();
    state.me = null;
    resetSilenceForm();
    $("who").hidden = true;
    $("board-view").hidden = true;
    $("login-view").hidden = false;
    $("username").focus();
  }

  async function start() {
    try {
      state.me = await api("/me");
    } catch (e) {
      if (e.status === 401) return showLogin();
      throw e;
    }
    $("login-view").hidden = true;
    $("board-view").hidden = false;
    $("who").hidden = false;
    showWho();
    readAddress();
    await refresh();
    startLive();
    await openAddressed(addressTicket());
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      await api("/auth/login", { json: { username: $("username").value, password: $("password").value } });
      $("password").value = "";
      // back to the page that sent its reader here to sign in (the monthly report), if that is where they were
      const back = afterLogin();
      if (back) { location.assign(back); return; }
      await start();
    } catch (e) {
      $("login-error").textContent = e.status === 401 ? tr("wrong_password") : e.message;
    }
  });

  // where the report page asked to come back to after signing in, within the last 10 minutes (one use)
  function afterLogin() {
    let back = null;
    try {
      back = JSON.parse(sessionStorage.getItem("cwatch.after-login") || "null");
    } catch (e) {
      back = null;
    }
    sessionStorage.removeItem("cwatch.after-login");
    const fresh = back && typeof back.to === "string" && Date.now() - back.at < 10 * 60 * 1000;
    return fresh && /^\/reports(\?|$)/.test(back.to) ? back.to : null;
  }

  $("logout").addEventListener("click", async () => {
    await api("/auth/logout", { method: "POST" }).catch(() => null);
    state.tickets.clear();
    closeDetail();
    showLogin();
  });

  // ---- the address: `/tickets/{id}` opens that ticket; the list's filters are the query string -------------
  // (?status=&severity=&mg=&mine=1&q=), so a link or a bookmark shows the same list, and back/forward move
  // between the lists and tickets seen. Filters at their default are left out.
  const FILTERS = [["status", "f-status", "active"], ["severity", "f-severity", ""], ["mg", "f-mg", ""], ["q", "f-text", ""]];

  // The ticket the address names: its id; `{ bad: "abc" }` for something that is no ticket number (a mistyped
  // or cut link); null for the list.
  const MAX_ID = 2147483647; // the API's largest id
  function addressTicket() {
    const m = /^\/tickets\/([^/]+)\/?$/.exec(location.pathname);
    if (!m) return null;
    let ref = m[1];
    try { ref = decodeURIComponent(ref); } catch (e) { /* shown as it is */ }
    const id = /^\d{1,10}$/.test(ref) ? Number(ref) : 0;
    return id >= 1 && id <= MAX_ID ? id : { bad: ref };
  }

  // The address names no ticket: the board with the list, and a line saying why (the address is the list's).
  function badTicketLink(ref) {
    if (state.selected !== null) closeDetail("address");
    writeAddress(false);
    $("list-error").textContent = tr("link.bad_ticket", { ref: ref.length > 40 ? ref.slice(0, 40) + "…" : ref });
  }

  // open what the address names (`how` as for openDetail)
  async function openAddressed(id) {
    if (id === null) return;
    if (typeof id === "object") return badTicketLink(id.bad);
    if (id !== state.selected) await openDetail(id, "address");
  }

  function readAddress() {
    const q = new URLSearchParams(location.search);
    for (const [key, id, dflt] of FILTERS) {
      const v = q.has(key) ? q.get(key) : dflt;
      if (key === "mg" && v && !microgrids.has(v)) { microgrids.set(v, v); drawMicrogrids(); }
      const want = key === "status" && v === "all" ? "" : v;
      $(id).value = want;
      if ($(id).value !== want) $(id).value = dflt; // a value the select does not offer
    }
    $("f-mine").checked = q.get("mine") === "1";
  }

  function address() {
    const q = new URLSearchParams();
    for (const [key, id, dflt] of FILTERS) {
      const v = key === "status" && $(id).value === "" ? "all" : $(id).value.trim();
      if (v !== dflt) q.set(key, v);
    }
    if ($("f-mine").checked) q.set("mine", "1");
    const search = q.toString();
    return (state.selected !== null ? `/tickets/${state.selected}` : "/") + (search ? "?" + search : "");
  }

  // `push`: a step the back button undoes (a filter changed, a ticket opened or closed); else the entry is
  // replaced (typing in the search, a ticket that vanished)
  function writeAddress(push) {
    const next = address();
    if (next === location.pathname + location.search) return;
    if (push) history.pushState(null, "", next);
    else history.replaceState(null, "", next);
  }

  window.addEventListener("popstate", async () => {
    if (!state.me) return;
    readAddress();
    const id = addressTicket();
    if (typeof id !== "number" && state.selected !== null) closeDetail("address");
    await refresh();
    await openAddressed(id);
  });

  // ---- list and summary ----------------------------------------------------------------------------------
  function query(limit) {
    const q = new URLSearchParams({ limit: String(limit || PAGE) });
    if ($("f-status").value) q.append("status", $("f-status").value);
    if ($("f-severity").value) q.append("severity", $("f-severity").value);
    if ($("f-mine").checked) q.append("mine", "true");
    if ($("f-mg").value) q.append("microgrid", $("f-mg").value);
    return q.toString();
  }

  function matchesFilters(t) {
    const st = $("f-status").value;
    if (st === "active" && !["open", "acknowledged", "in_progress"].includes(t.status)) return false;
    if (st && st !== "active" && t.status !== st) return false;
    if ($("f-severity").value && t.severity !== $("f-severity").value) return false;
    if ($("f-mine").checked && (!state.me || t.assignee_id !== state.me.person_id)) return false;
    if ($("f-mg").value && t.microgrid_id !== $("f-mg").value) return false;
    return true;
  }

  // The whole list in pages (an alert storm leaves thousands of active tickets), the summary and the silences.
  // Calls that overlap share one load; one asked for meanwhile runs after it, so a resync is never lost.
  let loading = null;
  let again = false;
  function refresh() {
    if (loading) { again = true; return loading; }
    loading = load().finally(() => {
      loading = null;
      if (again) { again = false; refresh(); }
    });
    return loading;
  }

  // Performance API marks of the page's first load (bench.board reads them): the first rows drawn, when all
  // the data had come, and the whole list drawn.
  let firstLoad = Boolean(window.performance && performance.mark);
  function mark(name, detail) {
    if (firstLoad) performance.mark("cwatch:" + name, { detail });
  }

  async function load() {
    try {
      const started = Date.now();
      const [items, summary, silences] = await Promise.all([listAll(), api("/summary"), api("/silences")]);
      mark("full-data");
      state.tickets = new Map(items.map((t) => [t.id, t]));
      rememberMicrogrids(items);
      renderSummary(summary);
      useZone(silences.tz);
      renderSilences(silences.items);
      renderList();
      if (firstLoad && !performance.getEntriesByName("cwatch:first-list").length) mark("first-list", { tickets: items.length });
      mark("full-list", { tickets: items.length });
      firstLoad = false;
      updated(started);
      if (state.selected !== null) await loadDetail(state.selected);
    } catch (e) {
      if (e.status === 401) showLogin();
    }
  }

  // On the page's first load a short first page (the most severe, oldest tickets: the list's top) is drawn as
  // soon as it comes, while the rest loads; later reloads replace the list at once, so nothing flickers.
  async function listAll() {
    const items = [];
    let cursor = null;
    do {
      const limit = firstLoad && !items.length ? FIRST_PAGE : PAGE;
      const page = await api("/tickets?" + query(limit) + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...page.items);
      cursor = page.next_cursor;
      if (firstLoad && cursor && items.length === page.items.length) {
        state.tickets = new Map(items.map((t) => [t.id, t]));
        rememberMicrogrids(items);
        renderList();
        mark("first-list", { tickets: items.length });
      }
    } while (cursor && items.length < MAX_TICKETS);
    state.truncated = Boolean(cursor);
    return items;
  }

  // at most one summary request per 300 ms, also while changes keep arriving (an alert storm)
  let summaryTimer = null;
  function refreshSummarySoon() {
    if (summaryTimer !== null) return;
    summaryTimer = setTimeout(async () => {
      summaryTimer = null;
      try { renderSummary(await api("/summary")); } catch (e) { if (e.status === 401) showLogin(); }
    }, 300);
  }

  function renderSummary(s) {
    state.summary = s;
    state.clockSkew = s.at - Date.now() / 1000;
    $("s-active").textContent = s.active;
    $("s-overdue").textContent = s.overdue;
    document.querySelector(".tile.overdue").classList.toggle("hot", s.overdue > 0);
    for (const k of SEVERITIES) $("s-" + k).textContent = s.by_severity[k] || 0;
    $("s-mtta").textContent = duration(s.mtta_s);
    $("s-mttr").textContent = duration(s.mttr_s);
  }

  // Micro-grid filter for command centres: offered once tickets from two or more micro-grids were seen.
  const microgrids = new Map();
  function rememberMicrogrids(items) {
    let added = false;
    for (const t of items) {
      const name = t.microgrid_name || t.microgrid_id;
      if (microgrids.get(t.microgrid_id) !== name) { microgrids.set(t.microgrid_id, name); added = true; }
    }
    if (added) drawMicrogrids();
  }

  function drawMicrogrids() {
    const sel = $("f-mg");
    const current = sel.value;
    const opts = [...microgrids.entries()].sort((a, b) => a[1].localeCompare(b[1], "zh-CN"));
    sel.replaceChildren(el("option", { value: "", "data-i18n": "filter.all" }, tr("filter.all")), ...opts.map(([id, name]) => el("option", { value: id }, name)));
    sel.value = current;
    $("f-mg-label").hidden = microgrids.size < 2;
  }

  // ---- silences (maintenance windows) ---------------------------------------------------------------------
  // Leaders and above (those who may reassign) create and cancel them; everybody sees the ones in their scope.
  const maySilence = () => Boolean(state.me && state.me.may.includes("assign"));

  function useZone(tz) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: tz });
      streetTz = tz;
    } catch (e) {
      streetTz = null; // a zone this browser does not know: its own, and the form says which
    }
    $("silence-tz").textContent = zoneLabel();
  }

  function renderSilences(items) {
    state.silences = items;
    const shown = items.filter((s) => s.cancelled_at === null);
    $("silences").hidden = shown.length === 0;
    $("silences-toggle").textContent = tr("silences_count", { n: shown.length });
    $("silence-list").replaceChildren(...shown.map((s) => el("li", { "data-testid": "silence", "data-id": s.id },
      tr("silence.line", {
        what: tr(s.active ? "silence.active" : "silence.upcoming"),
        scope: s.scope_name || s.scope_id,
        rule: (s.rule_name || s.rule_id || tr("silence.all_rules")) + (s.device_id ? " · " + (s.device_name || s.device_id) : ""),
        when: (s.weekly ? weeklyText(s.weekly) + " " : "") +
          (s.active ? "" : tr("silence.from", { when: streetClock(s.next_windows.length ? s.next_windows[0].starts_at : s.starts_at) }) + " ") +
          tr("silence.until", { when: streetClock(s.ends_at) }),
        comment: s.comment, by: s.created_by_name || s.created_by, n: s.suppressed,
      }),
      s.may_cancel ? el("button", { type: "button", class: "link", onclick: () => cancelSilence(s.id) },
        tr("silence.end")) : null)));
    $("silence-new").hidden = !maySilence() || !$("silence-form").hidden;
  }

  async function cancelSilence(id) {
    if (!window.confirm(tr("silence.end_confirm"))) return;
    try {
      await api(`/silences/${id}/cancel`, { method: "POST" });
    } catch (e) {
      if (e.status === 401) return showLogin();
      window.alert(e.message);
    }
    await refresh();
  }

  function weeklyText(w) {
    const names = tr("silence.weekday").split(",");
    return tr("silence.weekly_line", { days: w.days.map((d) => names[d - 1]).join(tr("names.list_separator")), from: w.from, to: w.to });
  }

  // The device is picked by name from those of the scope (building, door, label; `/silences/devices`), narrowed
  // by what is typed; an id typed in full is taken as it is. Answers that come late for an older text are dropped.
  let deviceAsk = 0;
  async function loadDevices() {
    const scope = $("silence-scope").value;
    const ask = ++deviceAsk;
    if (!scope) return $("silence-devices").replaceChildren();
    const q = $("silence-device").value.trim();
    const found = await api(`/silences/devices?scope=${encodeURIComponent(scope)}&q=${encodeURIComponent(q)}`);
    if (ask !== deviceAsk) return;
    $("silence-devices").replaceChildren(...found.items.map((d) => el("option", { value: d.id,
      label: `${d.name} · ${named("device_class", d.device_class)}` })));
    $("silence-device").title = found.more ? tr("silence.device_more") : "";
  }
  let deviceTimer = null;
  function scheduleDevices() {
    clearTimeout(deviceTimer);
    deviceTimer = setTimeout(() => loadDevices().catch((e) => { if (e.status === 401) showLogin(); }), 250);
  }
  $("silence-scope").addEventListener("change", scheduleDevices);
  $("silence-device").addEventListener("input", scheduleDevices);

  // the scope is picked from the tree of nodes the leader may silence, indented by level, named
  const INDENT = { street: 0, community: 1, grid: 2, microgrid: 3, building: 4 };
  async function loadScopes() {
    const tree = await api("/silences/scopes");
    useZone(tree.tz);
    const select = $("silence-scope");
    select.replaceChildren(...tree.items.map((n) => el("option", { value: n.id, disabled: !n.may_silence },
      "\u3000".repeat(INDENT[n.level] || 0) + n.name)));
    const mine = tree.items.find((n) => n.id === state.me.scope_id && n.may_silence) || tree.items.find((n) => n.may_silence);
    if (mine) select.value = mine.id;
    // every rule in force by name, with those of the tickets in view (a rule no longer in force among them)
    const names = new Map((tree.rules || []).map((r) => [r.id, r.name]));
    for (const o of $("silence-rules").options) if (!names.has(o.value)) names.set(o.value, o.label);
    $("silence-rules").replaceChildren(...[...names.keys()].sort().map((id) => el("option", { value: id, label: names.get(id) })));
  }

  // ---- the street's time zone: a silence's start and end are typed and shown in it, like its weekly windows,
  // whatever the browser's zone (a duty desk's PC set to UTC, a leader travelling). The server names it (`tz`).
  let streetTz = null; // null until the server said: the browser's zone
  const zoneParts = (ts) => {
    const f = new Intl.DateTimeFormat("en-CA", { timeZone: streetTz || undefined, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const p = {};
    for (const x of f.formatToParts(new Date(ts * 1000))) p[x.type] = x.value;
    return p;
  };
  // seconds the street's clocks are ahead of UTC at the instant `ts`
  function zoneOffset(ts) {
    const p = zoneParts(ts);
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second) / 1000 - Math.floor(ts);
  }
  function zoneLabel() {
    const off = Math.round(zoneOffset(serverNow()) / 60);
    const p = (n) => String(n).padStart(2, "0");
    const utc = `UTC${off < 0 ? "−" : "+"}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
    return tr("silence.zone", { zone: streetTz || Intl.DateTimeFormat().resolvedOptions().timeZone, utc });
  }
  // `ts` on the street's clocks (the silences' and the aways' times), written as `dated` writes it
  function streetClock(ts) {
    return dated(zoneParts(ts), zoneParts(serverNow()).year);
  }
  function localInput(ts) { // epoch seconds -> the value of an <input type="datetime-local">, street time
    const p = zoneParts(ts);
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
  }
  function fromInput(v) { // the input's street time -> epoch seconds (twice: the offset may change in between)
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(v || "");
    if (!m) return null;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]) / 1000;
    return wall - zoneOffset(wall - zoneOffset(wall));
  }

  // the weekday boxes, named in the board's language (again after a switch; what is ticked stays ticked)
  function weeklyDays() {
    const box = $("silence-days");
    const ticked = new Set([...box.querySelectorAll("input:checked")].map((c) => c.value));
    box.replaceChildren(...tr("silence.weekday").split(",").map((name, i) => el("label", { class: "day" },
      el("input", { type: "checkbox", value: String(i + 1), checked: ticked.has(String(i + 1)) }), name)));
  }

  function silenceBody() {
    const body = { scope_id: $("silence-scope").value, comment: $("silence-comment").value.trim() };
    const start = fromInput($("silence-start").value);
    const end = fromInput($("silence-end").value);
    if (start !== null) body.starts_at = start;
    if (end !== null) body.ends_at = end;
    else body.duration_s = Number($("silence-duration").value);
    if ($("silence-rule").value.trim()) body.rule_id = $("silence-rule").value.trim();
    if ($("silence-device").value.trim()) body.device_id = $("silence-device").value.trim();
    if ($("silence-repeat").checked) {
      const days = [...$("silence-days").querySelectorAll("input:checked")].map((c) => Number(c.value));
      body.weekly = { days, from: $("silence-from").value, to: $("silence-to").value };
    }
    return body;
  }

  let previewTimer = null;
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(showPreview, 300);
  }

  async function showPreview() {
    if ($("silence-form").hidden || !$("silence-scope").value) return;
    const body = silenceBody();
    delete body.comment;
    const out = $("silence-preview");
    if (body.weekly && !body.weekly.days.length) { // not yet a window: say what is missing, not the API's field path
      out.textContent = tr("silence.pick_days");
      out.classList.remove("error");
      return;
    }
    try {
      const p = await api("/silences/preview", { json: body });
      const classes = Object.entries(p.by_class).map(([c, n]) => `${named("device_class", c)} ${n}`).join(tr("names.list_separator"));
      out.textContent = tr("silence.preview", {
        devices: p.devices, classes: classes || "—", tickets: p.active_tickets,
        critical: tr(p.critical_excluded ? "silence.critical_loud" : "silence.critical_muted"),
        windows: p.next_windows.map((w) => streetClock(w.starts_at) + "–" + streetClock(w.ends_at).slice(-8)).join("；"),
      });
      out.classList.remove("error");
    } catch (e) {
      if (e.status === 401) return showLogin();
      out.textContent = e.message;
      out.classList.add("error");
    }
  }

  for (const id of ["silence-scope", "silence-rule", "silence-device", "silence-start", "silence-end",
    "silence-duration", "silence-repeat", "silence-from", "silence-to"]) {
    $(id).addEventListener("change", schedulePreview);
  }
  $("silence-days").addEventListener("change", schedulePreview);
  $("silence-repeat").addEventListener("change", () => { $("silence-weekly").hidden = !$("silence-repeat").checked; });

  $("silence-new").addEventListener("click", async () => {
    // the rules of the tickets in view, each by its name (the value stays the rule's id, which the API takes)
    const names = new Map([...state.tickets.values()].map((t) => [t.rule_id, t.rule_name || title(t.title, t.titles)]));
    $("silence-rules").replaceChildren(...[...names.keys()].sort().map((id) => el("option", { value: id, label: names.get(id) })));
    weeklyDays();
    $("silence-start").value = localInput(serverNow());
    $("silence-error").textContent = "";
    $("silence-preview").textContent = "";
    $("silence-form").hidden = false;
    $("silence-new").hidden = true;
    $("silence-comment").focus();
    try {
      await loadScopes();
      await loadDevices();
    } catch (e) {
      if (e.status === 401) return showLogin();
      $("silence-error").textContent = e.message;
      return;
    }
    showPreview();
  });

  function closeSilenceForm() {
    $("silence-form").hidden = true;
    $("silence-new").hidden = !maySilence();
  }

  // on logout (or an expired session) nothing typed stays for whoever signs in next on the duty-room screen
  function resetSilenceForm() {
    for (const id of ["silence-rule", "silence-device", "silence-comment", "silence-start", "silence-end"]) $(id).value = "";
    $("silence-scope").replaceChildren();
    $("silence-devices").replaceChildren();
    $("silence-repeat").checked = false;
    $("silence-weekly").hidden = true;
    for (const c of $("silence-days").querySelectorAll("input")) c.checked = false;
    $("silence-error").textContent = "";
    $("silence-preview").textContent = "";
    closeSilenceForm();
  }
  $("silence-cancel-form").addEventListener("click", closeSilenceForm);
  // on a phone the silences fold into one line, so the first ticket stays near the top however many there are
  function unfoldSilences(open) {
    $("silences").classList.toggle("open", open);
    $("silences-toggle").setAttribute("aria-expanded", String(open));
  }
  $("silences-toggle").addEventListener("click", () => unfoldSilences(!$("silences").classList.contains("open")));

  $("silence-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("silence-error").textContent = "";
    const body = silenceBody();
    try {
      await api("/silences", { json: body });
    } catch (e) {
      if (e.status === 401) return showLogin();
      $("silence-error").textContent = e.status === 403 ? tr("silence.not_allowed", { why: e.message }) : e.message;
      return;
    }
    resetSilenceForm();
    unfoldSilences(true); // its author sees the one just made
    await refresh();
  });

  function duration(sec) {
    if (sec === null || sec === undefined) return "—";
    if (sec < 60) return tr("dur.seconds", { n: Math.round(sec) });
    if (sec < 3600) return tr("dur.minutes", { n: Math.round(sec / 60) });
    if (sec < 86400) return tr("dur.hours", { n: Number((sec / 3600).toFixed(1)) });
    return tr("dur.days", { n: Number((sec / 86400).toFixed(1)) });
  }

  function sorted() {
    const text = $("f-text").value.trim().toLowerCase();
    return [...state.tickets.values()]
      .filter((t) => !text || [t.title, t.device_id, t.building_id, t.building_name, t.household_unit, t.microgrid_name, t.rule_id]
        .some((v) => v && String(v).toLowerCase().includes(text)))
      .sort((a, b) => SEV_RANK[a.severity] - SEV_RANK[b.severity] || a.first_seen - b.first_seen || a.id - b.id);
  }

  // Countdowns (a verification wait, SLA deadlines) tick once a second without redrawing the list.
  function mmss(sec) {
    const total = Math.round(Math.abs(sec));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const p = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${p(m)}:${p(total % 60)}` : `${m}:${p(total % 60)}`;
  }

  function countdownText(until, label, late) {
    const left = until - serverNow();
    return left < 0 && late ? `${late} ${mmss(left)}` : `${label} ${mmss(Math.max(0, left))}`;
  }

  // `label` while time is left, `late` (if given) once it has passed, counting up
  function countdown(until, label, late, testid) {
    return el("span", { class: "countdown", "data-until": until, "data-label": label, "data-late": late || "",
      "data-testid": testid || null }, countdownText(until, label, late));
  }

  function tickCountdowns() {
    for (const c of document.querySelectorAll(".countdown")) {
      c.textContent = countdownText(Number(c.dataset.until), c.dataset.label, c.dataset.late);
    }
  }

  // A ticket that holds only alarms in their verification wait: shown at once, nobody told yet.
  function verifyingBadge(t) {
    if (t.verifying) {
      return el("span", { class: "badge verifying", "data-testid": "verifying" }, " " + tr("verifying") + " ",
        t.verify_until ? countdown(t.verify_until, tr("verifying_left"), null) : null);
    }
    return t.verify_until
      ? el("span", { class: "badge verifying", "data-testid": "verifying" }, " " + tr("verifying_other"))
      : null;
  }

  // The ticket's SLA clock: how long it has been overdue (escalation moves the deadlines, not this), else the
  // time left to acknowledge (while open) or to resolve.
  function slaBadge(t) {
    if (!["open", "acknowledged", "in_progress"].includes(t.status)) return null;
    if (t.overdue_since) {
      return el("span", { class: "badge overdue", "data-testid": "sla" }, countdown(t.overdue_since, "", tr("overdue")));
    }
    const [due, label] = t.status === "open" && t.ack_due_at ? [t.ack_due_at, tr("ack_in")]
      : t.resolve_due_at ? [t.resolve_due_at, tr("resolve_in")] : [null, null];
    return due ? el("span", { class: "badge sla", "data-testid": "sla" }, countdown(due, label, tr("overdue"))) : null;
  }

  function renderTicket(t) {
    const badges = el("span", {},
      verifyingBadge(t),
      el("span", { class: `badge st-${t.status}` }, named("status", t.status)),
      slaBadge(t),
      t.cleared ? el("span", { class: "badge cleared" }, " " + tr("cleared")) : null,
      t.escalation_level > 0
        ? el("span", { class: "badge overdue", "data-testid": "level" }, " " + tr("level_n", { n: t.escalation_level })) : null);
    return el("li", {
      class: `ticket sev-${t.severity}` + (t.id === state.selected ? " selected" : ""),
      "data-id": t.id, "data-testid": "ticket", tabIndex: 0,
      onclick: () => openDetail(t.id),
      onkeydown: (ev) => { if (ev.key === "Enter") openDetail(t.id); },
    },
    el("span", { class: `badge sev-${t.severity}` }, named("severity", t.severity)),
    el("span", { class: "title" }, title(t.title, t.titles), t.count > 1 ? ` ×${t.count}` : "",
      t.lone_elderly ? el("span", { class: "badge elderly", "data-testid": "lone-elderly" }, tr("lone_elderly")) : null),
    el("span", { class: "right" }, age(t.first_seen)),
    el("span", { class: "meta" },
      el("span", {}, place(t)),
      el("span", {}, tr("assignee_is", { name: t.assignee_name || t.assignee_id || tr("unassigned") })),
      badges));
  }

  // Alert storms (a gateway down takes 40 meters offline) collapse into one row per rule and micro-grid.
  const GROUP_MIN = 4;
  const expanded = new Set();

  function grouped(items) {
    const groups = new Map();
    for (const t of items) {
      const k = t.rule_id + "|" + t.microgrid_id;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(t);
    }
    const out = [];
    const shown = new Map(); // rows drawn so far of each expanded group
    for (const t of items) {
      const k = t.rule_id + "|" + t.microgrid_id;
      const g = groups.get(k);
      if (g.length < GROUP_MIN) { out.push(renderTicket(t)); continue; }
      if (!shown.has(k)) {
        shown.set(k, 0);
        out.push(renderGroup(k, g));
      }
      if (!expanded.has(k)) continue;
      const n = shown.get(k) + 1;
      shown.set(k, n);
      if (n <= GROUP_ROWS) out.push(renderTicket(t));
      else if (n === g.length) {
        out.push(el("li", { class: "more", "data-testid": "more" },
          tr("more_not_listed", { n: g.length - GROUP_ROWS })));
      }
    }
    return out;
  }

  function renderGroup(key, g) {
    const first = g[0];
    const what = String(title(first.title, first.titles)).split(/[：:]/)[0];
    const open = expanded.has(key);
    return el("li", {
      class: `ticket group sev-${first.severity}`, "data-group": key, "data-testid": "group", tabIndex: 0,
      onclick: () => { if (open) expanded.delete(key); else expanded.add(key); renderList(); },
    },
    el("span", { class: `badge sev-${first.severity}` }, named("severity", first.severity)),
    el("span", { class: "title" }, `${what} ×${g.length}`),
    el("span", { class: "right" }, age(Math.min(...g.map((t) => t.first_seen)))),
    el("span", { class: "meta" },
      el("span", {}, first.microgrid_name || first.microgrid_id),
      el("span", {}, tr("similar", { n: g.length })),
      el("span", { class: "badge" }, tr(open ? "collapse" : "expand"))));
  }

  // Changes that arrive together are drawn once (`renderSoon`); new rows flash when they are drawn.
  let renderTimer = null;
  const fresh = new Set();
  function renderSoon() {
    if (renderTimer === null) renderTimer = setTimeout(renderList, RENDER_MS);
  }

  function renderList() {
    clearTimeout(renderTimer);
    renderTimer = null;
    const items = sorted();
    fill($("tickets"), grouped(items));
    $("tickets").setAttribute("data-total", String(items.length));
    for (const id of fresh) {
      const li = document.querySelector(`.ticket[data-id="${id}"]`);
      if (li) li.classList.add("flash");
    }
    fresh.clear();
    if (plan !== null && !$("plan").hidden) plan.show(items);
    $("empty").hidden = items.length > 0;
    $("truncated").hidden = !state.truncated;
    const open = items.filter((t) => t.status === "open" && t.actions.includes("ack"));
    $("ack-all").hidden = open.length < 2;
    $("ack-all").textContent = tr("ack_all", { n: open.length });
  }

  $("ack-all").addEventListener("click", async () => {
    const ids = sorted().filter((t) => t.status === "open" && t.actions.includes("ack")).map((t) => t.id);
    if (!ids.length || !window.confirm(tr("ack_all_confirm", { n: ids.length }))) return;
    $("list-error").textContent = "";
    try {
      const out = await api("/tickets/bulk", { json: { action: "ack", ids } });
      const failed = out.results.filter((r) => !r.ok);
      if (failed.length) {
        $("list-error").textContent = tr("ack_all_failed", { n: failed.length, why: failed[0].error.message });
      }
    } catch (e) {
      if (e.status === 401) return showLogin();
      $("list-error").textContent = e.message;
      return;
    }
    await refresh();
  });

  ["f-status", "f-severity", "f-mine", "f-mg"].forEach((id) => $(id).addEventListener("change", () => {
    writeAddress(true);
    refresh();
  }));
  $("f-text").addEventListener("input", () => {
    writeAddress(false);
    renderList();
  });

  // the site plan above the list: markers for the listed tickets, a building's units on a click
  let plan = null;
  $("plan-toggle").addEventListener("click", async () => {
    const box = $("plan");
    box.hidden = !box.hidden;
    $("plan-toggle").setAttribute("aria-expanded", String(!box.hidden));
    if (box.hidden) return;
    if (plan === null) {
      plan = window.cwatchPlan.create(box, { api, onTicket: (id) => openDetail(id), width: 900, height: 420 });
      try {
        await plan.load();
      } catch (e) {
        plan = null;
        box.replaceChildren(el("p", { class: "error" }, e.message));
        return;
      }
    }
    plan.show([...state.tickets.values()]);
  });

  // on a phone the selects sit behind one button, so the first ticket is above the fold
  $("f-toggle").addEventListener("click", () => {
    const open = $("filters").classList.toggle("open");
    $("f-toggle").setAttribute("aria-expanded", String(open));
  });

  // ---- detail --------------------------------------------------------------------------------------------
  // On a phone the action bar is fixed at the bottom of the screen; the detail keeps room for it below its end.
  if (window.ResizeObserver) {
    new ResizeObserver(() => $("detail").style.setProperty("--actbar-h", $("actbar").offsetHeight + "px"))
      .observe($("actbar"));
  }

  // `how`: "address" when the address asked for it (it is already there), else a click (a new history entry)
  async function openDetail(id, how) {
    state.selected = id;
    if (how !== "address") writeAddress(true);
    closeNoteForm();
    $("action-error").textContent = "";
    $("list-error").textContent = "";
    $("evidence").hidden = true;
    $("evidence").replaceChildren();
    $("media").hidden = true;
    state.media = null;
    $("away").hidden = true;
    state.away = null;
    try {
      await loadDetail(id);
    } catch (e) {
      if (e.status === 401) return showLogin();
      closeDetail(); // never leave another ticket's detail (and its buttons) open under this selection
      $("list-error").textContent = e.message;
      return;
    }
    renderList();
    if (state.selected === id) loadEvidence(id);
    if (state.selected === id) loadMedia(id);
    if (state.selected === id) loadAway(id);
  }

  // The open ticket's pictures: the camera's snapshot and clip (shown when their host is on media.hosts), the
  // photos people attached (thumbnails opening the photo), and, while the ticket is worked on, a button to take
  // or add one (a phone offers its camera).
  const UPLOAD_TIMEOUT_MS = 120000; // a photo of several MB over a phone's network
  async function loadMedia(id) {
    let m;
    try {
      m = await api(`/tickets/${id}/media`);
    } catch (e) {
      if (e.status === 401) return showLogin();
      return; // no photo storage here (503), or the ticket is gone: the detail says what there is to say
    }
    if (state.selected !== id) return;
    state.media = Object.assign(m, { ticket: id });
    renderMedia();
  }

  function renderMedia() {
    const m = state.media, t = state.detail;
    if (!m || !t || m.ticket !== t.id) return;
    const working = ["open", "acknowledged", "in_progress"].includes(t.status) &&
      t.actions.some((a) => a === "resolve" || a === "comment");
    $("media-camera").replaceChildren(...m.camera.map((c) => {
      const what = tr(c.kind === "clip" ? "media.clip" : "media.snapshot");
      if (!c.shown) return el("p", { class: "muted", "data-testid": "camera-hidden" }, tr("media.not_shown", { what, host: c.host }));
      if (c.kind === "clip") return el("video", { src: c.url, controls: true, preload: "none", class: "media-clip", title: what });
      return el("a", { href: c.url, target: "_blank", rel: "noopener noreferrer" },
        el("img", { src: c.url, alt: what, class: "media-snap", loading: "lazy", "data-testid": "camera-snapshot" }));
    }));
    $("media-photos").replaceChildren(...m.photos.map((p) => el("a", { href: p.url, target: "_blank", rel: "noopener" },
      el("img", { src: p.thumb_url, alt: tr("media.photo_alt", { who: p.uploaded_by, when: clock(p.uploaded_at) }),
        class: "media-thumb", loading: "lazy", "data-testid": "photo" }))));
    $("media-note").textContent = m.photo_missing && working ? tr("media.required") : "";
    $("photo-add").hidden = !working;
    $("media").hidden = !(m.camera.length || m.photos.length || working);
  }

  $("photo-file").addEventListener("change", async () => {
    const file = $("photo-file").files[0];
    const id = state.selected;
    $("photo-file").value = "";
    if (!file || id === null) return;
    $("action-error").textContent = "";
    $("media-note").textContent = tr("media.uploading");
    try {
      await api(`/tickets/${id}/photos`, {
        method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" },
        timeoutMs: UPLOAD_TIMEOUT_MS,
      });
    } catch (e) {
      if (e.status === 401) return showLogin();
      $("media-note").textContent = "";
      $("action-error").textContent = e.message; // too large, not a picture, unreadable: the server says which
      return;
    }
    if (state.selected !== id) return;
    await loadDetail(id); // the timeline records it
    await loadMedia(id);
  });

  // "Away confirmed" of the open ticket's lone elderly household: whether it is away, until when, why and who
  // recorded it; recorded (until a time on the street's clocks, with a reason) or ended early from here. The
  // server bounds it (care.away_max_days) and audits it, and says in the reader's language why it refuses one.
  const awayUrl = (t) => `/households/${encodeURIComponent(t.household_id)}/away`;
  async function loadAway(id) {
    const t = state.detail;
    if (!t || t.id !== id || !t.household_id || !(t.household && t.household.watched)) return;
    let a;
    try {
      a = await api(awayUrl(t));
    } catch (e) {
      if (e.status === 401) return showLogin();
      return; // no rule engine in this service (503), or the household is not in the reader's scope
    }
    if (state.selected !== id) return;
    state.away = Object.assign(a, { ticket: id });
    renderAway();
  }

  function renderAway() {
    const a = state.away, t = state.detail;
    if (!a || !t || a.ticket !== t.id) return;
    const on = a.away;
    const said = on
      ? [tr("away.on", { until: streetClock(on.until), reason: on.reason, by: on.set_by, at: streetClock(on.set_at) })]
      : a.registry_until ? [] : [tr("away.off")];
    // the registry's away (an operator's import): the rules respect it too, so the board must not say "watched";
    // unless water use ended it in the rules (`away_ends_on_use`): then when, and the meter's reading that showed it
    if (a.registry_until) {
      const until = streetClock(a.registry_until), end = a.registry_ended;
      const reason = a.registry_reason;
      if (end) {
        const words = {
          until, reason, used: streetClock(end.used_at), read: streetClock(end.read_at === null ? end.used_at : end.read_at),
          // the meter by its id and label, or by its kind when it has no label ("水表 WM-…")
          meter: end.device_label ? `${end.device_id}（${end.device_label}）`
            : `${named("device_class", "water_meter")} ${end.device_id || "—"}`,
        };
        said.push(tr(reason ? "away.registry_ended_reason" : "away.registry_ended", words));
      } else {
        said.push(reason ? tr("away.registry_reason", { until, reason }) : tr("away.registry", { until }));
      }
    }
    $("away-state").textContent = said.join(" ");
    $("away-end").hidden = !on;
    $("away").hidden = false;
  }

  async function changeAway(opts) {
    const t = state.detail;
    if (!t) return;
    $("away-error").textContent = "";
    try {
      await api(awayUrl(t), opts);
    } catch (e) {
      if (e.status === 401) return showLogin();
      $("away-error").textContent = e.message; // too long, in the past, no reason: the server says which
      if (e.status === 409) await loadAway(t.id); // already ended (by water use, or by someone else)
      return;
    }
    $("away-reason").value = "";
    await loadAway(t.id);
    await loadDetail(t.id); // an away clears the open no-water alert
  }

  $("away-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const typed = $("away-until").value;
    const until = fromInput(typed);
    // an unreadable time goes as typed: the server names what is wrong with it
    changeAway({ json: { until: until === null ? typed : new Date(until * 1000).toISOString(), reason: $("away-reason").value } });
  });
  $("away-end").addEventListener("click", () => changeAway({ method: "DELETE" }));

  // The open ticket's evidence chart (water use against the household's routine, or the device's values):
  // fetched when the ticket opens, not on each of its changes.
  async function loadEvidence(id) {
    const box = $("evidence");
    let ev;
    try {
      ev = await api(`/tickets/${id}/evidence`);
    } catch (e) {
      if (e.status === 401) return showLogin();
      if (state.selected !== id) return;
      box.replaceChildren(el("h3", {}, tr("evidence")), el("p", { class: "chart-caption" }, e.message));
      box.hidden = false;
      return;
    }
    if (state.selected !== id || ev.kind === "none") return;
    box.hidden = false;
    box.replaceChildren(
      el("h3", {}, tr(ev.kind === "water_use" ? "evidence_water" : "evidence_readings")),
      ...window.cwatchChart.evidence(ev, box.clientWidth));
  }

  // `how`: "click" adds a history entry, "address" leaves the address alone, else the entry is replaced
  function closeDetail(how) {
    state.selected = null;
    state.detail = null;
    $("detail").hidden = true;
    document.querySelector(".layout").classList.remove("with-detail");
    if (how !== "address") writeAddress(how === "click");
    renderList();
  }
  $("detail-close").addEventListener("click", () => closeDetail("click"));

  async function loadDetail(id) {
    let d;
    try {
      d = await api(`/tickets/${id}`);
    } catch (e) {
      // gone, or outside the viewer's area (the same answer): say so rather than leave a link's reader guessing
      if (e.status === 404) { closeDetail(); $("list-error").textContent = e.message; return; }
      throw e;
    }
    if (state.selected !== id) return;
    state.detail = d;
    if (matchesFilters(d)) state.tickets.set(d.id, d);
    renderDetail(d);
  }

  function renderDetail(t) {
    $("detail").hidden = false;
    document.querySelector(".layout").classList.add("with-detail");
    const rows = [
      [tr("row.severity"), named("severity", t.severity)],
      [tr("row.status"), t.cleared ? tr("status_cleared", { status: named("status", t.status) }) : named("status", t.status)],
      [tr("row.where"), place(t)],
      [tr("row.rule"), t.rule_name || (t.members && t.members.length === 1 ? title(t.members[0].title, t.members[0].titles) : t.rule_id)],
      [tr("row.verification"), t.verifying ? tr("verifying_until", { when: clock(t.verify_until) })
        : t.verify_until ? tr("verifying_other_until", { when: clock(t.verify_until) }) : "—"],
      [tr("row.assignee"), t.assignee_name || t.assignee_id || tr("unassigned")],
      [tr("row.first_seen"), tr("first_seen", { clock: clock(t.first_seen), age: age(t.first_seen) })],
      [tr("row.last_seen"), tr("last_seen", { clock: clock(t.last_seen), n: t.count })],
      [tr("row.ack_due"), t.ack_due_at ? clock(t.ack_due_at) : "—"],
      [tr("row.resolve_due"), t.resolve_due_at ? clock(t.resolve_due_at) : "—"],
      [tr("row.escalation"), t.escalation_level ? tr("escalation_level", { n: t.escalation_level }) : "—"],
      [tr("row.overdue_since"), t.overdue_since
        ? tr(t.overdue_reason === "resolve" ? "overdue_resolve" : "overdue_ack", { clock: clock(t.overdue_since) })
        : "—"],
      [tr("row.rating"), t.rating ? "★".repeat(t.rating) + ` ${t.rating}/5` : "—"],
    ];
    const hh = t.household;
    if (hh) {
      rows.push([tr("row.household"), [hh.building_name, hh.unit].filter(Boolean).join(" ") + " · " +
        tr("floor", { n: hh.floor }) + (hh.watched ? " · " + tr("lone_elderly") : "")]);
    }
    if (t.members && t.members.length > 1) {
      rows.push([tr("row.conditions"), t.members.map((m) => `${title(m.title, m.titles) || m.rule_id}（${labelled("member.", m.state)}）`).join(tr("list_sep"))]);
    }
    const details = Object.entries(t.details || {}).map(([k, v]) => [detailLabel(k), detailValue(k, v)]);
    const dl = el("dl", {});
    for (const [k, v] of rows.concat(details)) dl.append(el("dt", {}, k), el("dd", {}, v));
    const contacts = hh && hh.contacts && hh.contacts.length
      ? el("div", { class: "contacts" }, el("b", {}, tr("contacts")),
        ...hh.contacts.map((c) => el("a", { href: "tel:" + c.phone, class: "contact", "data-testid": "contact" },
          [c.name, c.relation ? `（${c.relation}）` : "", c.phone ? " " + c.phone : ""].join(""))))
      : hh ? el("p", { class: "contacts", "data-testid": "no-contacts" }, tr("no_contacts")) : null;
    $("detail-body").replaceChildren(
      el("h2", { "data-testid": "detail-title" }, el("span", { class: `badge sev-${t.severity}` }, named("severity", t.severity)), " ",
        title(t.title, t.titles)),
      dl, ...(contacts ? [contacts] : []));
    const buttons = t.actions.map((a) => el("button", {
      type: "button", class: a === "ack" || a === "resolve" ? "primary" : "", "data-action": a,
      onclick: () => onAction(a),
    }, labelled("act.", a)));
    if (t.actions.includes("evaluate")) {
      buttons.push(el("button", { type: "button", "data-action": "feedback-link", onclick: makeFeedbackLink },
        tr("feedback_link")));
    }
    $("actions").replaceChildren(...buttons);
    renderMedia(); // a ticket no longer worked on takes no more photos
    $("timeline").replaceChildren(...t.timeline.slice().reverse().map((e) => el("li", { "data-testid": "event" },
      el("span", { class: "when" }, clock(e.at) + " · " + actorName(e)), " ",
      e.data && e.data.rating ? el("span", {}, "★".repeat(e.data.rating) + " ") : null,
      el("b", {}, labelled("act.", e.action)),
      e.actor === "system" && e.data && e.data.rule_id && e.action !== "raise" ? ` ${ruleName(t, e.data.rule_id)}` : "",
      e.data && e.data.severity && e.data.severity.from
        ? ` ${named("severity", e.data.severity.from)} → ${named("severity", e.data.severity.to)}` : "",
      e.to_status && e.from_status && e.to_status !== e.from_status
        ? ` ${named("status", e.from_status)} → ${named("status", e.to_status)}` : "",
      e.note ? el("span", { class: "note" }, systemNote(e)) : null)));
  }

  // The system's own notes (notices sent, escalations, reminders, a reopen or withdrawal, a one-tap link's) are
  // stored in both languages; the board says them in its own: by their code (`note_key`, its values and what
  // follows it) or from the event's data, else (a note stored before it had a code) the part of "中文 (English)"
  // in its language. Any other note is a person's and stays as written.
  function systemNote(e) {
    const d = e.data || {};
    if (d.note_key) {
      const key = d.note_key.replace(/^board\./, "");
      const values = {};
      for (const [k, v] of Object.entries(d.note_values || {})) values[k] = v && v.key ? tr(v.key.replace(/^board\./, "")) : v;
      const said = tr(key, values);
      if (said !== key) return said + (d.note_rest || "");
    }
    const own = e.actor === "resident" || (e.actor !== "system" && !e.actor.startsWith("family:") &&
      (d.via !== "link" || e.action === "resolve"));
    if (own) return e.note;
    if (e.actor !== "system") return oneLanguage(e.note);
    const who = d.name || d.recipient;
    const via = [d.channel, d.to].filter(Boolean).join(" ");
    const at = d.next_attempt_at ? clock(d.next_attempt_at) : "";
    if (who && e.action === "notified") return tr("tl.notified", { who, via });
    if (who && e.action === "notify_deferred") return tr("tl.notify_deferred", { who, at });
    if (who && e.action === "notify_failed") return tr("tl.notify_failed", { who, via, at, error: d.error || "" });
    if (who && e.action === "notify_gave_up") return tr("tl.notify_gave_up", { who, error: d.error || "" });
    if (e.action === "escalate" || e.action === "remind") {
      const key = `tl.${e.action}.${d.reason}`;
      const said = tr(key, { n: d.level });
      if (said !== key) return said;
    }
    return oneLanguage(e.note);
  }

  // "中文 (English)" and what follows (a reason, a person's words): the part in the board's language and the rest
  const BOTH_NOTE = /^([^]*?[\u3400-\u9fff\uff00-\uffef][^]*?) \(([^()]*[A-Za-z]{2}[^()]*)\)([^]*)$/;
  function oneLanguage(note) {
    const m = BOTH_NOTE.exec(String(note || ""));
    return m ? (I18N.lang === "en" ? m[2] : m[1]) + m[3] : note;
  }

  // Who did it, by name: a person's name (the server's `actor_name`), the family, the system or the resident.
  function actorName(e) {
    if (e.actor_name) return e.actor_name;
    if (e.actor === "system" || e.actor === "resident") return tr("actor." + e.actor);
    if (e.actor.startsWith("family:")) return tr("actor.family", { name: e.actor.slice(7) });
    return e.actor;
  }

  // A rule of ticket `t` by name (its own, or a member's title), else its id.
  function ruleName(t, id) {
    if (id === t.rule_id && t.rule_name) return t.rule_name;
    const m = (t.members || []).find((x) => x.rule_id === id && x.title);
    return m ? title(m.title, m.titles) : id;
  }

  // A rule's details (`pending_s`, `since`, the device's `volume_m3`...) with a label in the board's language
  // that names the unit, and a value people read: durations in words, times as clock times, yes/no; a field
  // without a label keeps its name.
  function detailLabel(key) {
    const label = tr("field." + key);
    return label === "field." + key ? key : label;
  }

  const VALUE_FIELDS = new Set(["event", "state", "method", "direction", "channel"]);
  function detailValue(key, v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "boolean") return tr(v ? "yes" : "no");
    if (key === "device_class") return named("device_class", v);
    if (typeof v === "string" && VALUE_FIELDS.has(key)) { // one of a few words the device sends: said in words
      const said = tr(`value.${key}.${v}`);
      if (said !== `value.${key}.${v}`) return said;
    }
    if (typeof v === "number" && /_s$/.test(key)) return duration(v);
    if (typeof v === "number" && v > 1e9 && /^(since|last_|deferred_from|confirmed_at|used_at|until|wait_ended_at)/.test(key)) return clock(v);
    if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(tr("list_sep"));
    return typeof v === "object" ? JSON.stringify(v) : v;
  }

  async function makeFeedbackLink() {
    try {
      const link = await api(`/tickets/${state.selected}/feedback-link`, { method: "POST" });
      $("action-error").textContent = tr("feedback_link_made", { url: location.origin + link.path });
      await loadDetail(state.selected);
    } catch (e) {
      $("action-error").textContent = e.message;
    }
  }

  function closeNoteForm() {
    state.pending = null;
    $("note-form").hidden = true;
    $("note").value = "";
  }
  $("note-cancel").addEventListener("click", closeNoteForm);

  function onAction(action) {
    $("action-error").textContent = "";
    if (action === "assign" || action === "evaluate" || NEEDS_NOTE[action]) {
      state.pending = action;
      $("note-form").hidden = false;
      $("note-label").textContent = tr(action === "resolve" ? "note_resolve"
        : action === "assign" ? "note_assign" : action === "evaluate" ? "note_evaluate" : "note");
      $("rating").hidden = action !== "evaluate";
      const sel = $("assignee");
      sel.hidden = action !== "assign";
      if (action === "assign") {
        sel.replaceChildren(...(state.detail.candidates || []).map((p) =>
          el("option", { value: p.id }, tr("person_role", { name: p.name, role: named("role", p.role) }))));
      }
      $("note").focus();
      return;
    }
    return send(action, {});
  }

  $("note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { note: $("note").value };
    if (state.pending === "assign") body.assignee_id = $("assignee").value;
    if (state.pending === "evaluate") body.rating = Number($("rating").value);
    await send(state.pending, body);
  });

  async function send(action, body) {
    const id = state.selected;
    try {
      const t = await api(`/tickets/${id}/${action}`, { json: body });
      $("action-error").textContent = ""; // a refusal shown before this success is over
      closeNoteForm();
      state.tickets.set(t.id, t);
      if (!matchesFilters(t)) state.tickets.delete(t.id);
      await loadDetail(id);
      renderList();
      refreshSummarySoon();
    } catch (e) {
      if (e.status === 401) return showLogin();
      $("action-error").textContent = e.message;
    }
  }

  // ---- live updates --------------------------------------------------------------------------------------
  function setConn(mode) {
    const c = $("conn");
    c.className = "conn " + mode;
    c.title = tr(mode === "live" ? "live" : "polling");
    c.setAttribute("data-mode", mode);
  }

  function onChange(msg) {
    const t = msg.ticket;
    rememberMicrogrids([t]);
    const isNew = !state.tickets.has(t.id);
    if (matchesFilters(t)) state.tickets.set(t.id, t);
    else state.tickets.delete(t.id);
    renderSoon();
    if (isNew) fresh.add(t.id);
    // a new critical alarm (also while it is verified), and one confirmed or raised to critical
    const action = msg.event.action;
    if (t.severity === "critical" && (isNew ? ["raise", "verify"].includes(action)
      : action === "confirm" || (msg.event.data.severity && msg.event.data.severity.to === "critical"))) chime();
    if (state.selected === t.id) loadDetail(t.id).catch(() => null); // a failure shows in the banner
    refreshSummarySoon();
  }

  // A chime for new critical tickets on command-centre screens (off by default; the click that turns it on
  // is the user gesture browsers require before playing sound).
  let audio = null;
  function soundOn() { return localStorage.getItem("cwatch.sound") === "on"; }
  function showSound() {
    $("sound").textContent = tr(soundOn() ? "sound_on" : "sound_off");
    $("sound").setAttribute("aria-pressed", String(soundOn()));
  }
  $("sound").addEventListener("click", () => {
    localStorage.setItem("cwatch.sound", soundOn() ? "off" : "on");
    if (soundOn() && !audio && window.AudioContext) audio = new AudioContext();
    showSound();
  });
  showSound();
  let chimed = 0;
  function chime() {
    if (!soundOn() || !window.AudioContext || Date.now() - chimed < 2000) return; // one chime for a burst
    chimed = Date.now();
    audio = audio || new AudioContext();
    [0, 0.35].forEach((at) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, audio.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + at);
      osc.stop(audio.currentTime + at + 0.3);
    });
  }

  // ---- the connection: banner, stream reconnects, polling while the stream is away ------------------------
  // The stream sends a heartbeat every few seconds (`every_s`); a stream that misses them counts as lost, like
  // one that errs. Either part lost for longer than DOWN_GRACE_MS shows the banner with the last update's time.

  function updated(at) {
    link.lastUpdate = Math.max(link.lastUpdate || 0, at || Date.now());
  }

  function linkLost(part, since) {
    const key = part === "api" ? "apiDown" : "streamDown";
    if (link[key] === null) link[key] = since || Date.now();
    showLink();
  }

  function linkOk(part) {
    if (part === "api") {
      if (link.apiDown === null) return;
      link.apiDown = null;
      // the server answers again: reconnect the stream now instead of at the end of its backoff
      if (link.retryTimer !== null && state.me) { clearTimeout(link.retryTimer); connectStream(); }
    } else {
      link.streamDown = null;
    }
    showLink();
  }

  function showLink() {
    const now = Date.now();
    const since = link.apiDown !== null ? link.apiDown : link.streamDown;
    const down = state.me !== null && since !== null && now - since >= DOWN_GRACE_MS;
    const banner = $("link-banner");
    $("board-view").classList.toggle("stale", down);
    if (!down) {
      banner.hidden = true;
      return;
    }
    const what = tr(link.apiDown !== null ? "server_down" : "stream_down");
    const last = link.lastUpdate === null ? "—"
      : tr("seconds_ago", { clock: clock(link.lastUpdate / 1000), n: Math.round((now - link.lastUpdate) / 1000) });
    $("link-what").textContent = what;
    $("link-last").textContent = tr("last_update", { when: last });
    banner.setAttribute("data-part", link.apiDown !== null ? "api" : "stream");
    banner.hidden = false;
  }

  function startPolling() {
    if (state.pollTimer) return;
    setConn("polling");
    state.pollTimer = setInterval(refresh, POLL_MS);
    refresh(); // at once: it also tells whether the server itself is reachable
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  function startLive() {
    stopLive();
    state.safetyTimer = setInterval(refresh, SAFETY_POLL_MS); // other processes' changes, missed events
    if (!window.EventSource) return startPolling();
    link.attempts = 0;
    connectStream();
  }

  function connectStream() {
    closeStream();
    const src = new EventSource(API + "/stream");
    state.source = src;
    src.addEventListener("open", () => {
      const wasLost = link.streamDown !== null || link.attempts > 0;
      link.attempts = 0;
      link.lastBeat = Date.now();
      linkOk("stream");
      stopPolling();
      setConn("live");
      if (wasLost) refresh(); // changes made while the stream was away: reload everything
    });
    src.addEventListener("heartbeat", (ev) => {
      const beat = JSON.parse(ev.data);
      link.beatMs = beat.every_s * 1000;
      link.lastBeat = Date.now();
      updated(link.lastBeat);
    });
    src.addEventListener("ticket", (ev) => {
      link.lastBeat = Date.now();
      updated(link.lastBeat);
      onChange(JSON.parse(ev.data));
    });
    src.addEventListener("resync", () => refresh());
    src.addEventListener("error", () => streamLost(src));
  }

  // Close the stream and try again after a growing pause; poll meanwhile (which also notices the server's return).
  function streamLost(src, since) {
    if (src !== state.source) return;
    closeStream();
    linkLost("stream", since);
    startPolling();
    const base = BACKOFF_MS[Math.min(link.attempts, BACKOFF_MS.length - 1)];
    link.attempts += 1;
    link.retryTimer = setTimeout(() => { link.retryTimer = null; connectStream(); }, base * (0.8 + 0.4 * Math.random()));
  }

  function closeStream() {
    if (state.source) state.source.close();
    state.source = null;
    clearTimeout(link.retryTimer);
    link.retryTimer = null;
  }

  function stopLive() {
    closeStream();
    stopPolling();
    clearInterval(state.safetyTimer);
    state.safetyTimer = null;
    link.apiDown = link.streamDown = null;
    showLink();
  }

  // once a second: a stream that stopped sending heartbeats is lost; the banner's age moves on
  setInterval(() => {
    const src = state.source;
    if (src && src.readyState === EventSource.OPEN && Date.now() - link.lastBeat > link.beatMs * MISSED_BEATS + 1000) {
      streamLost(src, link.lastBeat); // silent since then: no grace on top of the missed heartbeats
    }
    showLink();
    tickCountdowns();
  }, 1000);

  setInterval(() => { if (state.me) renderList(); }, 30000); // keep ages fresh
  // Everything drawn from data again, in the language just chosen.
  function redraw() {
    showSound();
    for (const o of $("silence-duration").options) o.textContent = duration(Number(o.value));
    if ($("silence-days").childElementCount) weeklyDays();
    showLink();
    if (!state.me) return;
    showWho();
    if (state.summary) renderSummary(state.summary);
    if (state.silences) renderSilences(state.silences);
    $("silence-tz").textContent = zoneLabel();
    renderList();
    if (state.detail) {
      renderDetail(state.detail);
      loadEvidence(state.detail.id); // its captions and legend are drawn in the language too
      renderMedia();
      renderAway();
    }
    if (state.pending) onAction(state.pending);
  }

  function showWho() {
    const me = state.me;
    $("whoami").textContent = tr("who", { name: me.display_name, role: named("role", me.role), scope: me.scope_name || me.scope_id });
    $("whoami").title = `${me.username} · ${me.scope_id}`;
  }

  I18N.load(true).then(() => {
    redraw();
    return start();
  }).catch((e) => { $("login-error").textContent = e.message; showLogin(); });
})();
