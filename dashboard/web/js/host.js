// The host page: header, inventory and charts for the host named in the url (/host/NAME).

import * as api from "./api.js";
import { Chart, PALETTE } from "./charts.js";
import { badge, el, every, notice } from "./dom.js";
import * as fmt from "./format.js";
import * as s from "./series.js";

const RANGES = { "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000 };
// Only the shortest range refreshes: the longer ones barely move in 10 s and cost far more to fetch.
const LIVE_RANGE = "1h";
const REFRESH_MS = 10_000;
const DEFAULT_INTERVAL_MS = 10_000;

const CPU_MODES = { user: "#3b82f6", nice: "#06b6d4", system: "#ef4444", iowait: "#f59e0b", irq: "#8b5cf6", softirq: "#ec4899", steal: "#64748b" };
const MEMORY_COLORS = { used: "#3b82f6", cached: "#10b981", buffers: "#8b5cf6", free: "#f59e0b", total: "#94a3b8", swap: "#ef4444" };
const DASH_SECOND = [5, 3];

const host = hostFromPath(location.pathname);
const params = new URLSearchParams(location.search);
const state = {
  range: RANGES[params.get("range")] ? params.get("range") : LIVE_RANGE,
  intervalMs: DEFAULT_INTERVAL_MS,
  detail: null,
  chartsLoaded: false,
  showLo: false,
  lastData: null,
  lastWindow: null,
  generation: 0,
};

const $ = (id) => document.getElementById(id);

/** "/host/web%2D01" -> "web-01"; a malformed escape is shown as it is rather than failing the page. */
function hostFromPath(path) {
  const raw = path.replace(/^\/host\//, "").replace(/\/+$/, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The first series of a metric, as a bucket map (memory figures have exactly one series per host). */
const single = (data, metric, w) => (data[metric]?.[0] ? s.gauge(data[metric][0], w.stepMs) : new Map());

/** One line per value of `label`, sorted by name; `f` turns a series into a bucket map. */
function perLabel(series, label, f) {
  return [...s.groupBy(series, label)].sort(([a], [b]) => s.byName(a, b)).map(([name, group]) => [name, f(group[0])]);
}

// Every chart: what it fetches and how it turns the fetched series into lines.
const CHARTS = [
  {
    id: "cpu",
    title: "CPU",
    hint: "busy time by mode, % of all cores",
    unit: "percent",
    axisLabel: "% CPU",
    stacked: true,
    metrics: ["node_cpu_seconds_total"],
    lines(data, w) {
      const byMode = s.groupBy(data.node_cpu_seconds_total, "mode");
      const modes = [...Object.keys(CPU_MODES), ...[...byMode.keys()].filter((m) => !(m in CPU_MODES) && m !== "idle").sort()];
      return modes
        .filter((mode) => byMode.has(mode))
        .map((mode) => ({
          label: mode,
          color: CPU_MODES[mode],
          // Seconds per second of one CPU, averaged over CPUs: the share of the whole machine.
          points: s.scale(s.mean(byMode.get(mode).map((series) => s.rate(series, w.stepMs, w.gapMs))), 100),
        }));
    },
  },
  {
    id: "memory",
    title: "Memory",
    hint: "used = total − available",
    unit: "bytes",
    axisLabel: "bytes",
    metrics: [
      "node_memory_MemTotal_bytes",
      "node_memory_MemAvailable_bytes",
      "node_memory_MemFree_bytes",
      "node_memory_Cached_bytes",
      "node_memory_Buffers_bytes",
      "node_memory_SwapTotal_bytes",
      "node_memory_SwapFree_bytes",
    ],
    lines(data, w) {
      const g = (name) => single(data, `node_memory_${name}_bytes`, w);
      const total = g("MemTotal");
      const swapTotal = g("SwapTotal");
      const lines = [
        { label: "used", color: MEMORY_COLORS.used, fill: true, points: s.combine([total, g("MemAvailable")], (t, a) => t - a) },
        { label: "cached", color: MEMORY_COLORS.cached, points: g("Cached") },
        { label: "buffers", color: MEMORY_COLORS.buffers, points: g("Buffers") },
        { label: "free", color: MEMORY_COLORS.free, points: g("MemFree") },
        { label: "total", color: MEMORY_COLORS.total, dash: DASH_SECOND, points: total },
      ];
      if ([...swapTotal.values()].some((v) => v > 0)) {
        const swapUsed = s.combine([swapTotal, g("SwapFree")], (t, f) => t - f);
        lines.push({ label: "swap used", color: MEMORY_COLORS.swap, dash: [2, 3], points: swapUsed });
      }
      return lines;
    },
  },
  {
    id: "load",
    title: "Load average",
    hint: "runnable and waiting tasks",
    unit: "plain",
    axisLabel: "tasks",
    metrics: ["node_load1", "node_load5", "node_load15"],
    lines: (data, w) =>
      ["1", "5", "15"].map((m, i) => ({ label: `${m}m`, color: PALETTE[i], points: single(data, `node_load${m}`, w) })),
  },
  {
    id: "filesystems",
    title: "Filesystems",
    hint: "% used, as df counts it",
    unit: "percent",
    axisLabel: "% used",
    metrics: ["node_filesystem_size_bytes", "node_filesystem_avail_bytes", "node_filesystem_free_bytes"],
    lines(data, w) {
      const byMount = (metric) => new Map(perLabel(data[metric], "mountpoint", (x) => s.gauge(x, w.stepMs)));
      const [avail, free] = [byMount("node_filesystem_avail_bytes"), byMount("node_filesystem_free_bytes")];
      return [...byMount("node_filesystem_size_bytes")]
        .filter(([mount]) => avail.has(mount))
        .map(([mount, size]) => ({
          label: mount,
          // As df and the fleet page: used / (used + avail), with used = size - free; blocks reserved for
          // root count neither way. Without a free figure: 1 - avail / size.
          points: free.has(mount)
            ? s.combine([size, free.get(mount), avail.get(mount)], (sz, fr, av) => percentUsed(sz - fr, av))
            : s.combine([size, avail.get(mount)], (sz, av) => (sz > 0 ? (1 - av / sz) * 100 : NaN)),
        }));
    },
  },
  {
    id: "network",
    title: "Network",
    hint: "received (solid) and sent (dashed)",
    unit: "bytesRate",
    axisLabel: "bytes/s",
    metrics: ["node_network_receive_bytes_total", "node_network_transmit_bytes_total"],
    controls: () =>
      el(
        "label",
        { class: "control" },
        el("input", {
          type: "checkbox",
          checked: state.showLo,
          onchange: (e) => {
            state.showLo = e.target.checked;
            redraw("network");
          },
        }),
        " include lo",
      ),
    lines(data, w) {
      const keep = ([device]) => state.showLo || device !== "lo";
      const f = (x) => s.rate(x, w.stepMs, w.gapMs);
      return pairs(
        perLabel(data.node_network_receive_bytes_total, "device", f).filter(keep),
        perLabel(data.node_network_transmit_bytes_total, "device", f).filter(keep),
        "rx",
        "tx",
      );
    },
  },
  {
    id: "disk-io",
    title: "Disk throughput",
    hint: "read (solid) and written (dashed)",
    unit: "bytesRate",
    axisLabel: "bytes/s",
    metrics: ["node_disk_read_bytes_total", "node_disk_written_bytes_total"],
    lines(data, w) {
      const f = (x) => s.rate(x, w.stepMs, w.gapMs);
      return pairs(
        perLabel(data.node_disk_read_bytes_total, "device", f),
        perLabel(data.node_disk_written_bytes_total, "device", f),
        "read",
        "write",
      );
    },
  },
  {
    id: "disk-util",
    title: "Disk utilisation",
    hint: "% of time busy with I/O",
    unit: "percent",
    axisLabel: "% busy",
    metrics: ["node_disk_io_time_seconds_total"],
    lines: (data, w) =>
      perLabel(data.node_disk_io_time_seconds_total, "device", (x) => s.scale(s.rate(x, w.stepMs, w.gapMs), 100)).map(
        ([device, points]) => ({ label: device, points }),
      ),
  },
];

/** df's "Use%": used / (used + avail), in percent. */
const percentUsed = (used, avail) => (used + avail > 0 ? (100 * used) / (used + avail) : NaN);

/** Lines for per-device pairs (rx/tx, read/write): one colour per device, the second of the pair dashed. */
function pairs(first, second, firstName, secondName) {
  const devices = [...new Set([...first, ...second].map(([d]) => d))].sort(s.byName);
  const [a, b] = [new Map(first), new Map(second)];
  return devices.flatMap((device, i) => {
    const color = PALETTE[i % PALETTE.length];
    return [
      a.has(device) && { label: `${device} ${firstName}`, color, points: a.get(device) },
      b.has(device) && { label: `${device} ${secondName}`, color, dash: DASH_SECOND, points: b.get(device) },
    ].filter(Boolean);
  });
}

/** The query window for a range: step = range/600 in whole seconds, at least the agent's interval. */
function windowFor(range) {
  const rangeMs = RANGES[range];
  const stepMs = Math.max(state.intervalMs, Math.round(rangeMs / 600 / 1000) * 1000);
  const endMs = Date.now();
  // Start on a step boundary, so our buckets are the aggregator's.
  const startMs = Math.floor((endMs - rangeMs) / stepMs) * stepMs;
  // Points further apart than this are drawn as a gap (a missed sample or two is not an outage).
  const gapMs = 2.5 * Math.max(stepMs, state.intervalMs);
  return { range, stepMs, startMs, endMs, gapMs };
}

function buildPanels() {
  const grid = $("charts");
  for (const spec of CHARTS) {
    const panel = el(
      "div",
      { class: "panel chart-panel", id: `chart-${spec.id}` },
      el("div", { class: "chart-head" }, el("h2", {}, spec.title), el("span", { class: "hint" }, spec.hint), el("span", { class: "spacer" }), spec.controls?.()),
      el("div", { class: "plot-wrap" }, el("div", { class: "plot" }), el("p", { class: "plot-message", hidden: true })),
    );
    grid.append(panel);
    spec.chart = new Chart(panel, spec);
  }
}

function redraw(id) {
  if (!state.lastData) return;
  const spec = CHARTS.find((c) => c.id === id);
  if (!spec.errors) spec.chart.update(spec.lines(state.lastData, state.lastWindow), state.lastWindow);
}

async function loadCharts() {
  const generation = ++state.generation;
  const w = windowFor(state.range);
  const metrics = [...new Set(CHARTS.flatMap((c) => c.metrics))];
  const results = await Promise.allSettled(metrics.map((m) => api.series(host, m, w.startMs, w.endMs, w.stepMs)));
  // A range picked while this was in flight wins.
  if (generation !== state.generation) return;
  const data = {};
  const errors = {};
  metrics.forEach((metric, i) => {
    if (results[i].status === "fulfilled") data[metric] = results[i].value.series ?? [];
    else errors[metric] = results[i].reason;
  });
  state.lastData = data;
  state.lastWindow = w;
  state.chartsLoaded = true;
  for (const spec of CHARTS) {
    const error = spec.metrics.map((m) => errors[m]).find(Boolean);
    spec.errors = Boolean(error);
    if (error) spec.chart.say(`cannot load ${spec.title.toLowerCase()}: ${error.message}`);
    else spec.chart.update(spec.lines(data, w), w);
  }
  const note = `step ${fmt.duration(w.stepMs)}${state.range === LIVE_RANGE ? ` · refreshes every ${REFRESH_MS / 1000}s` : ""}`;
  $("range-note").textContent = note;
}

function fact(name, value, title) {
  return el("div", { class: "fact" }, el("dt", {}, name), el("dd", { title: title ?? value }, value || fmt.NONE));
}

/** The newest value of a metric among the detail's `latest` samples. */
function latest(detail, metric) {
  return detail.latest?.find((sample) => sample.labels?.__name__ === metric)?.value;
}

function renderDetail(detail) {
  const summary = detail.summary ?? {};
  const inv = detail.inventory ?? {};
  $("hostname").textContent = summary.host ?? host;
  $("status").replaceChildren(badge(summary.status));
  $("seen").dataset.ms = summary.last_seen_ms ?? "";
  $("seen").textContent = `last seen ${fmt.ago(summary.last_seen_ms)}`;

  const cpu = [inv.cpu_model, inv.cpu_cores ? `× ${inv.cpu_cores} cores` : ""].filter(Boolean).join(" ");
  const bootMs = inv.boot_time_ms || (latest(detail, "node_boot_time_seconds") ?? 0) * 1000;
  const swapTotal = latest(detail, "node_memory_SwapTotal_bytes");
  const swapFree = latest(detail, "node_memory_SwapFree_bytes");
  const kernel = [inv.kernel_release, inv.architecture].filter(Boolean).join(" · ");
  const facts = [
    inv.hostname && inv.hostname !== host && fact("Hostname", inv.hostname),
    fact("OS", inv.os_name),
    fact("Kernel", kernel),
    fact("CPU", cpu),
    fact("RAM", inv.memory_bytes ? fmt.bytes(inv.memory_bytes) : ""),
    swapTotal > 0 && fact("Swap", `${fmt.bytes(swapTotal - (swapFree ?? 0))} of ${fmt.bytes(swapTotal)} used`),
    fact("Uptime", bootMs ? fmt.duration(Date.now() - bootMs) : "", bootMs ? `booted ${fmt.dateTime(bootMs)}` : undefined),
    fact("Region", summary.region),
    fact("Agent", summary.agent_version),
  ];
  $("facts").replaceChildren(...facts.filter(Boolean));

  const disks = inv.disks ?? [];
  $("disks").replaceChildren(
    ...disks.map((d) =>
      el("tr", {}, el("td", { class: "mono" }, d.device), el("td", {}, d.model || fmt.NONE), el("td", { class: "num" }, fmt.bytes(d.size_bytes)), el("td", {}, d.rotational ? "HDD" : "SSD")),
    ),
  );
  if (disks.length === 0) $("disks").append(emptyRow(4, "no disks reported"));

  const nics = inv.interfaces ?? [];
  $("interfaces").replaceChildren(
    ...nics.map((n) =>
      el(
        "tr",
        {},
        el("td", { class: "mono" }, n.name),
        el("td", { class: "mono" }, n.mac_address || fmt.NONE),
        el("td", { class: "mono addresses" }, (n.addresses ?? []).join(", ") || fmt.NONE),
        el("td", { class: "num" }, fmt.bitsRate(n.speed_bps)),
        el("td", { class: "num" }, n.mtu ? String(n.mtu) : fmt.NONE),
      ),
    ),
  );
  if (nics.length === 0) $("interfaces").append(emptyRow(5, "no interfaces reported"));
}

const emptyRow = (span, text) => el("tr", {}, el("td", { colSpan: span, class: "muted center" }, text));

async function loadDetail() {
  try {
    const detail = await api.host(host);
    state.detail = detail;
    state.intervalMs = detail.interval_ms > 0 ? detail.interval_ms : DEFAULT_INTERVAL_MS;
    renderDetail(detail);
    notice($("error"), "");
    document.body.classList.remove("waiting", "stale-data", "unknown-host");
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    return true;
  } catch (err) {
    if (err.status === 404) {
      // Keep asking: the host's agent may be about to connect for the first time.
      document.body.classList.add("unknown-host");
      notice($("error"), `unknown host “${host}”: the aggregator has no data for it (yet)`);
    } else {
      document.body.classList.add("stale-data");
      notice($("error"), err.message);
    }
    return false;
  }
}

async function refresh() {
  if (!(await loadDetail())) return;
  if (!state.chartsLoaded || state.range === LIVE_RANGE) await loadCharts();
}

function selectRange(range) {
  state.range = range;
  for (const button of document.querySelectorAll("[data-range]")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === range));
  }
  const q = new URLSearchParams(location.search);
  if (range === LIVE_RANGE) q.delete("range");
  else q.set("range", range);
  history.replaceState(null, "", q.size ? `?${q}` : location.pathname);
}

document.title = `${host} · sysmon`;
$("crumb-host").textContent = host;
$("hostname").textContent = host;
buildPanels();
selectRange(state.range);
for (const button of document.querySelectorAll("[data-range]")) {
  button.addEventListener("click", () => {
    if (button.dataset.range === state.range) return;
    selectRange(button.dataset.range);
    if (state.detail) loadCharts();
  });
}
setInterval(() => {
  const seen = $("seen");
  if (seen.dataset.ms) seen.textContent = `last seen ${fmt.ago(Number(seen.dataset.ms))}`;
}, 1000);
every(REFRESH_MS, refresh);
