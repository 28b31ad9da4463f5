// The aggregator's JSON API, on the same origin as the page.

const TIMEOUT_MS = 8000;

/** A failed API call; `status` is the HTTP status, or 0 when the aggregator could not be reached. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** GETs `path` and parses the JSON answer; throws ApiError with a message fit to show. */
export async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const reason = err.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000}s` : err.message;
    throw new ApiError(`cannot reach the aggregator: ${reason}`, 0);
  }
  if (!response.ok) {
    // The API answers {"error": "..."}; a proxy in between may answer anything.
    const body = await response.json().catch(() => null);
    const detail = body?.error ?? response.statusText;
    throw new ApiError(`the aggregator answered ${path} with HTTP ${response.status}${detail ? `: ${detail}` : ""}`, response.status);
  }
  try {
    return await response.json();
  } catch (err) {
    throw new ApiError(`the aggregator answered ${path} with something other than JSON (${err.message})`, response.status);
  }
}

/** The fleet: {hosts: [...]}. */
export const hosts = () => getJson("/api/hosts");

/** The regions: {role, regions: [{region, status, last_heard_ms, complete_before_ms, hosts, via}]}; 404 from an aggregator older than it. */
export const regions = () => getJson("/api/regions");

/** One host: {summary, inventory, interval_ms, latest}. */
export const host = (name) => getJson(`/api/hosts/${encodeURIComponent(name)}`);

/** One metric's series for a host; times in Unix milliseconds. */
export function series(name, metric, startMs, endMs, stepMs) {
  const q = new URLSearchParams({ metric, start: String(startMs), end: String(endMs), step: String(stepMs) });
  return getJson(`/api/hosts/${encodeURIComponent(name)}/series?${q}`);
}
