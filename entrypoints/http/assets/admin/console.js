// The console's shell: sign-in with a pasted admin token, the navigation between pages
// (#dashboard, #refunds, #users, #audit, #risk) and the notice line that reports what happened.

import { ApiError, get, onSignedOut, signIn, signOut, token, tokenSubject } from "./api.js";
import { showAuditLog, wireAuditLog } from "./audit_log.js";
import { showDashboard } from "./dashboard.js";
import { showRefundQueue } from "./refund_queue.js";
import { showRiskFlags, wireRiskFlags } from "./risk_flags.js";
import { showUserLookup } from "./user_lookup.js";

const $ = (id) => document.getElementById(id);
const PAGES = {
  dashboard: (report) => showDashboard(report),
  refunds: (report) => showRefundQueue(report),
  users: (report) => showUserLookup(report),
  audit: (report) => { wireAuditLog(report); return showAuditLog(report); },
  risk: (report) => { wireRiskFlags(report); return showRiskFlags(report); },
};

/** Show `message` on the notice line: an error (`ApiError` or text) or, with kind "ok", a result. */
function report(message, kind = "error") {
  const notice = $("notice");
  const text = message instanceof ApiError ? `${message.message} (${message.status} ${message.code})`
    : message instanceof Error ? message.message : String(message);
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = false;
}

function currentPage() {
  const name = location.hash.replace(/^#/, "");
  return Object.hasOwn(PAGES, name) ? name : "dashboard";
}

async function show() {
  const signedIn = Boolean(token());
  $("sign-in").hidden = signedIn;
  $("nav").hidden = $("who").hidden = !signedIn;
  const page = currentPage();
  for (const name of Object.keys(PAGES)) $(`page-${name}`).hidden = !signedIn || name !== page;
  if (!signedIn) {
    document.body.dataset.page = "sign-in";
    $("token").focus();
    return;
  }
  $("who-name").textContent = tokenSubject() ?? "admin";
  for (const link of $("nav").querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.dataset.page === page);
  }
  document.body.dataset.page = page;
  document.body.dataset.loaded = "";
  try {
    await PAGES[page](report);
  } catch (error) {
    report(error);
  }
  document.body.dataset.loaded = page; // tests and humans alike: this page's data is in
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = $("token").value.trim();
  if (!value) return;
  signIn(value);
  try {
    await get("providers"); // the cheapest admin call: proves the token and its role
  } catch (error) {
    signOut();
    report(error.status === 403 ? "This token has no admin role." : error);
    return;
  }
  $("token").value = "";
  $("notice").hidden = true;
  await show();
});

$("sign-out").addEventListener("click", () => {
  signOut();
  $("notice").hidden = true;
  show();
});

onSignedOut(() => {
  report("The token was refused (expired or invalid): sign in again.");
  show();
});

window.addEventListener("hashchange", () => {
  $("notice").hidden = true;
  show();
});

show();
