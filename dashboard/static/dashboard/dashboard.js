/* codeQ dashboard behaviour, plain JS: the tenant switcher, the live overview, countdowns and human times,
   and the live pages (a task's status, the leases list, queue and DLQ counts), patched in place so focus
   and a text selection survive an update.
   formatDuration, relative and sparkline mirror dashboard/templatetags/dashboard.py; keep them in step. */
"use strict";
document.documentElement.classList.add("js");

const SPARK_WIDTH = 180;
const SPARK_HEIGHT = 28;

function formatDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  let s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  let m = Math.floor(s / 60); s %= 60;
  if (m < 60) return `${m} m ${s} s`;
  let h = Math.floor(m / 60); m %= 60;
  if (h < 24) return `${h} h ${m} m`;
  const d = Math.floor(h / 24); h %= 24;
  return `${d} d ${h} h`;
}

function relative(ms, now) {
  const delta = ms - now;
  if (Math.abs(delta) < 1000) return "just now";
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

const intcomma = (n) => Number(n).toLocaleString("en-US");

/* The server's clock minus this browser's, from the page's data-server-now-ms (0 without one). */
function serverOffset() {
  const node = document.querySelector("[data-server-now-ms]");
  return node ? Number(node.dataset.serverNowMs) - Date.now() : 0;
}

function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

function formatTime(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

function bars(bases, values, top) {
  const width = SPARK_WIDTH / values.length;
  const scale = (SPARK_HEIGHT - 1) / top;
  return values.map((v, i) => {
    if (!v) return "";
    const bottom = (SPARK_HEIGHT - bases[i] * scale).toFixed(1);
    return `M${(i * width).toFixed(1)},${bottom}V${(SPARK_HEIGHT - (bases[i] + v) * scale).toFixed(1)}` +
      `h${(width * 0.8).toFixed(1)}V${bottom}Z`;
  }).join("");
}

function sparkline(completed, failed) {
  const ns = "http://www.w3.org/2000/svg";
  const totals = completed.map((c, i) => c + failed[i]);
  const busiest = Math.max(0, ...totals);
  const top = Math.max(busiest, 1);
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const label = `Last hour: ${sum(completed)} completed, ${sum(failed)} failed; busiest minute ${busiest}`;
  const make = (tag, attrs) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  const svg = make("svg", { class: "spark", viewBox: `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`, width: SPARK_WIDTH,
    height: SPARK_HEIGHT, role: "img", "aria-label": label });
  const title = make("title", {});
  title.textContent = label;
  svg.append(
    title,
    make("line", { class: "spark-axis", x1: 0, y1: SPARK_HEIGHT - 0.5, x2: SPARK_WIDTH, y2: SPARK_HEIGHT - 0.5 }),
    make("path", { class: "spark-ok", d: bars(completed.map(() => 0), completed, top) }),
    make("path", { class: "spark-bad", d: bars(completed, failed, top) }),
  );
  return svg;
}

function commandRow(c, dlqBase, queuesBase) {
  const prios = el("td", { class: "prios" });
  for (let p = 9; p >= 0; p--) {
    const n = c.ready_by_priority[p];
    if (n) prios.append(el("span", { class: "chip", title: `priority ${p}` }, [`p${p} ${n}`]));
  }
  const dlq = el("td", { class: "num" });
  if (c.dlq) {
    dlq.append(el("a", { class: "badge badge-bad", href: `${dlqBase}${encodeURIComponent(c.command)}/` }, [String(c.dlq)]));
  } else {
    dlq.append("0");
  }
  return el("tr", { "data-command": c.command }, [
    el("th", { scope: "row", class: "mono" }, [el("a", { href: `${queuesBase}${encodeURIComponent(c.command)}/` }, [c.command])]),
    el("td", { class: "num" }, [String(c.ready)]),
    prios,
    el("td", { class: "num" }, [String(c.delayed)]),
    el("td", { class: "num" }, [String(c.in_flight)]),
    dlq,
    el("td", { class: "num" }, [formatDuration(c.oldest_ready_age_ms)]),
    el("td", { class: "trend" }, [sparkline(c.completed, c.failed)]),
  ]);
}

/* Make ``node`` look like ``wanted`` while keeping every node that is already right, so keyboard focus and
   a text selection inside an unchanged part survive an update. Generic over any cells a row has. */
function patch(node, wanted) {
  if (node.nodeType !== wanted.nodeType || node.nodeName !== wanted.nodeName) {
    node.replaceWith(wanted);
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) {
    if (node.nodeValue !== wanted.nodeValue) node.nodeValue = wanted.nodeValue;
    return;
  }
  for (const { name } of [...node.attributes]) {
    if (!wanted.hasAttribute(name)) node.removeAttribute(name);
  }
  for (const { name, value } of wanted.attributes) {
    if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }
  const want = [...wanted.childNodes];
  const have = [...node.childNodes];
  want.forEach((child, i) => (i < have.length ? patch(have[i], child) : node.append(child)));
  for (const extra of have.slice(want.length)) extra.remove();
}

/* Drop the template's whitespace between elements, so server-rendered rows compare node for node with built ones. */
function compact(node) {
  for (const child of [...node.childNodes]) {
    if (child.nodeType === Node.TEXT_NODE && !child.nodeValue.trim()) child.remove();
    else if (child.nodeType === Node.ELEMENT_NODE) compact(child);
  }
}

/* Rows keyed by their command (the empty table's one row by none): existing rows are patched in place,
   new ones inserted where they belong, gone ones removed. */
function patchRows(body, rows) {
  const key = (row) => row.dataset.command ?? "";
  const existing = new Map([...body.children].map((row) => [key(row), row]));
  let before = body.firstElementChild;
  for (const row of rows) {
    const current = existing.get(key(row));
    existing.delete(key(row));
    if (current) {
      patch(current, row);
      if (current !== before) body.insertBefore(current, before);
      before = current.nextElementSibling;
    } else {
      body.insertBefore(row, before);
    }
  }
  for (const gone of existing.values()) gone.remove();
}

function renderSnapshot(root, snap) {
  for (const node of root.querySelectorAll("[data-total]")) {
    const value = snap.totals[node.dataset.total];
    node.textContent = node.dataset.format === "duration" ? formatDuration(value) : String(value);
  }
  for (const card of root.querySelectorAll("[data-bad-if-total]")) {
    card.classList.toggle("stat-bad", snap.totals[card.dataset.badIfTotal] > 0);
  }
  const dlqBase = root.dataset.dlq;
  const rows = snap.commands.length
    ? snap.commands.map((c) => commandRow(c, dlqBase, root.dataset.queues))
    : [el("tr", { class: "none" }, [el("td", { colspan: "8", class: "empty" },
      ["No tasks yet. Commands appear here once a producer enqueues the first task."])])];
  patchRows(root.querySelector("[data-commands]"), rows);
  const truncated = root.querySelector("[data-truncated]");
  truncated.hidden = snap.command_count <= snap.commands.length;
  truncated.querySelector("[data-shown]").textContent = String(snap.commands.length);
  truncated.querySelector("[data-count]").textContent = String(snap.command_count);
  root.querySelector("[data-updated]").textContent = `updated ${formatTime(snap.at_ms)}`;
}

/* Why the server ended the stream for good (dashboard/consumers.py): the page says so and stops. */
const ENDED = {
  4401: "Not live: you are signed out. Log in again to follow this tenant.",
  4403: "Not live: you no longer have access to this tenant.",
};

/* The overview follows the stats job's snapshots; a lost socket shows "Reconnecting" and retries with backoff. */
function liveOverview(root) {
  compact(root.querySelector("[data-commands]"));
  const badge = root.querySelector("[data-live-state]");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.socket;
  let retry = 0;
  let lastMessage = 0;
  const show = (state, text) => {
    badge.className = `badge badge-${state}`;
    badge.textContent = text;
    root.dataset.connection = state;
  };
  const connect = () => {
    show(retry ? "warn" : "info", retry ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(url);
    socket.onopen = () => { lastMessage = Date.now(); show("ok", "Live"); };
    socket.onmessage = (event) => {
      retry = 0;
      lastMessage = Date.now();
      show("ok", "Live");
      renderSnapshot(root, JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      const ended = ENDED[event.code];
      if (ended) {
        show("bad", ended);
        return;
      }
      retry += 1;
      show("warn", "Reconnecting…");
      setTimeout(connect, Math.min(500 * 2 ** retry, 5000));
    };
  };
  setInterval(() => {
    if (root.dataset.connection === "ok" && Date.now() - lastMessage > 5000) {
      show("warn", "Connected, no updates: is the scheduler running?");
    }
  }, 1000);
  connect();
}

/* Countdowns: each [data-expires-ms] counts down against the server's clock (offset from data-server-now-ms),
   and each [data-moment-ms] keeps its relative time current. */
function countdowns(root) {
  const offset = Number(root.dataset.serverNowMs) - Date.now();
  const tick = () => {
    const now = Date.now() + offset;
    for (const node of root.querySelectorAll("[data-expires-ms]")) {
      const left = Number(node.dataset.expiresMs) - now;
      setText(node, left > 0 ? formatDuration(left) : (node.dataset.expiredText || "expired, awaiting sweep"));
      node.classList.toggle("badge-warn", left > 0 && left < 30000);
      node.classList.toggle("badge-bad", left <= 0);
    }
  };
  tick();
  setInterval(tick, 1000);
}

function moments() {
  const offset = serverOffset();
  const tick = () => {
    const now = Date.now() + offset;
    for (const node of document.querySelectorAll("[data-moment-ms]")) setText(node, relative(Number(node.dataset.momentMs), now));
  };
  setInterval(tick, 5000);
}

/* A socket that reconnects with backoff; ``state`` hears "live" / "reconnecting". */
function follow(path, onMessage, state = () => {}) {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  let retry = 0;
  const connect = () => {
    const socket = new WebSocket(url);
    socket.onopen = () => { retry = 0; state("live"); };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = () => {
      retry += 1;
      state("reconnecting");
      setTimeout(connect, Math.min(500 * 2 ** retry, 5000));
    };
  };
  connect();
}

const STATUS_TONE = { COMPLETED: "badge-ok", FAILED: "badge-bad", IN_PROGRESS: "badge-info" };

/* A task's page: its status, state, attempts and last update follow the engine without a reload. */
function liveTask(root) {
  const status = root.querySelector("[data-live-status]");
  const changed = root.querySelector("[data-live-changed]");
  follow(root.dataset.socket, (task) => {
    if (task.gone) {
      setText(status, "DELETED");
      status.className = "badge badge-bad";
      changed.hidden = false;
      const actions = document.querySelector("[data-live-actions]");
      if (actions) actions.hidden = true;
      return;
    }
    setText(status, task.status);
    status.className = `badge ${STATUS_TONE[task.status] || ""}`.trim();
    setText(root.querySelector("[data-live-state]"), task.state);
    setText(document.querySelector("[data-live-attempts]"), `${task.attempts} of ${task.max_attempts}`);
    const updated = document.querySelector("[data-live-updated] [data-moment-ms]");
    if (updated && updated.dataset.momentMs !== String(task.updated_ms)) {
      updated.dataset.momentMs = String(task.updated_ms);
      updated.title = formatTime(task.updated_ms);
      setText(updated, relative(task.updated_ms, Date.now() + serverOffset()));
    }
    changed.hidden = task.state === root.dataset.state;
    const actions = document.querySelector("[data-live-actions]");
    if (actions) actions.hidden = !changed.hidden;  // its buttons were for the state the page loaded with
  });
}

function leaseRow(t, taskBase) {
  const expires = el("span", { class: "badge", "data-expires-ms": String(t.lease_until_ms) }, [""]);
  return el("tr", { "data-task-id": t.id }, [
    el("td", { class: "mono" }, [el("a", { href: `${taskBase}${encodeURIComponent(t.id)}/` }, [t.id])]),
    el("td", { class: "mono" }, [t.command]),
    el("td", { class: "mono", "data-cell": "worker" }, [t.worker_id]),
    el("td", { class: "num", "data-cell": "attempts" }, [`${t.attempts} / ${t.max_attempts}`]),
    el("td", {}, [expires]),
    el("td", { class: "muted nowrap", "data-cell": "at" }, [formatTime(t.lease_until_ms)]),
  ]);
}

/* The leases list: rows still leased are updated cell by cell, new ones inserted where they belong, gone
   ones removed; a row is only moved when its place changed, so focus and a selection inside it survive. */
function liveLeases(root) {
  const body = root.querySelector("tbody");
  const empty = root.querySelector("[data-none]");
  follow(root.dataset.socket, (message) => {
    const wanted = new Set(message.leases.map((t) => t.id));
    for (const row of body.querySelectorAll("tr[data-task-id]")) {
      if (!wanted.has(row.dataset.taskId)) row.remove();
    }
    let previous = null;
    for (const t of message.leases) {
      let row = body.querySelector(`tr[data-task-id="${CSS.escape(t.id)}"]`);
      if (row) {
        setText(row.querySelector('[data-cell="worker"]'), t.worker_id);
        setText(row.querySelector('[data-cell="attempts"]'), `${t.attempts} / ${t.max_attempts}`);
        setText(row.querySelector('[data-cell="at"]'), formatTime(t.lease_until_ms));
        const badge = row.querySelector("[data-expires-ms]");
        if (badge.dataset.expiresMs !== String(t.lease_until_ms)) badge.dataset.expiresMs = String(t.lease_until_ms);
      } else {
        row = leaseRow(t, root.dataset.tasks);
      }
      const after = previous ? previous.nextElementSibling : body.firstElementChild;
      if (after !== row) body.insertBefore(row, after);
      previous = row;
    }
    if (empty) empty.hidden = message.leases.length > 0;
  });
}

/* Counts from the tenant's stats snapshots: every [data-live-count="<command>|<field>"] under the root. */
function liveCounts(root) {
  follow(root.dataset.socket, (snap) => {
    const byCommand = new Map(snap.commands.map((c) => [c.command, c]));
    for (const node of root.querySelectorAll("[data-live-count]")) {
      const [command, field] = node.dataset.liveCount.split("|");
      const c = byCommand.get(command);
      if (!c) continue;
      setText(node, intcomma(c[field]));
      if (node.dataset.liveTone === "bad") node.className = c[field] ? "badge badge-bad" : "muted";
    }
    const sum = root.querySelector("[data-live-sum]");
    if (sum) {
      const total = [...root.querySelectorAll("[data-live-count]")].reduce((n, node) => n + Number(node.textContent.replace(/,/g, "")), 0);
      setText(sum, `${intcomma(total)} dead task${total === 1 ? "" : "s"}${sum.dataset.sumSuffix}`);
      sum.className = `badge ${total ? "badge-bad" : "badge-ok"}`;
    }
  });
}

/* The menu's fold is open on a wide screen (so readers and keyboards meet every section) and folded on a phone;
   the breakpoint is dashboard.css's. */
function navMenu(menu) {
  const wide = matchMedia("(min-width: 761px)");
  const sync = () => { menu.open = wide.matches; };
  sync();
  wide.addEventListener("change", sync);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const menu of document.querySelectorAll(".navmenu")) navMenu(menu);
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    form.addEventListener("change", () => form.submit());
  }
  for (const root of document.querySelectorAll("[data-overview]")) liveOverview(root);
  for (const root of document.querySelectorAll("[data-server-now-ms]")) countdowns(root);
  moments();
  for (const root of document.querySelectorAll("[data-live-task]")) liveTask(root);
  for (const root of document.querySelectorAll("[data-live-leases]")) liveLeases(root);
  for (const root of document.querySelectorAll("[data-live-counts]")) liveCounts(root);
});
