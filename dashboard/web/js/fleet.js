// The fleet page: every host of every region, its status and headline figures, and a banner naming the
// unreachable regions (whose hosts show as unknown); refreshed every 5 s.

import * as api from "./api.js";
import * as fmt from "./format.js";
import { badge, el, every, meter, notice } from "./dom.js";
import { bannerText, bannerTitle, regionNames, regionsOf, unreachable } from "./regions.js";
import { STATUS_RANK, countsLine } from "./status.js";

const REFRESH_MS = 5000;

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
  // /api/regions' answer; null when the aggregator has none (404) or it failed.
  regionsAnswer: null,
  region: params.get("region") ?? "",
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
const regionBox = document.getElementById("region");
const banner = document.getElementById("unreachable");

function compare(a, b) {
  const key = COLUMNS[state.sort].key;
  const [x, y] = [key(a), key(b)];
  // Missing figures go last whatever the order.
  if (x == null || y == null) return x == null && y == null ? 0 : x == null ? 1 : -1;
  const c = typeof x === "string" ? collator.compare(x, y) : x - y;
  return state.order === "asc" ? c : -c;
}

function matches(host, words) {
  if (state.region && host.region !== state.region) return false;
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
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = all.filter((h) => matches(h, words)).sort((a, b) => compare(a, b) || collator.compare(a.host, b.host));

  counts.textContent = countsLine(all, words.length || state.region ? shown.length : null);
  emptyBox.hidden = all.length > 0;
  tableWrap.hidden = all.length === 0;
  tbody.replaceChildren(...shown.map(row));
  if (all.length > 0 && shown.length === 0) {
    const where = state.region ? ` in region “${state.region}”` : "";
    const text = words.length ? `no host${where} matches “${state.filter}”` : `no hosts${where}`;
    tbody.append(el("tr", {}, el("td", { colSpan: 8, class: "muted center" }, text)));
  }
  renderRegions();
}

/** The region picker (shown once there is more than one region to pick) and the unreachable regions' banner. */
function renderRegions() {
  const regions = regionsOf(state.regionsAnswer, state.hosts);
  const names = regionNames(regions, state.hosts);
  // A region from the url that the aggregator does not know (yet) stays pickable, so the view is not lost.
  if (state.region && !names.includes(state.region)) names.push(state.region);
  const current = [...regionBox.options].slice(1).map((o) => o.value);
  if (current.join("\n") !== names.join("\n")) {
    regionBox.replaceChildren(el("option", { value: "" }, "all regions"), ...names.map((name) => el("option", { value: name }, name)));
  }
  regionBox.value = state.region;
  regionBox.hidden = names.length < 2 && !state.region;

  const down = unreachable(regions);
  banner.hidden = down.length === 0;
  banner.replaceChildren(
    ...(down.length === 0
      ? []
      : [
          el("strong", {}, bannerTitle(down.length)),
          el("ul", {}, ...down.map((r) => el("li", {}, el("span", { class: "region-name" }, r.region), " ", bannerText(r)))),
        ]),
  );
}

function saveView() {
  const q = new URLSearchParams();
  if (state.sort !== "host") q.set("sort", state.sort);
  if (state.order !== "asc") q.set("order", state.order);
  if (state.region) q.set("region", state.region);
  if (state.filter) q.set("q", state.filter);
  const search = q.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

/** /api/regions' answer, or null: an aggregator older than it answers 404, and then there is no banner. */
async function loadRegions() {
  try {
    return await api.regions();
  } catch (err) {
    if (err.status !== 404) console.warn("cannot load regions:", err.message);
    return null;
  }
}

async function refresh() {
  const regions = loadRegions();
  try {
    const answer = await api.hosts();
    state.hosts = answer.hosts ?? [];
    state.regionsAnswer = await regions;
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

regionBox.addEventListener("change", () => {
  state.region = regionBox.value;
  saveView();
  render();
});

filterBox.value = state.filter;
filterBox.addEventListener("input", () => {
  state.filter = filterBox.value.trim();
  saveView();
  render();
});

// "12s ago" (and the banner's "last heard 4m 10s ago") keeps counting between refreshes.
setInterval(() => {
  for (const cell of tbody.querySelectorAll("td.ago")) cell.textContent = fmt.ago(Number(cell.dataset.ms));
  if (!banner.hidden) renderRegions();
}, 1000);

render();
every(REFRESH_MS, refresh);
