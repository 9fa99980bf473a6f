// The refund queue: refunds waiting for a review (status requested), oldest first, each approved
// (optional note) or rejected (note required). The two-person rule is shown on each refund: one an
// admin issued above the threshold carries its issuer's approval and needs another admin's; nobody
// approves a refund they asked for (the API answers 403; the console says so before).

import { get, post, tokenSubject } from "./api.js";
import { el, fillPager, money, when } from "./dom.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;

function what(refund) {
  if (refund.ends_plan) return "ends the plan (back to basic on approval)";
  return refund.receives ? `${refund.receives} receives taken back` : "money only (nothing taken back)";
}

function rule(refund, me) {
  if (refund.kind === "admin") {
    const issuer = refund.requested_by === me ? "you" : `admin ${refund.requested_by}`;
    const text = `Second approval needed: issued by ${issuer} (first approval); another admin must approve it.`;
    return el("p", { class: "rule two-person", "data-rule": "second-approval" }, text);
  }
  const text = refund.requested_by === me
    ? "You asked for this refund: another admin must review it."
    : `Asked for by user ${refund.requested_by}; one admin's approval sends it.`;
  return el("p", { class: "rule", "data-rule": "one-approval" }, text);
}

function card(refund, me, done) {
  const own = refund.requested_by === me;
  const note = el("textarea", { rows: 2, maxlength: 500, "aria-label": `Note on ${refund.id}`, class: "note",
    placeholder: "Note (optional to approve, required to reject)" });
  const approve = el("button", { type: "button", class: "approve", disabled: own,
    title: own ? "You cannot approve a refund you asked for" : null }, "Approve");
  const reject = el("button", { type: "button", class: "reject danger" }, "Reject");
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const act = async (action) => {
    const text = note.value.trim();
    if (action === "reject" && !text) {
      error.textContent = "A rejection needs a note (the user is told why).";
      error.hidden = false;
      note.focus();
      return;
    }
    approve.disabled = reject.disabled = true;
    try {
      const answer = await post(`refunds/${encodeURIComponent(refund.id)}/${action}`, text ? { note: text } : {});
      done(`Refund ${answer.id} ${action === "approve" ? "approved" : "rejected"}: now ${answer.status}.`);
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      approve.disabled = own;
      reject.disabled = false;
    }
  };
  approve.addEventListener("click", () => act("approve"));
  reject.addEventListener("click", () => act("reject"));
  return el("li", { class: "card", "data-refund-id": refund.id, "data-kind": refund.kind },
    el("h3", {}, el("span", { class: "amount" }, money(refund.amount, refund.currency)), " ",
      el("code", {}, refund.id)),
    rule(refund, me),
    el("dl", { class: "facts" },
      el("dt", {}, "User"), el("dd", {}, refund.user_id),
      el("dt", {}, "Transaction"), el("dd", {}, el("code", {}, refund.transaction_id)),
      el("dt", {}, "Refund"), el("dd", {}, what(refund)),
      el("dt", {}, "Reason"), el("dd", {}, refund.reason),
      el("dt", {}, "Provider"), el("dd", {}, refund.provider),
      el("dt", {}, "Asked"), el("dd", {}, when(refund.created_at))),
    note, el("div", { class: "actions" }, approve, reject), error);
}

export async function showRefundQueue(report, page = 1) {
  const answer = await get("refunds", { status: "requested", sort: "created_at", page, limit: PAGE_SIZE });
  const me = tokenSubject();
  const reload = (message) => {
    report(message, "ok");
    showRefundQueue(report, 1).catch(report);
  };
  $("refund-count").textContent = answer.total === 1 ? "1 refund waiting." : `${answer.total} refunds waiting.`;
  $("refund-queue").replaceChildren(...answer.items.map((refund) => card(refund, me, reload)));
  fillPager($("refund-pager"), answer, (next) => showRefundQueue(report, next).catch(report));
}
