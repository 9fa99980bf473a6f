// User lookup: GET /admin/users/{id}, the user's membership, latest transactions, refunds and
// risk flags as the admin API answers them (a user never seen reads as a new basic member).

import { get } from "./api.js";
import { el, fillTable, formValues, money, when } from "./dom.js";

const $ = (id) => document.getElementById(id);

function what(t) {
  if (t.type === "purchase_receives") return `${t.receives} receives`;
  return `${t.plan_from ?? "—"} → ${t.plan_to ?? "—"}`;
}

function table(columns, rows, empty) {
  const element = el("table", { class: "data" });
  fillTable(element, columns, rows, empty);
  return el("div", { class: "scroll" }, element);
}

function render(user) {
  const m = user.membership;
  const change = m.scheduled_change ? `${m.scheduled_change.plan} at ${when(m.scheduled_change.effective_at)}` : "none";
  return [
    el("h3", {}, "Membership of ", el("code", {}, user.user_id)),
    el("dl", { class: "figures", id: "user-membership" },
      ...[["Plan", m.plan], ["Status", m.status], ["Period ends", when(m.current_period_end)],
        ["Scheduled change", change], ["Receives", String(m.receives.balance)],
        ["Purchased left", String(m.receives.purchased_remaining)]]
        .map(([name, value]) => el("div", { "data-figure": name }, el("dt", {}, name), el("dd", {}, value)))),
    el("h3", {}, "Latest transactions"),
    table([
      ["Created", (t) => when(t.created_at)], ["Id", (t) => el("code", {}, t.id)], ["What", what],
      ["Status", (t) => t.status], ["Method", (t) => t.payment_method ?? "—"],
      ["Total", (t) => money(t.total, t.currency), "num"], ["Refunded", (t) => money(t.refunded_amount, t.currency), "num"],
    ], user.transactions, "No transactions."),
    el("h3", {}, "Refunds"),
    table([
      ["Asked", (r) => when(r.created_at)], ["Id", (r) => el("code", {}, r.id)], ["Kind", (r) => r.kind],
      ["Status", (r) => r.status], ["Amount", (r) => money(r.amount, r.currency), "num"], ["Reason", (r) => r.reason],
    ], user.refunds, "No refunds."),
    el("h3", {}, "Risk flags"),
    table([
      ["Raised", (f) => when(f.created_at)], ["Rule", (f) => f.rule],
      ["Resolved", (f) => (f.resolved_at ? `${when(f.resolved_at)} by ${f.resolved_by}` : "open")],
    ], user.risk_flags, "No risk flags."),
  ];
}

async function lookUp(report) {
  const userId = formValues($("user-form")).user_id.trim();
  if (!userId) return;
  const user = await get(`users/${encodeURIComponent(userId)}`);
  $("user-result").replaceChildren(...render(user));
}

let wired = false;

export async function showUserLookup(report) {
  if (wired) return;
  wired = true;
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    lookUp(report).catch(report);
  });
}
