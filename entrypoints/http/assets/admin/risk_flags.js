// Risk flags: GET /admin/risk/flags (open, resolved or all; by user), each open one resolved
// with a note (POST /admin/risk/flags/{id}/resolve).

import { get, post } from "./api.js";
import { el, fillPager, formValues, when } from "./dom.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;

function details(flag) {
  return Object.entries(flag.details || {}).map(([name, value]) =>
    `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`).join("; ") || "—";
}

function card(flag, report, reload) {
  const parts = [
    el("h3", {}, el("span", { class: "rule-name" }, flag.rule), " ", el("code", {}, flag.user_id)),
    el("dl", { class: "facts" },
      el("dt", {}, "Raised"), el("dd", {}, when(flag.created_at)),
      el("dt", {}, "Details"), el("dd", {}, details(flag)),
      ...(flag.resolved_at ? [el("dt", {}, "Resolved"), el("dd", {}, `${when(flag.resolved_at)} by ${flag.resolved_by}`),
        el("dt", {}, "Note"), el("dd", {}, flag.note ?? "—")] : [])),
  ];
  if (!flag.resolved_at) {
    const note = el("textarea", { rows: 2, maxlength: 500, "aria-label": `Note on ${flag.id}`, class: "note",
      placeholder: "Note (required)" });
    const resolve = el("button", { type: "button", class: "resolve" }, "Resolve");
    const error = el("p", { class: "error", role: "alert", hidden: true });
    resolve.addEventListener("click", async () => {
      if (!note.value.trim()) {
        error.textContent = "Resolving needs a note.";
        error.hidden = false;
        return;
      }
      resolve.disabled = true;
      try {
        await post(`risk/flags/${encodeURIComponent(flag.id)}/resolve`, { note: note.value.trim() });
        report(`Flag ${flag.id} resolved.`, "ok");
        reload();
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        resolve.disabled = false;
      }
    });
    parts.push(note, el("div", { class: "actions" }, resolve), error);
  }
  return el("li", { class: "card", "data-flag-id": flag.id }, ...parts);
}

export async function showRiskFlags(report, page = 1) {
  const filters = formValues($("risk-form"));
  const answer = await get("risk/flags", { resolved: filters.resolved, user_id: filters.user_id.trim(), page,
    limit: PAGE_SIZE });
  const reload = () => showRiskFlags(report, 1).catch(report);
  $("risk-count").textContent = answer.total === 1 ? "1 flag." : `${answer.total} flags.`;
  $("risk-flags").replaceChildren(...answer.items.map((flag) => card(flag, report, reload)));
  fillPager($("risk-pager"), answer, (next) => showRiskFlags(report, next).catch(report));
}

let wired = false;

export function wireRiskFlags(report) {
  if (wired) return;
  wired = true;
  $("risk-form").addEventListener("change", () => showRiskFlags(report, 1).catch(report));
  $("risk-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showRiskFlags(report, 1).catch(report);
  });
}
