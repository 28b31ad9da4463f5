// Unit tests of web/js/series.js: counter rates, buckets, sums and gaps. Run by tests/js.rs (`node --test`).

import assert from "node:assert/strict";
import { test } from "node:test";

import { align, combine, gauge, groupBy, mean, rate, scale } from "../../web/js/series.js";

const series = (points, labels = {}) => ({ labels, points });
const entries = (map) => [...map];

test("gauge buckets points and skips nulls", () => {
  const s = series([[10_005, 1], [20_010, null], [30_002, 3]]);
  assert.deepEqual(entries(gauge(s, 10_000)), [[10_000, 1], [30_000, 3]]);
});

test("rate is per second between consecutive points", () => {
  const s = series([[0, 100], [10_000, 150], [20_000, 250]]);
  assert.deepEqual(entries(rate(s, 10_000, 25_000)), [[10_000, 5], [20_000, 10]]);
});

test("rate ignores counter resets and points too far apart", () => {
  const s = series([[0, 100], [10_000, 200], [20_000, 5], [30_000, 25], [90_000, 85], [100_000, 95]]);
  // 20 s: reset (negative delta); 90 s: 60 s after the last point, past the 25 s gap limit.
  assert.deepEqual(entries(rate(s, 10_000, 25_000)), [[10_000, 10], [30_000, 2], [100_000, 1]]);
});

test("rate restarts after a null", () => {
  const s = series([[0, 0], [10_000, null], [20_000, 40], [30_000, 50]]);
  assert.deepEqual(entries(rate(s, 10_000, 25_000)), [[30_000, 1]]);
});

test("combine keeps buckets every map holds", () => {
  const total = new Map([[0, 100], [10, 100], [20, 100]]);
  const avail = new Map([[0, 40], [20, 10]]);
  assert.deepEqual(entries(combine([total, avail], (t, a) => t - a)), [[0, 60], [20, 90]]);
  assert.deepEqual(entries(combine([total, avail], () => NaN)), []);
});

test("mean averages the maps present in each bucket", () => {
  const a = new Map([[0, 0.2], [10, 0.4]]);
  const b = new Map([[0, 0.4]]);
  assert.deepEqual(entries(scale(mean([a, b]), 100)).map(([t, v]) => [t, Math.round(v)]), [[0, 30], [10, 40]]);
});

test("groupBy groups series by a label", () => {
  const groups = groupBy([series([], { mode: "user" }), series([], { mode: "idle" }), series([], { mode: "user" })], "mode");
  assert.deepEqual([...groups].map(([k, v]) => [k, v.length]), [["user", 2], ["idle", 1]]);
});

test("align joins lines, spans missing points and breaks at gaps", () => {
  const a = { label: "a", points: new Map([[0, 1], [10_000, 2], [20_000, 3], [80_000, 4]]) };
  const b = { label: "b", points: new Map([[0, 5], [20_000, 6]]) };
  const { x, ys } = align([a, b], 10_000, 25_000);
  assert.deepEqual(x, [0, 10, 20, 30, 80]);
  // a: 60 s between 20 s and 80 s -> null one step after 20 s. b: 10 s is only missing -> undefined.
  assert.deepEqual(ys[0], [1, 2, 3, null, 4]);
  assert.deepEqual(ys[1], [5, undefined, 6, undefined, undefined]);
});
