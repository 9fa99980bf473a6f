// Building the page safely and formatting figures: elements are made with text nodes only (markup
// is never parsed, so no value from the API can become markup), money is integer fen shown as CNY.

/** `el("td", {class: "num"}, "17.00")`: an element with attributes and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** 1700 → "17.00"; -250 → "-2.50" (integer arithmetic: fen never pass through a float). */
export function yuan(fen) {
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

export function money(fen, currency = "CNY") {
  return `${yuan(fen)} ${currency}`;
}

/** "2026-12-05T04:58:47Z" → "2026-12-05 04:58:47 UTC". */
export function when(timestamp) {
  return timestamp ? `${timestamp.replace("T", " ").replace(/Z$/, "")} UTC` : "—";
}

/** Replace `table`'s rows: `columns` are [heading, cell(row) → text or Node, className?]. */
export function fillTable(table, columns, rows, empty = "Nothing to show.") {
  table.replaceChildren(
    el("thead", {}, el("tr", {}, columns.map(([heading, , cls]) => el("th", { scope: "col", class: cls }, heading)))),
    el("tbody", {}, rows.length
      ? rows.map((row) => el("tr", {}, columns.map(([, cell, cls]) => el("td", { class: cls }, cell(row)))))
      : el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, empty))),
  );
}

/** A pager under a page of a list: "Page 2 of 5" with Previous / Next, calling `go(page)`. */
export function fillPager(container, answer, go) {
  const pages = Math.max(1, Math.ceil(answer.total / answer.limit));
  const previous = el("button", { type: "button", class: "secondary", disabled: answer.page <= 1 }, "Previous");
  const next = el("button", { type: "button", class: "secondary", disabled: !answer.has_more }, "Next");
  previous.addEventListener("click", () => go(answer.page - 1));
  next.addEventListener("click", () => go(answer.page + 1));
  container.replaceChildren(previous, el("span", {}, `Page ${answer.page} of ${pages}`), next);
}

export function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}
