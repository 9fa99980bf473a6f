// The audit log: GET /admin/audit-log, newest first, filtered by actor, object id and action.
// Append-only on the server: the console only reads it.

import { get } from "./api.js";
import { el, fillPager, fillTable, formValues, when } from "./dom.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 25;

function details(entry) {
  const text = Object.entries(entry.details || {}).map(([name, value]) =>
    `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`).join("; ");
  return text || "—";
}

export async function showAuditLog(report, page = 1) {
  const answer = await get("audit-log", { ...formValues($("audit-form")), page, limit: PAGE_SIZE });
  fillTable($("audit-table"), [
    ["When", (e) => when(e.created_at)],
    ["Actor", (e) => e.actor],
    ["Action", (e) => e.action],
    ["Object", (e) => el("code", {}, e.object_id)],
    ["Details", details, "details"],
  ], answer.items, "No entries.");
  for (const [row, entry] of [...$("audit-table").tBodies[0].rows].map((r, i) => [r, answer.items[i]])) {
    if (entry) row.dataset.objectId = entry.object_id;
  }
  fillPager($("audit-pager"), answer, (next) => showAuditLog(report, next).catch(report));
}

let wired = false;

export function wireAuditLog(report) {
  if (wired) return;
  wired = true;
  $("audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showAuditLog(report, 1).catch(report);
  });
}
