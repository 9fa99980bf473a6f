// The revenue chart: net revenue by day and plan from GET /admin/analytics/revenue
// (interval=day, group_by=plan), drawn with the vendored uPlot (vendor/, a global `uPlot`), and
// the same figures exactly in a table beside it. The API lists only days with a sale or a refund;
// the chart fills the other days of the range with zeros.

import { el, fillTable, money, yuan } from "./dom.js";

const COLORS = { receives: "#1f6fd1", pro: "#d1731f", vip: "#8a3fb8", basic: "#6b7280" };
const SPARE_COLORS = ["#0f8a5f", "#b8323f", "#4a5a8a"];
const DAY_SECONDS = 86400;

/** Receive purchases belong to no plan: the API's `group: null`. */
export const groupName = (group) => group ?? "receives";

/** Every calendar day from `from` to `to` (YYYY-MM-DD, both included). */
export function daysBetween(from, to) {
  const days = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY_SECONDS * 1000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** {days, groups, net: {group: [fen per day]}} from the API's answer. */
export function chartData(report) {
  const days = daysBetween(report.date_from, report.date_to);
  const index = new Map(days.map((day, i) => [day, i]));
  const net = {};
  for (const row of report.series) {
    const group = groupName(row.group);
    net[group] ??= days.map(() => 0);
    if (index.has(row.period_start)) net[group][index.get(row.period_start)] += row.net;
  }
  return { days, groups: Object.keys(net), net };
}

let chart = null;

/** Draw `report` into `container` (replacing what was there) and list it in `table`. */
export function drawRevenue(container, table, report) {
  const { days, groups, net } = chartData(report);
  container.dataset.series = JSON.stringify(net); // what the chart was given, per plan, in fen
  container.dataset.days = String(days.length);
  if (chart) chart.destroy();
  chart = null;
  container.replaceChildren();
  if (!groups.length) {
    container.append(el("p", { class: "empty" }, "No sales or refunds in this range."));
  } else {
    const options = {
      width: chartWidth(container),
      height: 260,
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"), // x values are calendar days
      scales: { x: { time: true } },
      series: [
        { label: "Day", value: (u, seconds) => (seconds == null ? "—" : new Date(seconds * 1000).toISOString().slice(0, 10)) },
        ...groups.map((group, i) => ({
          label: group,
          stroke: COLORS[group] ?? SPARE_COLORS[i % SPARE_COLORS.length],
          width: 2,
          points: { show: true, size: 7 },
          value: (u, fen) => (fen == null ? "—" : yuan(Math.round(fen))),
        })),
      ],
      axes: [{}, { values: (u, splits) => splits.map((fen) => yuan(Math.round(fen))), size: 60 }],
    };
    const data = [days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000), ...groups.map((group) => net[group])];
    chart = new uPlot(options, data, container);
  }
  fillTable(table, [
    ["Day", (row) => row.period_start],
    ["Plan", (row) => groupName(row.group)],
    ["Gross", (row) => money(row.gross, report.currency), "num"],
    ["Refunded", (row) => money(row.refunded, report.currency), "num"],
    ["Net", (row) => money(row.net, report.currency), "num"],
    ["Sales", (row) => String(row.transactions), "num"],
  ], report.series, "No sales or refunds in this range.");
}

function chartWidth(container) {
  return Math.max(200, container.clientWidth || 320);
}

window.addEventListener("resize", () => {
  if (chart) chart.setSize({ width: chartWidth(chart.root.parentElement), height: 260 });
});
