// Turns the API's series into chart lines: counter rates, step buckets, sums and ratios.
//
// A "line" is {label, points: Map<bucket start ms, value>} plus style hints. Buckets are multiples of the
// query step (the page aligns `start` to the step, so they match the aggregator's buckets), which lets
// series sampled a few milliseconds apart be added up and divided.

/** The start of the step bucket holding `ts`. */
const bucket = (ts, stepMs) => Math.floor(ts / stepMs) * stepMs;

/** A gauge's points as a bucket map; null values (no data) are left out. */
export function gauge(series, stepMs) {
  const out = new Map();
  for (const [ts, value] of series.points) {
    if (value != null && Number.isFinite(value)) out.set(bucket(ts, stepMs), value);
  }
  return out;
}

/**
 * A counter's per-second rate as a bucket map, from consecutive points. A rate needs two points at most
 * `maxGapMs` apart; a negative delta is a counter reset (agent or host restart) and gives no rate.
 */
export function rate(series, stepMs, maxGapMs) {
  const out = new Map();
  let prev = null;
  for (const [ts, value] of series.points) {
    if (value == null || !Number.isFinite(value)) {
      prev = null;
      continue;
    }
    if (prev && ts > prev[0] && ts - prev[0] <= maxGapMs && value >= prev[1]) {
      out.set(bucket(ts, stepMs), ((value - prev[1]) * 1000) / (ts - prev[0]));
    }
    prev = [ts, value];
  }
  return out;
}

/** `fn(a, b, ...)` for every bucket that all maps hold; non-finite results are left out. */
export function combine(maps, fn) {
  const out = new Map();
  if (maps.length === 0) return out;
  for (const [ts, first] of maps[0]) {
    const values = [first];
    for (const map of maps.slice(1)) {
      const v = map.get(ts);
      if (v === undefined) break;
      values.push(v);
    }
    if (values.length !== maps.length) continue;
    const result = fn(...values);
    if (Number.isFinite(result)) out.set(ts, result);
  }
  return out;
}

/** Per bucket, the mean of the maps that hold it (a CPU missing from one sample does not skew the rest). */
export function mean(maps) {
  const sums = new Map();
  for (const map of maps) {
    for (const [ts, v] of map) {
      const acc = sums.get(ts) ?? [0, 0];
      sums.set(ts, [acc[0] + v, acc[1] + 1]);
    }
  }
  return new Map([...sums].map(([ts, [sum, n]]) => [ts, sum / n]));
}

/** Multiplies every value of a bucket map. */
export function scale(map, factor) {
  return new Map([...map].map(([ts, v]) => [ts, v * factor]));
}

/** Groups series by the value of `label` (series without it go under ""). */
export function groupBy(series, label) {
  const groups = new Map();
  for (const s of series) {
    const key = s.labels?.[label] ?? "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  return groups;
}

/** Natural order for label values: sda < sdb < sdb2 < sdb10. */
export const byName = new Intl.Collator(undefined, { numeric: true }).compare;

/**
 * Aligns lines on one x axis for uPlot: x in seconds, one y array per line. Where a line has no value at an
 * x that another line has, its y is `undefined` (uPlot draws across it); where its own points are more than
 * `gapMs` apart, a `null` one step after the last point breaks the line, so an outage shows as a gap.
 */
export function align(lines, stepMs, gapMs) {
  const xs = new Set();
  const breaks = lines.map(() => new Set());
  lines.forEach((line, i) => {
    const keys = [...line.points.keys()].sort((a, b) => a - b);
    keys.forEach((ts, j) => {
      xs.add(ts);
      if (j > 0 && ts - keys[j - 1] > gapMs) {
        breaks[i].add(keys[j - 1] + stepMs);
        xs.add(keys[j - 1] + stepMs);
      }
    });
  });
  const x = [...xs].sort((a, b) => a - b);
  const ys = lines.map((line, i) =>
    x.map((ts) => {
      const v = line.points.get(ts);
      return v !== undefined ? v : breaks[i].has(ts) ? null : undefined;
    }),
  );
  return { x: x.map((ts) => ts / 1000), ys };
}
