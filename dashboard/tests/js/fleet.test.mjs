// Unit tests of web/js/status.js and web/js/regions.js: the fleet page's statuses, counts and its banner of
// unreachable regions. Run by tests/js.rs (`node --test`).

import assert from "node:assert/strict";
import { test } from "node:test";

import { bannerText, bannerTitle, regionNames, regionsOf, unreachable } from "../../web/js/regions.js";
import { STATUS_RANK, countsLine, statusClass, statusTitle } from "../../web/js/status.js";

const NOW = 1_700_000_000_000;

// A master's answers: eu-1 unreachable for 250 s, us-1 reachable, us-2 never heard from.
const REGIONS = {
  role: "master",
  regions: [
    { region: "eu-1", status: "unreachable", last_heard_ms: NOW - 250_000, complete_before_ms: NOW - 260_000, hosts: 12, via: "agg-eu1" },
    { region: "us-1", status: "reachable", last_heard_ms: NOW - 1_000, complete_before_ms: NOW - 10_000, hosts: 2, via: "agg-us1" },
    { region: "us-2", status: "unreachable", last_heard_ms: null, complete_before_ms: null, hosts: 0, via: null },
  ],
};
const HOSTS = [
  { host: "db-01", region: "us-1", status: "up" },
  { host: "web-01", region: "eu-1", status: "unknown" },
  { host: "web-02", region: "eu-1", status: "unknown" },
  { host: "web-03", region: "us-1", status: "down" },
];

test("unknown has its own badge, never down's", () => {
  assert.equal(statusClass("unknown"), "unknown");
  assert.equal(statusClass("down"), "down");
  assert.equal(statusClass("draining"), "other");
  assert.equal(statusClass(undefined), "other");
  assert.match(statusTitle("unknown"), /^region unreachable/);
  assert.equal(statusTitle("draining"), undefined);
});

test("sorting by status puts down first, then unknown, stale and up", () => {
  const sorted = ["up", "unknown", "stale", "down"].sort((a, b) => STATUS_RANK[a] - STATUS_RANK[b]);
  assert.deepEqual(sorted, ["down", "unknown", "stale", "up"]);
});

test("counts name unknown only when some host is", () => {
  assert.equal(countsLine(HOSTS), "4 hosts: 1 up, 0 stale, 1 down, 2 unknown");
  assert.equal(countsLine(HOSTS, 2), "4 hosts: 1 up, 0 stale, 1 down, 2 unknown (2 shown)");
  assert.equal(countsLine([{ status: "up" }]), "1 host: 1 up, 0 stale, 0 down");
  assert.equal(countsLine([]), "0 hosts: 0 up, 0 stale, 0 down");
});

test("the banner lists the unreachable regions with how long ago they were heard", () => {
  const regions = regionsOf(REGIONS, HOSTS);
  const down = unreachable(regions);
  assert.deepEqual(down.map((r) => r.region), ["eu-1", "us-2"]);
  assert.equal(bannerTitle(down.length), "2 regions unreachable");
  assert.equal(bannerTitle(1), "1 region unreachable");
  assert.equal(bannerText(down[0], NOW), "last heard 4m 10s ago; its 12 hosts show as unknown");
  assert.equal(bannerText(down[1], NOW), "never heard from; it has no hosts");
  assert.equal(bannerText({ region: "ap-1", status: "unreachable", last_heard_ms: NOW - 7_200_000, hosts: 1 }, NOW), "last heard 2h ago; its 1 host shows as unknown");
  // A clock behind the master's does not show a negative age.
  assert.equal(bannerText({ region: "ap-1", last_heard_ms: NOW + 5_000, hosts: 3 }, NOW), "last heard 0s ago; its 3 hosts show as unknown");
});

test("without /api/regions the regions come from the hosts and there is no banner", () => {
  const regions = regionsOf(null, [...HOSTS, { host: "lab-01", region: "" }]);
  assert.deepEqual(regions, [
    { region: "eu-1", status: "local", hosts: 2 },
    { region: "us-1", status: "local", hosts: 2 },
  ]);
  assert.deepEqual(unreachable(regions), []);
  assert.deepEqual(regionsOf(null, null), []);
  // An answer of another shape is treated the same way.
  assert.deepEqual(unreachable(regionsOf({ error: "x" }, HOSTS)), []);
});

test("the region picker offers every region, with or without hosts", () => {
  assert.deepEqual(regionNames(regionsOf(REGIONS, HOSTS), HOSTS), ["eu-1", "us-1", "us-2"]);
  // A host whose region the list lacks (a race between the two answers) is still pickable.
  assert.deepEqual(regionNames(regionsOf(REGIONS, HOSTS), [{ region: "ap-1" }]), ["ap-1", "eu-1", "us-1", "us-2"]);
  assert.deepEqual(regionNames([], []), []);
});
