// Host statuses as the hosts API reports them: their order, what each means, and the fleet's counts.

/** The statuses, in the order the page counts them. */
export const STATUSES = ["up", "stale", "down", "unknown"];

/** Sort rank, worst first: down, then unknown (it may be down, nobody knows), stale, up. */
export const STATUS_RANK = { down: 0, unknown: 1, stale: 2, up: 3 };

/** What a status means, for the badge's tooltip (thresholds as the aggregator's HostStatus::of). */
const TITLES = {
  up: "reporting: a batch arrived within three collection intervals (at least 5s)",
  stale: "late: nothing for three collection intervals, but for less than ten (at least 60s)",
  down: "silent for ten collection intervals (at least 60s) or more",
  unknown: "region unreachable: the master has not heard from this host's region for too long, so nobody knows whether it is up; its figures are the last ones received",
};

/** The badge class of a status: the status itself, or "other" for one this page does not know (or none). */
export function statusClass(status) {
  return STATUSES.includes(status) ? status : "other";
}

/** The tooltip of a status's badge, or undefined for one this page does not know. */
export function statusTitle(status) {
  return TITLES[status];
}

/**
 * The counts line: "5 hosts: 1 up, 1 stale, 1 down, 2 unknown". Unknown is named only when some host has it
 * (a regional aggregator never reports it); `shown` is added as "(3 shown)" when a filter is on.
 */
export function countsLine(hosts, shown = null) {
  const by = (status) => hosts.filter((h) => h.status === status).length;
  const parts = ["up", "stale", "down"].map((s) => `${by(s)} ${s}`);
  if (by("unknown") > 0) parts.push(`${by("unknown")} unknown`);
  let line = `${hosts.length} host${hosts.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
  if (shown != null) line += ` (${shown} shown)`;
  return line;
}
