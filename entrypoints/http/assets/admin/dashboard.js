// The dashboard: revenue by day and plan (chart and table), success rates by provider,
// subscriptions and the providers' circuits, each from its admin analytics endpoint.

import { get } from "./api.js";
import { el, fillTable, formValues, money } from "./dom.js";
import { drawRevenue } from "./revenue_chart.js";

const $ = (id) => document.getElementById(id);

function isoDay(date, tz) {
  // en-CA formats as YYYY-MM-DD; the day it is in `tz`.
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(date);
}

function percent(bps) {
  return bps == null ? "—" : `${Math.trunc(bps / 100)}.${String(bps % 100).padStart(2, "0")} %`;
}

async function showRevenue() {
  const query = { ...formValues($("revenue-form")), interval: "day", group_by: "plan" };
  drawRevenue($("revenue-chart"), $("revenue-table"), await get("analytics/revenue", query));
}

async function showRates() {
  const answer = await get("analytics/success-rates", { window: formValues($("rates-form")).window, group_by: "provider" });
  fillTable($("rates-table"), [
    ["Provider", (i) => i.provider],
    ["Sessions", (i) => String(i.sessions), "num"],
    ["Paid", (i) => String(i.completed), "num"],
    ["Failed", (i) => String(i.failed), "num"],
    ["Expired", (i) => String(i.expired), "num"],
    ["Cancelled", (i) => String(i.cancelled), "num"],
    ["Success rate", (i) => percent(i.success_rate_bps), "num"],
    ["Median time to pay", (i) => (i.median_seconds_to_pay == null ? "—" : `${i.median_seconds_to_pay} s`), "num"],
  ], answer.items, "No session ended in this window.");
}

async function showSubscriptions() {
  const s = await get("analytics/subscriptions");
  const figures = [
    ["Basic", s.active.basic], ["Pro", s.active.pro], ["VIP", s.active.vip], ["Past due", s.past_due],
    ["MRR", money(s.mrr)], ["Renewals (30 d)", `${s.renewals_30d.succeeded} paid, ${s.renewals_30d.failed} failed`],
    ["Churned (30 d)", s.churned_30d],
  ];
  $("subscriptions").replaceChildren(...figures.map(([name, value]) =>
    el("div", { "data-figure": name }, el("dt", {}, name), el("dd", {}, String(value)))));
}

async function showProviders() {
  const answer = await get("providers");
  fillTable($("providers-table"), [
    ["Provider", (p) => p.provider],
    ["Methods", (p) => p.methods.join(", ")],
    ["Circuit", (p) => el("span", { class: `circuit circuit-${p.circuit}` }, p.circuit.replace("_", " "))],
    ["Failures in a row", (p) => String(p.consecutive_failures), "num"],
    ["Success rate (1 h)", (p) => percent(p.success_rate_bps_1h), "num"],
  ], answer.items);
}

let wired = false;

export async function showDashboard(report) {
  if (!wired) {
    wired = true;
    const form = $("revenue-form");
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const now = new Date();
    form.elements.tz.value = tz;
    form.elements.date_to.value = isoDay(now, tz);
    form.elements.date_from.value = isoDay(new Date(now.getTime() - 29 * 86400 * 1000), tz);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      showRevenue().catch(report);
    });
    $("rates-form").addEventListener("change", () => showRates().catch(report));
  }
  await Promise.all([showRevenue(), showRates(), showSubscriptions(), showProviders()]);
}
