// Small DOM helpers. Text always goes in as text nodes: host names and labels come from agents.

import * as fmt from "./format.js";
import { statusClass, statusTitle } from "./status.js";

/** Creates `<tag>` with properties (`class`, `style` object, `data-*`/`aria-*` attributes, DOM properties) and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "title" || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.flat().filter((child) => child != null && child !== false));
  return node;
}

/** A coloured status badge (up, stale, down; unknown in grey, for a host of an unreachable region), with what it means as its tooltip. */
export function badge(status) {
  return el("span", { class: `badge ${statusClass(status)}`, title: statusTitle(status) }, status ?? "unknown");
}

/** A percentage with a small inline bar, coloured by how full it is; `note` follows the value. */
export function meter(pct, note) {
  if (pct == null) return el("span", { class: "muted" }, fmt.NONE);
  const level = pct >= 90 ? "crit" : pct >= 75 ? "warn" : "ok";
  const width = `${Math.min(100, Math.max(0, pct))}%`;
  return el(
    "span",
    { class: "meter" },
    el("span", { class: "meter-track" }, el("span", { class: `meter-fill ${level}`, style: { width } })),
    el("span", { class: "meter-value" }, fmt.percent(pct)),
    note ? el("span", { class: "meter-note", title: note }, note) : null,
  );
}

/** Shows `node` with `text`, or hides it when text is empty. */
export function notice(node, text) {
  node.hidden = !text;
  node.textContent = text ?? "";
}

/** Calls `fn` now and every `ms` while the page is visible, and at once when it becomes visible again. */
export function every(ms, fn) {
  let running = false;
  const tick = async () => {
    // A slow aggregator must not pile requests up: skip a tick while the last one is in flight.
    if (running || document.hidden) return;
    running = true;
    try {
      await fn();
    } finally {
      running = false;
    }
  };
  tick();
  const timer = setInterval(tick, ms);
  document.addEventListener("visibilitychange", tick);
  return () => {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", tick);
  };
}
