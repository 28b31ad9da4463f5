// Unit tests of web/js/format.js. Run by tests/js.rs (`node --test`).

import assert from "node:assert/strict";
import { test } from "node:test";

import { ago, bitsRate, bytes, bytesRate, duration, load, percent } from "../../web/js/format.js";

test("bytes use binary units", () => {
  assert.equal(bytes(0), "0 B");
  assert.equal(bytes(1536), "1.5 KiB");
  assert.equal(bytes(16 * 1024 ** 3), "16 GiB");
  assert.equal(bytes(512 * 1024 ** 2), "512 MiB");
  assert.equal(bytes(null), "–");
  assert.equal(bytesRate(2.5 * 1024 ** 2), "2.5 MiB/s");
});

test("link speeds are decimal bits", () => {
  assert.equal(bitsRate(1e9), "1 Gbit/s");
  assert.equal(bitsRate(25e9), "25 Gbit/s");
  assert.equal(bitsRate(0), "–");
});

test("percent and load", () => {
  assert.equal(percent(12.345), "12.3%");
  assert.equal(percent(null), "–");
  assert.equal(load(1), "1.00");
});

test("ago counts in the largest whole unit", () => {
  const now = 1_700_000_000_000;
  assert.equal(ago(now - 12_000, now), "12s ago");
  assert.equal(ago(now - 5 * 60_000 - 3_000, now), "5m ago");
  assert.equal(ago(now - 3 * 3_600_000, now), "3h ago");
  assert.equal(ago(now + 2_000, now), "0s ago");
  assert.equal(ago(0, now), "never");
});

test("duration shows two units and drops a trailing zero", () => {
  assert.equal(duration((12 * 86400 + 3 * 3600 + 5 * 60) * 1000), "12d 3h");
  assert.equal(duration(2 * 3600 * 1000), "2h");
  assert.equal(duration(90 * 1000), "1m 30s");
  assert.equal(duration(0), "0s");
});
