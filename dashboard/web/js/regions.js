// The regions an aggregator knows (/api/regions), and the fleet page's banner of unreachable ones.
//
// An aggregator older than /api/regions answers it 404: the regions are then the distinct `region` values of
// its hosts, each local (such an aggregator cannot tell a region unreachable), and the banner stays hidden.

import { duration } from "./format.js";

/** The regions: `answer` is /api/regions' body, or null when the aggregator has no such route. */
export function regionsOf(answer, hosts) {
  if (answer && Array.isArray(answer.regions)) return answer.regions;
  const counts = new Map();
  for (const h of hosts ?? []) {
    if (h.region) counts.set(h.region, (counts.get(h.region) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([region, n]) => ({ region, status: "local", hosts: n }));
}

/** The region names for the region picker: the regions', and any host's the list lacks, sorted. */
export function regionNames(regions, hosts) {
  const names = new Set(regions.map((r) => r.region));
  for (const h of hosts ?? []) if (h.region) names.add(h.region);
  return [...names].sort();
}

/** The unreachable regions, in the API's order (by region). */
export function unreachable(regions) {
  return regions.filter((r) => r.status === "unreachable");
}

/** The banner's heading: "1 region unreachable", "2 regions unreachable". */
export function bannerTitle(count) {
  return `${count} region${count === 1 ? "" : "s"} unreachable`;
}

/** A region's banner line after its name: "last heard 4m 10s ago; its 12 hosts show as unknown". */
export function bannerText(region, now = Date.now()) {
  const heard = region.last_heard_ms > 0 ? `last heard ${duration(Math.max(0, now - region.last_heard_ms))} ago` : "never heard from";
  const n = region.hosts ?? 0;
  const hosts = n === 0 ? "it has no hosts" : n === 1 ? "its 1 host shows as unknown" : `its ${n} hosts show as unknown`;
  return `${heard}; ${hosts}`;
}
