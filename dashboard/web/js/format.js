// Number, size and time formatting shared by both pages.

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** "–" for values the API reports as null. */
export const NONE = "–";

/** 1536 -> "1.5 KiB"; binary units, at most one decimal. */
export function bytes(n) {
  if (n == null || !Number.isFinite(n)) return NONE;
  let unit = 0;
  let v = Math.abs(n);
  while (v >= 1024 && unit < BINARY_UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  const digits = unit === 0 || v >= 100 ? 0 : 1;
  return `${n < 0 ? "-" : ""}${trim(v.toFixed(digits))} ${BINARY_UNITS[unit]}`;
}

/** Bytes per second, e.g. "12.3 MiB/s". */
export function bytesRate(n) {
  return n == null || !Number.isFinite(n) ? NONE : `${bytes(n)}/s`;
}

/** A link speed in bits per second, e.g. 1e9 -> "1 Gbit/s"; 0 (unknown) -> "–". */
export function bitsRate(bps) {
  if (!bps) return NONE;
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
  let unit = 0;
  let v = bps;
  while (v >= 1000 && unit < units.length - 1) {
    v /= 1000;
    unit++;
  }
  return `${trim(v.toFixed(v >= 100 ? 0 : 1))} ${units[unit]}`;
}

/** 12.345 -> "12.3%". */
export function percent(v) {
  return v == null || !Number.isFinite(v) ? NONE : `${v.toFixed(1)}%`;
}

/** A plain number with up to two decimals, e.g. an axis tick. */
export function number(v) {
  return v == null || !Number.isFinite(v) ? NONE : trim(v.toFixed(2));
}

/** A load average, always with two decimals so a column of them lines up. */
export function load(v) {
  return v == null || !Number.isFinite(v) ? NONE : v.toFixed(2);
}

/** How long ago `ms` (Unix milliseconds) was: "12s ago", "5m ago", "3h ago", "2d ago". */
export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  return `${duration(Math.max(0, now - ms), 1)} ago`;
}

/** 93784000 -> "1d 2h"; `parts` is how many units to show. */
export function duration(ms, parts = 2) {
  let s = Math.floor(ms / 1000);
  const units = [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ];
  const out = [];
  for (const [name, size] of units) {
    if (s >= size || (name === "s" && out.length === 0)) {
      out.push(`${Math.floor(s / size)}${name}`);
      s %= size;
    }
    if (out.length === parts) break;
  }
  // Drop trailing zero parts ("2h 0m" -> "2h").
  while (out.length > 1 && /^0/.test(out[out.length - 1])) out.pop();
  return out.join(" ");
}

/** A local date and time, e.g. "2024-05-01 14:03" (with `seconds`, "2024-05-01 14:03:07"). */
export function dateTime(ms, seconds = false) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ""}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

function trim(fixed) {
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}
