// cwatch site plan: the buildings of the viewer's scope placed by their coordinates (buildings.csv lat/lon) as
// inline SVG, live incident markers by severity, and a drill-down from a building to its units. No map tiles
// unless the server names a tile template (an offline installation draws the plan alone); no library.
// Used by the board (index.html) and the wall (wall.html): `cwatchPlan.create(box, opts)` then `show(tickets)`.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const SEV_RANK = { critical: 0, major: 1, minor: 2, warning: 3, info: 4 };
  const { tr, named, title } = window.cwatchI18n; // texts in the page's language (i18n.js)
  const TILE = 256;

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function html(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  // a compound's name without the level's word ("丹桂苑微网格" reads 丹桂苑 on the plan, where the level is plain)
  const shortName = (name) => String(name).replace(/\s*(微网格|micro-?grid)$/i, "") || name;

  // Web Mercator in tile units at zoom `z` (what map tiles use; at a street's size it is as good as flat)
  function mercator(lat, lon, z) {
    const n = 2 ** z;
    const r = (lat * Math.PI) / 180;
    return [((lon + 180) / 360) * n, ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n];
  }

  // The worst severity and the count of active tickets per building (a household's ticket counts for its
  // building), and per household.
  function incidents(plan, tickets) {
    const buildingOf = new Map();
    for (const b of plan.buildings) for (const h of b.households) buildingOf.set(h, b.id);
    const byBuilding = new Map();
    const byHousehold = new Map();
    const add = (map, key, t) => {
      const cur = map.get(key) || { worst: t.severity, count: 0, tickets: [] };
      if (SEV_RANK[t.severity] < SEV_RANK[cur.worst]) cur.worst = t.severity;
      cur.count += 1;
      cur.tickets.push(t);
      map.set(key, cur);
    };
    for (const t of tickets) {
      if (!["open", "acknowledged", "in_progress"].includes(t.status)) continue;
      const b = t.building_id || (t.household_id && buildingOf.get(t.household_id));
      if (b) add(byBuilding, b, t);
      if (t.household_id) add(byHousehold, t.household_id, t);
    }
    return { byBuilding, byHousehold };
  }

  const TOUCH_PX = 44; // the least touch target, across

  // `opts`: api(path) -> promise of JSON; onTicket(id) when a ticket in the drill-down is chosen (omit: read-only);
  // width/height of the drawing in its own units; marker: the least radius of an incident marker; building: the
  // least and largest size of a building ([8, 28]); names: "microgrid" labels every micro-grid (else only while
  // there are at most 12). The buildings keep their true proportions: the plan is letterboxed in its box.
  function create(box, opts) {
    const W = opts.width || 800;
    const H = opts.height || 520;
    const [MIN_SIZE, MAX_SIZE] = opts.building || [8, 28];
    const PAD = opts.pad || 60; // room at the edges for the names
    let plan = null;
    let tickets = [];
    let open = null; // the building drilled into
    const drawing = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plan", role: "group",
      "aria-label": tr("plan.toggle") });
    const unplaced = html("div", { class: "plan-unplaced" });
    const drill = html("div", { class: "plan-drill", "data-testid": "plan-drill", hidden: true });
    box.replaceChildren(drawing, unplaced, drill);

    async function load() {
      plan = await opts.api("/siteplan");
      draw();
      return plan;
    }

    function place() {
      const placed = plan.buildings.filter((b) => b.lat !== null && b.lon !== null);
      if (!placed.length) return { placed, at: () => null, tiles: [], size: 10 };
      const lats = placed.map((b) => b.lat);
      const lons = placed.map((b) => b.lon);
      // the largest zoom at which the buildings fit (tiles are drawn at that zoom), then scaled to the box
      let z = 19;
      let lo;
      let hi;
      for (; z > 1; z--) {
        lo = mercator(Math.max(...lats), Math.min(...lons), z);
        hi = mercator(Math.min(...lats), Math.max(...lons), z);
        if ((hi[0] - lo[0]) * TILE <= W - PAD && (hi[1] - lo[1]) * TILE <= H - PAD) break;
      }
      const kx = (W - PAD) / Math.max((hi[0] - lo[0]) * TILE, 1e-9);
      const ky = (H - PAD) / Math.max((hi[1] - lo[1]) * TILE, 1e-9);
      const k = Math.min(kx, ky, 4);
      const scale = TILE * k; // the buildings' and the tiles' scale, the same both ways
      const ox = W / 2 - ((lo[0] + hi[0]) / 2) * scale;
      const oy = H / 2 - ((lo[1] + hi[1]) / 2) * scale;
      const cx = (lo[0] + hi[0]) / 2;
      const cy = (lo[1] + hi[1]) / 2;
      const at = (lat, lon) => {
        const [x, y] = mercator(lat, lon, z);
        return [W / 2 + (x - cx) * scale, H / 2 + (y - cy) * scale];
      };
      const tiles = [];
      if (plan.tile_url) {
        for (let tx = Math.floor(-ox / scale); tx * scale + ox < W; tx++) {
          for (let ty = Math.floor(-oy / scale); ty * scale + oy < H; ty++) {
            tiles.push(svg("image", { href: plan.tile_url.replace("{z}", z).replace("{x}", tx).replace("{y}", ty),
              x: ox + tx * scale, y: oy + ty * scale, width: scale, height: scale, class: "tile" }));
          }
        }
      }
      // buildings drawn as large as their spacing allows (a community's plan is sparser than a street's)
      let near = Infinity;
      const pts = placed.map((b) => at(b.lat, b.lon));
      for (let i = 0; i < pts.length && pts.length < 3000; i++) {
        for (let j = i + 1; j < pts.length; j++) {
          near = Math.min(near, Math.hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1]));
        }
      }
      const size = Math.max(MIN_SIZE, Math.min(MAX_SIZE, near * 0.55));
      return { placed, at, tiles, size };
    }

    function draw() {
      if (!plan) return;
      const { placed, at, tiles, size } = place();
      const inc = incidents(plan, tickets);
      const areaName = new Map(plan.areas.map((a) => [a.microgrid_id, a]));
      const layers = { tiles: svg("g", { class: "tiles" }, ...tiles), areas: svg("g", { class: "areas" }),
        buildings: svg("g", { class: "buildings" }), markers: svg("g", { class: "markers" }) };
      // community names at the middle of their buildings
      const byCommunity = new Map();
      for (const b of placed) {
        const a = areaName.get(b.microgrid_id);
        const key = (a && a.community_name) || "";
        if (!byCommunity.has(key)) byCommunity.set(key, []);
        byCommunity.get(key).push(at(b.lat, b.lon));
      }
      // and the micro-grids' (compounds') names below theirs, while few enough to read
      const byMicrogrid = new Map();
      for (const b of placed) {
        const a = areaName.get(b.microgrid_id);
        const key = a ? a.microgrid_name : b.microgrid_id;
        if (!byMicrogrid.has(key)) byMicrogrid.set(key, []);
        byMicrogrid.get(key).push(at(b.lat, b.lon));
      }
      // a name that would cover one already placed moves down a line (twice at most); widths are estimated
      // from the font size (`opts.fonts`: the CSS sizes of the community and micro-grid names)
      const taken = [];
      const [AREA_PX, MG_PX] = opts.fonts || [15, 12];
      const label = (name, pts, cls, dy) => {
        const cx = pts.reduce((s, p) => s + p[0], 0) / pts.length;
        const em = cls === "area-name" ? AREA_PX : MG_PX;
        const w = [...name].reduce((n, ch) => n + (ch.charCodeAt(0) > 0x2e80 ? 1 : 0.6), 0) * em;
        let y = dy < 0 ? Math.min(...pts.map((p) => p[1])) + dy : Math.max(...pts.map((p) => p[1])) + dy;
        const hits = (yy) => taken.some((b) => Math.abs(b.x - cx) < (b.w + w) / 2 && Math.abs(b.y - yy) < (b.em + em) / 2);
        for (let i = 0; i < 2 && hits(y); i++) y += em * 1.05;
        y = Math.min(H - 4, Math.max(16, y));
        taken.push({ x: cx, y, w, em });
        layers.areas.append(svg("text", { class: cls, x: cx, y, "text-anchor": "middle" }, name));
      };
      for (const [name, pts] of byCommunity) if (name) label(name, pts, "area-name", -size - 6);
      if (byMicrogrid.size <= 12 || opts.names === "microgrid") {
        // below the buildings and their markers
        const below = Math.max(size + 8, (opts.marker || 0) + MG_PX + 4);
        for (const [name, pts] of byMicrogrid) label(shortName(name), pts, "mg-name", below);
      }
      // each building answers a tap within 22 px of its centre, however small the plan draws it (a phone)
      const shown = drawing.getBoundingClientRect().width;
      const reach = Math.max(size * 0.6, TOUCH_PX / 2 * (shown ? W / shown : 1));
      for (const b of placed) {
        const [x, y] = at(b.lat, b.lon);
        const hit = inc.byBuilding.get(b.id);
        const a = areaName.get(b.microgrid_id);
        const label = `${b.name}${a ? "（" + a.microgrid_name + "）" : ""}` +
          (hit ? tr("plan.hit", { n: hit.count, worst: named("severity", hit.worst) }) : "");
        const g = svg("g", { class: "building" + (open === b.id ? " open" : ""), "data-id": b.id, tabindex: 0,
          role: "button", "aria-label": label, "data-testid": "plan-building" },
        svg("title", {}, label),
        svg("circle", { class: "reach", cx: x, cy: y, r: reach }),
        svg("rect", { x: x - size / 2, y: y - size * 0.4, width: size, height: size * 0.8, rx: 1.5 }));
        g.addEventListener("click", () => drillInto(b.id));
        g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); drillInto(b.id); } });
        layers.buildings.append(g);
        if (hit) {
          layers.markers.append(svg("circle", { class: `incident sev-${hit.worst}`, cx: x, cy: y,
            r: Math.max(opts.marker || 0, size * 0.6) + Math.min(8, 2 * Math.sqrt(hit.count)), "data-testid": "plan-marker", "data-building": b.id,
            "data-severity": hit.worst, "data-count": hit.count }));
        }
      }
      // names over the buildings (a halo keeps them readable where a building is under them), under the markers
      drawing.replaceChildren(layers.tiles, layers.buildings, layers.areas, layers.markers);
      drawing.setAttribute("data-placed", String(placed.length));
      const rest = plan.buildings.filter((b) => b.lat === null || b.lon === null);
      unplaced.hidden = rest.length === 0;
      unplaced.replaceChildren(html("span", { class: "muted" }, tr("plan.unplaced", { n: rest.length })),
        ...rest.slice(0, 60).map((b) => {
          const hit = inc.byBuilding.get(b.id);
          return html("button", { type: "button", class: "chip" + (hit ? ` sev-${hit.worst}` : ""),
            onclick: () => drillInto(b.id) }, b.name + (hit ? ` · ${hit.count}` : ""));
        }));
      if (open) drawDrill();
    }

    let units = null;
    async function drillInto(id) {
      open = id;
      units = null;
      draw();
      try {
        units = await opts.api(`/siteplan/buildings/${encodeURIComponent(id)}`);
      } catch (e) {
        drill.replaceChildren(html("p", { class: "error" }, e.message));
        return;
      }
      if (open === id) drawDrill();
    }

    function drawDrill() {
      drill.hidden = false;
      if (!units || units.id !== open) {
        drill.replaceChildren(html("p", { class: "muted" }, "…"));
        return;
      }
      const inc = incidents(plan, tickets);
      const here = inc.byBuilding.get(open);
      const floors = new Map();
      for (const u of units.units) {
        if (!floors.has(u.floor)) floors.set(u.floor, []);
        floors.get(u.floor).push(u);
      }
      const rows = [...floors.entries()].map(([floor, us]) => html("div", { class: "floor" },
        html("span", { class: "floor-no" }, `${floor}F`),
        ...us.map((u) => {
          const hit = inc.byHousehold.get(u.household_id);
          return html("span", { class: "unit" + (hit ? ` sev-${hit.worst}` : "") + (u.lone_elderly ? " elderly" : ""),
            "data-testid": "plan-unit", "data-id": u.household_id,
            title: u.unit + (u.lone_elderly ? " " + tr("lone_elderly") : "") + (hit ? " · " + tr("plan.tickets", { n: hit.count }) : "") },
          u.unit.split("-").pop(), u.lone_elderly ? " ◆" : "");
        })));
      const list = here ? here.tickets.slice().sort((a, b) => SEV_RANK[a.severity] - SEV_RANK[b.severity]).map((t) => {
        const text = `${named("severity", t.severity)} ${title(t.title, t.titles)}${t.household_unit ? " · " + t.household_unit : ""}`;
        return html("li", { class: `sev-${t.severity}` }, opts.onTicket
          ? html("button", { type: "button", class: "link", onclick: () => opts.onTicket(t.id) }, text) : text);
      }) : [];
      drill.replaceChildren(
        html("div", { class: "drill-head" },
          html("b", { "data-testid": "plan-drill-title" }, tr("plan.building", { name: units.name, floors: units.floors, units: units.units.length })),
          html("button", { type: "button", class: "link", "aria-label": tr("close"), onclick: () => {
            open = null; drill.hidden = true; draw();
          } }, "×")),
        list.length ? html("ul", { class: "drill-tickets" }, ...list) : html("p", { class: "muted" }, tr("plan.none_active")),
        html("div", { class: "floors", "aria-label": tr("plan.units") }, ...rows),
        html("p", { class: "muted legend" }, "◆ " + tr("lone_elderly")));
    }

    return {
      load,
      show(next) { tickets = next; draw(); },
      drillInto,
    };
  }

  window.cwatchPlan = { create, incidents };
})();
