/* shieldwall dashboard: vanilla JS, no build step, talks only to this control plane. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const KEY = "shieldwall.token";
  const S = { token: sessionStorage.getItem(KEY) || "", zones: [], zone: null, range: 3600,
              chart: null, lastEvent: null, streamGen: 0, timer: null, rules: [] };

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid != null) e.append(kid);
    return e;
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + S.token } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    let data = null;
    const ct = r.headers.get("content-type") || "";
    if (ct.includes("json")) data = await r.json(); else data = await r.text();
    if (r.status === 401) { logout("Your session expired or the token is invalid."); }
    return { status: r.status, ok: r.ok, data };
  }

  function problemText(d) {
    if (!d || typeof d !== "object") return String(d || "request failed");
    let s = d.detail || d.title || "request failed";
    if (Array.isArray(d.errors) && d.errors.length)
      s += "\n" + d.errors.map((e) => (e.path ? e.path + ": " : "") + e.reason).join("\n");
    return s;
  }

  function fmt(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return String(n);
  }
  function bytes(n) {
    const u = ["B", "KB", "MB", "GB", "TB"]; let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function setMsg(id, text, kind) { const m = $(id); m.textContent = text; m.className = "msg " + kind; }

  // -- login ---------------------------------------------------------------------------------
  function showLogin(err) {
    $("app").hidden = true; $("logout").hidden = true; $("login").hidden = false;
    $("who").textContent = ""; $("login-error").textContent = err || "";
  }
  function logout(why) {
    sessionStorage.removeItem(KEY); S.token = ""; S.streamGen++;
    if (S.timer) clearInterval(S.timer);
    showLogin(why);
  }
  async function login(token) {
    S.token = token;
    const r = await api("GET", "/api/v1/tokens/self");
    if (!r.ok) { showLogin(r.status === 401 ? "That token was not accepted." : problemText(r.data)); return; }
    sessionStorage.setItem(KEY, token);
    const t = r.data.token || r.data;
    $("who").textContent = (t.name || t.id || "token") + (t.read_only ? " · read-only" : "");
    $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
    await loadZones();
  }

  // -- zones ---------------------------------------------------------------------------------
  async function loadZones() {
    const r = await api("GET", "/api/v1/zones");
    if (!r.ok) return;
    S.zones = r.data.zones || [];
    const ul = $("zone-list"); ul.replaceChildren();
    for (const z of S.zones) {
      ul.append(el("li", { class: z.name === S.zone ? "on" : "", "data-zone": z.name,
                           onclick: () => selectZone(z.name) },
        el("span", { text: z.name }),
        el("span", { class: "badge " + z.security_level, text: z.security_level })));
    }
    if (!S.zone && S.zones.length) selectZone(S.zones[0].name);
  }

  function selectZone(name) {
    S.zone = name; S.lastEvent = null;
    for (const li of $("zone-list").children) li.classList.toggle("on", li.dataset.zone === name);
    const z = S.zones.find((x) => x.name === name) || {};
    $("zone-name").textContent = name;
    $("zone-hosts").textContent = (z.hosts || []).join(", ");
    $("level").value = z.security_level || "off";
    updateAttackButton(z.security_level);
    $("events").replaceChildren(); setMsg("purge-msg", "", ""); setMsg("level-msg", "", "");
    refresh(); loadRules(); stream();
    if (S.timer) clearInterval(S.timer);
    S.timer = setInterval(refresh, 5000);
  }

  function updateAttackButton(level) {
    const b = $("attack"); const on = level === "under_attack";
    b.textContent = on ? "Turn off attack mode" : "I'm under attack";
    b.classList.toggle("on", on);
  }

  // -- analytics -----------------------------------------------------------------------------
  async function refresh() {
    const zone = S.zone; if (!zone) return;
    const now = Date.now() / 1000;
    const r = await api("GET", `/api/v1/zones/${encodeURIComponent(zone)}/analytics?since=${Math.floor(now - S.range)}&until=${Math.ceil(now)}`);
    if (!r.ok || zone !== S.zone) return;
    renderStats(r.data.totals);
    renderChart(r.data, now);
    renderTops(r.data.top);
  }

  function renderStats(t) {
    const cached = t.requests ? Math.round((100 * t.cached) / t.requests) : 0;
    const items = [["Requests", fmt(t.requests)], ["Cached", cached + "%"],
      ["Blocked", fmt(t.blocked)], ["Challenged", fmt(t.challenged)],
      ["Origin errors", fmt(t.origin_errors)], ["Bandwidth", bytes(t.bytes_out)]];
    $("stats").replaceChildren(...items.map(([k, v]) =>
      el("div", { class: "stat", "data-stat": k }, el("div", { class: "v", text: v }),
         el("div", { class: "k", text: k }))));
  }

  function renderChart(data, now) {
    const step = 60, end = Math.floor(now / step) * step, start = end - S.range + step;
    const by = new Map(data.series.map((r) => [r.time, r]));
    const xs = [], total = [], cached = [], blocked = [], challenged = [];
    for (let t = start; t <= end; t += step) {
      const r = by.get(t) || {};
      xs.push(t); total.push(r.requests || 0); cached.push(r.cached || 0);
      blocked.push(r.blocked || 0); challenged.push(r.challenged || 0);
    }
    const d = [xs, total, cached, blocked, challenged];
    const box = $("chart");
    const width = Math.max(300, box.clientWidth - 4);
    if (S.chart && S.chart._range === S.range) { S.chart.setData(d); return; }
    if (S.chart) S.chart.destroy();
    const line = (label, stroke, fill) => ({ label, stroke, width: 2, fill,
      points: { show: false }, value: (u, v) => v == null ? "-" : fmt(v) });
    S.chart = new uPlot({
      width, height: 260, cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (u, lo, hi) => [0, Math.max(5, hi * 1.15)] } },
      axes: [{ stroke: "#8b9bab", grid: { stroke: "#1f2935" }, ticks: { stroke: "#263241" } },
             { stroke: "#8b9bab", grid: { stroke: "#1f2935" }, ticks: { stroke: "#263241" },
               values: (u, vals) => vals.map(fmt), size: 50 }],
      series: [{}, line("Total", "#4ea1ff", "rgba(78,161,255,0.12)"),
               line("Cached", "#3fb950"), line("Blocked", "#f85149"),
               line("Challenged", "#d29922")],
    }, d, box);
    S.chart._range = S.range;
  }

  const TOPS = [["path", "Top paths"], ["ip", "Top client IPs"], ["country", "Top countries"],
                ["asn", "Top ASNs"], ["ua", "Top user agents"], ["ja4", "Top JA4 fingerprints"]];
  function renderTops(top) {
    $("tops").replaceChildren(...TOPS.map(([dim, title]) => {
      const rows = (top[dim] || []).slice(0, 10);
      const body = rows.length ? rows.map(([k, n]) => el("tr", {},
          el("td", { class: "key", title: k, text: k }), el("td", { class: "n", text: fmt(n) })))
        : [el("tr", {}, el("td", { class: "empty", colspan: "2", text: "no data yet" }))];
      return el("div", { class: "card", "data-top": dim }, el("h2", { text: title }),
        el("table", {}, el("tbody", {}, ...body)));
    }));
  }

  // -- live events (SSE over fetch: the bearer token cannot ride on EventSource) -------------
  function parseSSE(text) {
    const out = []; let last = null;
    for (const block of text.split("\n\n")) {
      let id = null, data = null;
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) id = line.slice(4);
        else if (line.startsWith("data: ")) data = line.slice(6);
      }
      if (id !== null) last = id;
      if (data) out.push(JSON.parse(data));
    }
    return { events: out, last };
  }

  async function stream() {
    const gen = ++S.streamGen; const zone = S.zone;
    // first the recent history, then follow the live feed
    const hist = await api("GET", `/api/v1/events?zone=${encodeURIComponent(zone)}&limit=50`);
    if (gen !== S.streamGen) return;
    if (hist.ok) {
      hist.data.events.slice().reverse().forEach(addEvent);
      S.lastEvent = hist.data.events.length ? hist.data.events[0].id : null;
      const n = hist.data.unsampled;
      $("events-note").textContent = n ? `${fmt(n)} decisions counted but not sampled` : "";
    }
    while (gen === S.streamGen && S.token) {
      try {
        const headers = { Authorization: "Bearer " + S.token };
        if (S.lastEvent !== null) headers["Last-Event-ID"] = String(S.lastEvent);
        const r = await fetch(`/api/v1/events/stream?zone=${encodeURIComponent(zone)}`, { headers });
        if (gen !== S.streamGen) return;
        if (!r.ok) { await new Promise((res) => setTimeout(res, 3000)); continue; }
        const { events, last } = parseSSE(await r.text());
        events.forEach(addEvent);
        if (last !== null) S.lastEvent = last;
      } catch (e) { await new Promise((res) => setTimeout(res, 3000)); }
    }
  }

  function addEvent(e) {
    const tb = $("events");
    const t = new Date(e.time * 1000).toLocaleTimeString();
    tb.prepend(el("tr", { "data-action": e.action },
      el("td", { text: t }), el("td", {}, el("span", { class: "badge " + e.action, text: e.action })),
      el("td", { text: e.rule || "—" }), el("td", { class: "reason", text: e.reason || "—" }),
      el("td", { text: e.ip }), el("td", { class: "key", title: e.path, text: `${e.method} ${e.path}` }),
      el("td", { class: "key", text: e.ja4 || "—" })));
    while (tb.children.length > 200) tb.lastChild.remove();
  }

  // -- controls ------------------------------------------------------------------------------
  async function setLevel(level) {
    const z = S.zone;
    const r = await api("PATCH", `/api/v1/zones/${encodeURIComponent(z)}/settings/security`, { level });
    if (r.ok) { setMsg("level-msg", `Security level is now ${level}.`, "ok"); await afterLevel(level); }
    else setMsg("level-msg", problemText(r.data), "bad");
  }
  async function toggleAttack() {
    const z = S.zone; const cur = (S.zones.find((x) => x.name === z) || {}).security_level;
    const enabled = cur !== "under_attack";
    const r = await api("POST", `/api/v1/zones/${encodeURIComponent(z)}/attack-mode`, { enabled });
    if (r.ok) {
      setMsg("level-msg", enabled ? "Under attack mode is ON: every visitor without clearance gets a challenge."
                                  : "Under attack mode is off.", enabled ? "info" : "ok");
      await afterLevel(enabled ? "under_attack" : null);
    } else setMsg("level-msg", problemText(r.data), "bad");
  }
  async function afterLevel(level) {
    await loadZones();
    const z = S.zones.find((x) => x.name === S.zone) || {};
    $("level").value = z.security_level || level || "off";
    updateAttackButton(z.security_level);
  }
  async function purge(ev) {
    ev.preventDefault();
    const url = $("purge-url").value.trim(); if (!url) return;
    // "/path": that path on every exact host of the zone, both schemes
    const z = S.zones.find((x) => x.name === S.zone) || {};
    const hosts = (z.hosts || []).filter((h) => !h.startsWith("*."));
    const urls = url.startsWith("/")
      ? hosts.flatMap((h) => [`http://${h}${url}`, `https://${h}${url}`]) : [url];
    if (!urls.length) { setMsg("purge-msg", "This zone has no exact host: give a full URL.", "bad"); return; }
    const r = await api("POST", `/api/v1/zones/${encodeURIComponent(S.zone)}/purge`, { urls });
    if (r.ok) {
      const w = r.data.workers || [];
      setMsg("purge-msg", `Purged ${url}: ${r.data.purged} cached objects removed on ${w.length} workers (purge ${r.data.id}).`, "ok");
    } else if (r.status === 501) setMsg("purge-msg", problemText(r.data), "info");
    else setMsg("purge-msg", problemText(r.data), "bad");
  }

  // -- firewall rules (errors shown inline, straight from the real compiler) -----------------
  async function loadRules() {
    const r = await api("GET", `/api/v1/zones/${encodeURIComponent(S.zone)}/firewall-rules`);
    const box = $("rules"); box.replaceChildren();
    if (!r.ok) { box.append(el("p", { class: "muted", text: problemText(r.data) })); return; }
    const items = r.data["firewall-rules"] || r.data.items || [];
    if (!items.length) box.append(el("p", { class: "muted", id: "rules-empty", text: "No custom rules yet." }));
    items.forEach((it) => box.append(ruleEditor(it, false)));
  }
  function ruleEditor(rule, isNew) {
    const id = el("input", { value: rule.id || "", placeholder: "rule id", class: "rule-id" });
    if (!isNew) id.disabled = true;
    const action = el("select", { class: "rule-action" },
      ...["block", "challenge", "js_challenge", "allow", "log"].map((a) => el("option", { value: a, text: a })));
    action.value = rule.action || "block";
    const expr = el("textarea", { rows: "2", class: "rule-expr", placeholder: 'http.request.uri.path eq "/admin"' });
    expr.value = rule.expression || "";
    const err = el("pre", { class: "error", hidden: "" });
    const msg = el("span", { class: "muted" });
    const save = el("button", { text: isNew ? "Create" : "Save", class: "rule-save", onclick: async () => {
      const body = Object.assign({}, rule, { id: id.value.trim(), action: action.value, expression: expr.value });
      const base = `/api/v1/zones/${encodeURIComponent(S.zone)}/firewall-rules`;
      const r = isNew ? await api("POST", base, body)
                      : await api("PUT", `${base}/${encodeURIComponent(body.id)}`, body);
      if (r.ok) { err.hidden = true; msg.textContent = "saved"; if (isNew) loadRules(); }
      else { err.hidden = false; err.textContent = problemText(r.data); msg.textContent = ""; }
    } });
    return el("div", { class: "rule" }, el("div", { class: "row" }, id, action, save, msg), expr, err);
  }

  // -- wiring --------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
    $("logout").addEventListener("click", () => logout(""));
    $("level-save").addEventListener("click", () => setLevel($("level").value));
    $("attack").addEventListener("click", toggleAttack);
    $("purge-form").addEventListener("submit", purge);
    $("rule-add").addEventListener("click", () => {
      const e = $("rules-empty"); if (e) e.remove();
      $("rules").prepend(ruleEditor({ action: "block" }, true));
    });
    for (const b of $("range").querySelectorAll("button")) b.addEventListener("click", () => {
      for (const o of $("range").querySelectorAll("button")) o.classList.toggle("on", o === b);
      S.range = Number(b.dataset.range); refresh();
    });
    window.addEventListener("resize", () => { if (S.chart) S.chart.setSize({ width: Math.max(300, $("chart").clientWidth - 4), height: 260 }); });
    if (S.token) login(S.token); else showLogin("");
  });
})();
