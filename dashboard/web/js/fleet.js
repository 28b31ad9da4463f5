// The fleet page: every host's status and headline figures, refreshed every 5 s.

import * as api from "./api.js";
import * as fmt from "./format.js";
import { badge, el, every, meter, notice } from "./dom.js";

const REFRESH_MS = 5000;
const STATUS_RANK = { down: 0, stale: 1, up: 2 };

// Sort keys per column. Numeric columns sort largest first on the first click: that is what one looks for.
const COLUMNS = {
  host: { key: (h) => h.host, firstOrder: "asc" },
  region: { key: (h) => h.region, firstOrder: "asc" },
  status: { key: (h) => STATUS_RANK[h.status] ?? -1, firstOrder: "asc" },
  last_seen: { key: (h) => h.last_seen_ms, firstOrder: "desc" },
  cpu: { key: (h) => h.cpu_percent, firstOrder: "desc" },
  memory: { key: (h) => h.memory_percent, firstOrder: "desc" },
  filesystem: { key: (h) => h.fullest_filesystem_percent, firstOrder: "desc" },
  load1: { key: (h) => h.load1, firstOrder: "desc" },
};

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
const params = new URLSearchParams(location.search);
const state = {
  hosts: null,
  sort: COLUMNS[params.get("sort")] ? params.get("sort") : "host",
  order: params.get("order") === "desc" ? "desc" : "asc",
  filter: params.get("q") ?? "",
};

const table = document.getElementById("hosts");
const tbody = table.querySelector("tbody");
const filterBox = document.getElementById("filter");
const counts = document.getElementById("counts");
const errorBox = document.getElementById("error");
const emptyBox = document.getElementById("empty");
const updated = document.getElementById("updated");
const tableWrap = document.getElementById("table-wrap");

function compare(a, b) {
  const key = COLUMNS[state.sort].key;
  const [x, y] = [key(a), key(b)];
  // Missing figures go last whatever the order.
  if (x == null || y == null) return x == null && y == null ? 0 : x == null ? 1 : -1;
  const c = typeof x === "string" ? collator.compare(x, y) : x - y;
  return state.order === "asc" ? c : -c;
}

function matches(host, words) {
  const text = `${host.host} ${host.region} ${host.status}`.toLowerCase();
  return words.every((word) => text.includes(word));
}

function row(h) {
  const fsNote = h.fullest_filesystem_mountpoint ?? "";
  return el(
    "tr",
    { class: `status-${h.status}` },
    el("td", { class: "host" }, el("a", { href: `/host/${encodeURIComponent(h.host)}` }, h.host)),
    el("td", {}, h.region ?? fmt.NONE),
    el("td", {}, badge(h.status)),
    el("td", { class: "ago", "data-ms": h.last_seen_ms, title: h.last_seen_ms ? fmt.dateTime(h.last_seen_ms) : "" }, fmt.ago(h.last_seen_ms)),
    el("td", { class: "num" }, meter(h.cpu_percent)),
    el("td", { class: "num" }, meter(h.memory_percent)),
    el("td", { class: "num" }, meter(h.fullest_filesystem_percent, fsNote)),
    el("td", { class: "num" }, fmt.load(h.load1)),
  );
}

function render() {
  for (const th of table.querySelectorAll("th[data-key]")) {
    const sorted = th.dataset.key === state.sort;
    th.setAttribute("aria-sort", sorted ? (state.order === "asc" ? "ascending" : "descending") : "none");
  }
  if (state.hosts == null) return;

  const all = state.hosts;
  const by = (status) => all.filter((h) => h.status === status).length;
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = all.filter((h) => matches(h, words)).sort((a, b) => compare(a, b) || collator.compare(a.host, b.host));

  let line = `${all.length} host${all.length === 1 ? "" : "s"}: ${by("up")} up, ${by("stale")} stale, ${by("down")} down`;
  if (words.length) line += ` (${shown.length} shown)`;
  counts.textContent = line;
  emptyBox.hidden = all.length > 0;
  tableWrap.hidden = all.length === 0;
  tbody.replaceChildren(...shown.map(row));
  if (all.length > 0 && shown.length === 0) {
    tbody.append(el("tr", {}, el("td", { colSpan: 8, class: "muted center" }, `no host matches “${state.filter}”`)));
  }
}

function saveView() {
  const q = new URLSearchParams();
  if (state.sort !== "host") q.set("sort", state.sort);
  if (state.order !== "asc") q.set("order", state.order);
  if (state.filter) q.set("q", state.filter);
  const search = q.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

async function refresh() {
  try {
    const answer = await api.hosts();
    state.hosts = answer.hosts ?? [];
    notice(errorBox, "");
    document.body.classList.remove("stale-data");
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    notice(errorBox, err.message);
    // Keep the last table, greyed out, so an aggregator restart does not blank the page.
    document.body.classList.add("stale-data");
    if (state.hosts == null) counts.textContent = "";
  }
  render();
}

for (const th of table.querySelectorAll("th[data-key]")) {
  const key = th.dataset.key;
  const button = el("button", { type: "button", class: "sort" }, th.textContent);
  th.replaceChildren(button);
  button.addEventListener("click", () => {
    if (state.sort === key) state.order = state.order === "asc" ? "desc" : "asc";
    else [state.sort, state.order] = [key, COLUMNS[key].firstOrder];
    saveView();
    render();
  });
}

filterBox.value = state.filter;
filterBox.addEventListener("input", () => {
  state.filter = filterBox.value.trim();
  saveView();
  render();
});

// "12s ago" keeps counting between refreshes.
setInterval(() => {
  for (const cell of tbody.querySelectorAll("td.ago")) cell.textContent = fmt.ago(Number(cell.dataset.ms));
}, 1000);

render();
every(REFRESH_MS, refresh);
