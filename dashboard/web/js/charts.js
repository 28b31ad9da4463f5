// uPlot charts: one helper class that owns a panel's plot, its theme, its size and its data.

import * as fmt from "./format.js";
import { align } from "./series.js";

const uPlot = globalThis.uPlot;

const HEIGHT = 210;

/** Distinct colours that read on light and dark backgrounds. */
export const PALETTE = [
  "#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899",
  "#14b8a6", "#84cc16", "#f97316", "#6366f1", "#a16207", "#64748b",
];

// Binary steps (…, 256 MiB, 512 MiB, 1 GiB, …) so byte axes tick at round numbers.
const BYTE_INCRS = Array.from({ length: 51 }, (_, i) => 2 ** i);

// 24-hour clock; a date is added under the first tick of each day.
const TIME_VALUES = [
  [86400 * 365, "{YYYY}", null, null, null, null, null, null, 1],
  [86400 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [86400, "{MMM} {D}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600, "{HH}:{mm}", "\n{MMM} {D}", null, "\n{MMM} {D}", null, null, null, 1],
  [60, "{HH}:{mm}", "\n{MMM} {D}", null, "\n{MMM} {D}", null, null, null, 1],
  [1, "{HH}:{mm}:{ss}", "\n{MMM} {D}", null, "\n{MMM} {D}", null, null, null, 1],
];

/** Per unit: tick labels, legend values, tick increments (uPlot's default when absent) and the y range. */
const UNITS = {
  percent: { tick: (v) => `${fmt.number(v)}%`, value: fmt.percent, range: (min, max) => [0, Math.max(100, max ?? 0)] },
  bytes: { tick: fmt.bytes, value: fmt.bytes, incrs: BYTE_INCRS, range: (min, max) => [0, max > 0 ? max * 1.08 : 1024] },
  bytesRate: { tick: fmt.bytes, value: fmt.bytesRate, incrs: BYTE_INCRS, range: (min, max) => [0, max > 0 ? max * 1.08 : 1024] },
  plain: { tick: fmt.number, value: fmt.number, range: (min, max) => [0, max > 0 ? max * 1.15 : 1] },
};

function themeColors() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return { text: v("--muted"), grid: v("--grid"), bg: v("--panel"), font: v("--font") || "sans-serif" };
}

/** `color` mixed into `bg` (both #rrggbb), as an opaque colour: stacked areas must not show through each other. */
function mix(color, bg, amount) {
  const parse = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const [a, b] = [parse(color), parse(bg.length === 7 ? bg : "#ffffff")];
  return `rgb(${a.map((c, i) => Math.round(c * amount + b[i] * (1 - amount))).join(",")})`;
}

/** Width of the widest tick label, so long labels ("512 MiB") never clip. */
function axisSize(self, values, axisIdx, cycleNum) {
  const axis = self.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce((acc, v) => (String(v).length > acc.length ? String(v) : acc), "");
  if (longest) {
    self.ctx.font = axis.font[0];
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

/** Cumulative sums for a stack drawn top-first: series i covers itself and every shown series after it. */
function stack(ys, shown) {
  const out = ys.map((y) => y.slice());
  const len = ys[0]?.length ?? 0;
  for (let i = 0; i < len; i++) {
    let acc = 0;
    for (let s = ys.length - 1; s >= 0; s--) {
      const v = ys[s][i];
      if (!shown[s] || v == null) continue;
      acc += v;
      out[s][i] = acc;
    }
  }
  return out;
}

const charts = new Set();
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => charts.forEach((c) => c.rebuild()));

/**
 * One chart in a panel. `spec`: {unit: "percent" | "bytes" | "bytesRate" | "plain", axisLabel, stacked}.
 * Call `update(lines, window)` with lines from series.js and the window {startMs, endMs, stepMs, gapMs}.
 */
export class Chart {
  constructor(panel, spec) {
    this.spec = spec;
    this.unit = UNITS[spec.unit];
    this.plotBox = panel.querySelector(".plot");
    this.message = panel.querySelector(".plot-message");
    this.plot = null;
    this.key = null;
    this.lines = [];
    this.window = null;
    this.aligned = { x: [], ys: [] };
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(this.plotBox);
    charts.add(this);
  }

  size() {
    return { width: Math.max(200, this.plotBox.clientWidth), height: HEIGHT };
  }

  /** Shows `text` over the plot (an error, "no data"), or clears it. */
  say(text) {
    this.message.hidden = !text;
    this.message.textContent = text ?? "";
  }

  update(lines, window) {
    // A stack is drawn top layer first (see data()), so its legend also reads top-down.
    this.lines = this.spec.stacked ? [...lines].reverse() : lines;
    this.window = window;
    this.aligned = align(this.lines, window.stepMs, window.gapMs);
    const key = this.lines.map((l) => l.label).join("\n");
    if (!this.plot || key !== this.key) {
      this.key = key;
      this.rebuild();
    } else {
      this.plot.setData(this.data());
    }
    const empty = this.aligned.x.length === 0;
    this.say(empty ? (lines.length ? "no data in this range" : "no series reported") : "");
  }

  /** A line's newest value: what the legend shows while the cursor is off the chart. */
  newest(index) {
    const y = this.aligned.ys[index] ?? [];
    for (let i = y.length - 1; i >= 0; i--) if (y[i] != null) return y[i];
    return null;
  }

  /**
   * The data to draw. A stack is drawn with plain fills, not bands: its layers hold cumulative values and
   * come top layer first, each filled down to zero, so every layer paints over the lower part of the ones
   * drawn before it. Fills are opaque for the same reason.
   */
  data() {
    const { x, ys } = this.aligned;
    if (!this.spec.stacked) return [x, ...ys];
    const shown = this.plot ? this.plot.series.slice(1).map((s) => s.show) : ys.map(() => true);
    return [x, ...stack(ys, shown)];
  }

  rebuild() {
    if (!this.window) return;
    this.plot?.destroy();
    this.plot = null;
    const theme = themeColors();
    const unit = this.unit;
    const stacked = this.spec.stacked;
    const windowRef = () => this.window;
    const axis = {
      stroke: theme.text,
      font: `11px ${theme.font}`,
      labelFont: `11px ${theme.font}`,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1, size: 4 },
    };
    const series = this.lines.map((line, i) => {
      const color = line.color ?? PALETTE[i % PALETTE.length];
      return {
        label: line.label,
        stroke: color,
        width: stacked ? 1 : 1.5,
        dash: line.dash,
        fill: stacked ? mix(color, theme.bg, 0.55) : line.fill ? mix(color, theme.bg, 0.12) : undefined,
        points: { show: false },
        // Legend values come from the unstacked data; off the chart, the legend shows the newest values.
        value: (u, v, si, idx) => unit.value(idx == null ? this.newest(si - 1) : this.aligned.ys[si - 1]?.[idx]),
      };
    });
    const opts = {
      ...this.size(),
      cursor: { sync: { key: "sysmon-host" }, drag: { x: false, y: false }, points: { size: 5 } },
      legend: { live: true },
      scales: {
        x: { time: true, range: () => [windowRef().startMs / 1000, windowRef().endMs / 1000] },
        y: { range: (u, min, max) => unit.range(min, max) },
      },
      axes: [
        { ...axis, values: TIME_VALUES, space: 60 },
        {
          ...axis,
          label: this.spec.axisLabel,
          labelSize: 16,
          size: axisSize,
          incrs: unit.incrs,
          values: (u, splits) => splits.map(unit.tick),
        },
      ],
      series: [{ value: (u, ts) => (ts == null ? "latest" : fmt.dateTime(ts * 1000, true)) }, ...series],
      // Hiding a layer of a stack re-stacks the others, so no hole is left where it was.
      hooks: stacked ? { setSeries: [(u) => u.setData(this.data(), false)] } : {},
    };
    this.plot = new uPlot(opts, this.data(), this.plotBox);
  }
}
