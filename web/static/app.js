// Winkel Orders operations dashboard: plain ES modules, no build step.
// The order list, worklist, detail and dead letters read the JSON API, one page at a time; the
// view lives in the URL (History API). Live data arrives over /ws: `orders` frames patch the
// rows on screen in place, `stats` frames carry the figures, charts, OSS gauges and pollers.
// Every text comes from the catalogue in i18n.js, every number and time from its Intl formats.

import {
  LANGUAGES, ago, applyStatic, clockTime, date, dateTimeZone, decimal, duration, hourMinute,
  known, language, milliseconds, money, number, percent, setLanguage, t, tOr, timeZone,
} from "/static/i18n.js";

const STAGES = ["new", "paid", "partially_shipped", "shipped", "invoiced", "cancelled",
  "return_requested", "returned", "credited"];
const STATUSES = {
  payment_status: ["pending", "paid", "refunded"],
  fulfilment_status: ["unfulfilled", "partial", "fulfilled", "cancelled"],
  invoice_status: ["none", "partial", "invoiced"],
  return_status: ["none", "requested", "returned"],
};
//: The list's filters, as the API and the URL name them, and the form field of each.
const FILTERS = {
  q: "q", marketplace: "f-marketplace", store: "f-store", stage: "f-stage", company: "f-company",
  country: "f-country", payment_status: "f-payment", fulfilment_status: "f-fulfilment",
  invoice_status: "f-invoice", return_status: "f-return", from: "f-from", to: "f-to",
};
const MORE_FILTERS = ["company", "country", "payment_status", "fulfilment_status", "invoice_status", "return_status", "from", "to"];
const DEFAULT_SORT = "ordered_at";
const PAGE_SIZE = 50;
const TOKEN_KEY = "winkel.operatorToken";
const OPERATOR_KEY = "winkel.operatorId";
const ROLE_KEY = "winkel.role";

// The columns of the order list: its catalogue key, the API's sort key, and how a cell shows.
const COLUMNS = [
  { key: "col.order", sort: "name", cell: (o) => [orderLink(o), sub(o.external_order_id && ![o.external_order_id, `#${o.external_order_id}`].includes(o.name) ? o.external_order_id : "")] },
  { key: "col.ordered", sort: "ordered_at", cell: (o) => [o.ordered_at ? date(o.ordered_at) : t("dash"), sub(o.ordered_at ? hourMinute(o.ordered_at) : "")], title: (o) => dateTimeZone(o.ordered_at) },
  { key: "col.marketplace", sort: "marketplace", cell: (o) => [marketplace(o.marketplace)] },
  { key: "col.store", sort: "store", cell: (o) => [o.store_id ?? t("dash"), sub(companies(o))] },
  { key: "col.customer", sort: "customer", cell: (o) => [h("span", { class: "clip" }, o.customer ?? t("dash")), sub(o.country ?? "")], cls: "customer" },
  { key: "col.total", sort: "total_gross", num: true, cell: (o) => [money(o.total_gross, o.currency)] },
  { key: "col.payment", cell: (o) => [badge("payment", o.payment_status)] },
  { key: "col.fulfilment", cell: (o) => [badge("fulfilment", o.fulfilment_status)] },
  { key: "col.invoice", cell: (o) => [badge("invoice", o.invoice_status)] },
  { key: "col.return", cell: (o) => [badge("return", o.return_status)] },
  { key: "col.stage", sort: "stage", cell: (o) => [stagePill(o.stage)] },
  { key: "col.in_stage", sort: "stage_since", num: true, cell: (o) => [duration(secondsInStage(o))], title: (o) => t("col.since", { when: dateTimeZone(o.stage_since ?? o.updated_at) }), late: (o) => isLate(o) },
];

const state = {
  view: "list",             // list | stuck | dead
  listKey: null,            // the query the rows on screen answer
  rows: new Map(),          // uuid -> summary, the rows on screen
  page: { total: null, next: null, cursors: [] },
  fresh: new Set(),         // uuids new to this page that fit the view
  known: new Set(),         // uuids this page has seen (lists, frames): changes to them are no news
  stats: null,
  detailUuid: null,
  detail: null,
  worklist: null,
  worklistKey: null,
  deadLetters: null,
  seen: { stores: new Set(), companies: new Set(), countries: new Set() },
  charts: {},
};

// --- small helpers ---------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") el.style.cssText = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const sub = (text) => (text ? h("div", { class: "sub" }, text) : null);
const stageSince = (o) => Date.parse(o.stage_since ?? o.updated_at) / 1000;
const secondsInStage = (o) => Date.now() / 1000 - stageSince(o);
const stuckLimit = (stage) => state.stats?.bottlenecks?.find((b) => b.stage === stage)?.limit_seconds ?? null;
const isLate = (o) => { const limit = stuckLimit(o.stage); return limit !== null && secondsInStage(o) > limit; };

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 3500);
}

async function reasonOf(reply) {
  try {
    const body = await reply.json();
    return body.reason ?? body.error ?? t("error.unknown");
  } catch { return t("error.unknown"); }
}

// --- badges ----------------------------------------------------------------------------------

const TONES = {
  payment: { pending: "amber", paid: "green", refunded: "violet" },
  fulfilment: { unfulfilled: "gray", partial: "amber", fulfilled: "green", cancelled: "red" },
  invoice: { none: "gray", partial: "amber", invoiced: "green" },
  return: { none: null, requested: "amber", returned: "violet" },
};

function badge(kind, value) {
  if (value === undefined || value === null) return h("span", { class: "dash" }, t("dash"));
  const tone = TONES[kind]?.[value];
  if (tone === null) return h("span", { class: "dash", title: t(`${kind}.${value}`) }, "—");
  return h("span", { class: `badge ${tone ?? "gray"}`, dataset: { value } }, tOr(`${kind}.${value}`, value));
}

const stageName = (stage) => tOr(`stage.${stage}`, stage);
const stagePill = (stage) => h("span", { class: `stage-pill s-${stage}`, dataset: { stage } }, stageName(stage));
const MARKETPLACE_NAMES = { shopify: "Shopify", woocommerce: "WooCommerce", bol: "bol", amazon: "Amazon" };
const marketplaceName = (name) => MARKETPLACE_NAMES[name] ?? name ?? "";
const marketplace = (name) => h("span", { class: `mp mp-${name}` }, marketplaceName(name));
// A split order ships from several companies; older summaries name only the store's.
const companies = (o) => (o.companies?.length ? o.companies : [o.company_id ?? ""]).join(" + ");

// Links inside the page travel by the History API; their href makes them shareable.
function link(href, attrs, ...children) {
  return h("a", { href, ...attrs, onclick: (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    e.stopPropagation();
    go(href, { under: state.view, listQuery: listQueryOf() });
  } }, ...children);
}
const orderHref = (uuid) => `/orders/${uuid}`;
const orderLink = (o) => link(orderHref(o.order_uuid), { class: "order-link" }, h("b", {}, o.name ?? o.external_order_id ?? o.order_uuid.slice(0, 8)));

// --- session: nothing is read, shown or streamed before a viewer or operator signs in ---------

const token = () => sessionStorage.getItem(TOKEN_KEY);
const mayAct = () => sessionStorage.getItem(ROLE_KEY) === "operator";

function renderOperator() {
  const operatorId = sessionStorage.getItem(OPERATOR_KEY);
  const role = sessionStorage.getItem(ROLE_KEY) ?? "operator";
  $("signin-open").hidden = Boolean(operatorId);
  $("signout").hidden = !operatorId;
  $("operator-name").hidden = !operatorId;
  $("operator-name").textContent = operatorId ? t("session.as", { operator: operatorId, role: tOr(`role.${role}`, role) }) : "";
  $("operator-name").dataset.role = role;
  if (state.detailUuid) renderActionNote();
}

// Every read carries the token; a 401 (token withdrawn) ends the session on this page.
async function api(url) {
  const reply = await fetch(url, { headers: { Authorization: `Bearer ${token()}` } });
  if (reply.status === 401) signOut();
  return reply;
}

function showSignIn() {
  $("signin-error").hidden = true;
  if (!$("signin").open) $("signin").showModal();
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const candidate = $("token").value.trim();
  const reply = await fetch("/api/session", { headers: { Authorization: `Bearer ${candidate}` } });
  if (reply.status !== 200) {
    $("signin-error").textContent = reply.status === 401 ? t("session.invalid") : t("session.failed", { status: reply.status });
    $("signin-error").hidden = false;
    return;
  }
  const { operator_id: operatorId, role } = await reply.json();
  sessionStorage.setItem(TOKEN_KEY, candidate);
  sessionStorage.setItem(OPERATOR_KEY, operatorId);
  sessionStorage.setItem(ROLE_KEY, role ?? "operator");
  $("signin").close();
  $("token").value = "";
  renderOperator();
  toast(t("session.welcome", { operator: operatorId }));
  begin();
}

// Signing out forgets the token and everything shown: the page starts again, empty.
function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(OPERATOR_KEY);
  sessionStorage.removeItem(ROLE_KEY);
  location.reload();
}

async function authorised(url, body) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const reply = await fetch(url, { method: "POST", headers, body: JSON.stringify(body ?? {}) });
  let payload = {};
  try { payload = await reply.json(); } catch { /* an empty or plain-text answer */ }
  return { status: reply.status, payload };
}

// --- routing: /, /orders/<uuid>, /stuck, /dead-letters -------------------------------------

// The list's query string while the list is the view; an order's URL keeps the list it came
// from in its history entry.
function listQueryOf() {
  if (location.pathname === "/") return location.search;
  return history.state?.listQuery ?? "";
}

function go(url, extra = {}, { replace = false } = {}) {
  const entry = { ...extra, app: true };
  if (replace) history.replaceState(entry, "", url);
  else history.pushState(entry, "", url);
  applyRoute();
}

function route() {
  const path = location.pathname;
  const order = path.match(/^\/orders\/([0-9a-fA-F-]{36})\/?$/);
  if (order) return { view: history.state?.under ?? "list", order: order[1].toLowerCase(), listQuery: history.state?.listQuery ?? "" };
  if (path === "/stuck") return { view: "stuck", order: null, listQuery: listQueryOf() };
  if (path === "/dead-letters") return { view: "dead", order: null, listQuery: listQueryOf() };
  return { view: "list", order: null, listQuery: location.search };
}

function applyRoute() {
  const { view, order, listQuery } = route();
  state.view = view;
  document.body.dataset.view = view;
  for (const el of document.querySelectorAll("[data-views]")) el.hidden = !el.dataset.views.split(" ").includes(view);
  // The OSS card shows once a stats frame has brought the gauges.
  if (!$("vat-thresholds-card").dataset.known) $("vat-thresholds-card").hidden = true;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.route === view);
  if (view === "list") loadList(listQuery);
  if (view === "stuck") loadWorklist(location.pathname === "/stuck" ? location.search : "");
  if (view === "dead") loadDeadLetters();
  if (order) openDetail(order); else hideDetail();
  requestAnimationFrame(resizeCharts);
}

// --- the order list: one server page, sorted and filtered by the API ---------------------------

function viewParams(query) {
  const params = new URLSearchParams(query);
  for (const key of [...params.keys()]) if (!params.get(key)) params.delete(key);
  return params;
}

function fillForm(params) {
  for (const [name, id] of Object.entries(FILTERS)) $(id).value = params.get(name) ?? "";
  if (MORE_FILTERS.some((name) => params.get(name))) showMoreFilters(true);
  renderHead(params);
}

function formParams() {
  const current = viewParams(listQueryOf());
  const params = new URLSearchParams();
  for (const [name, id] of Object.entries(FILTERS)) {
    const value = $(id).value.trim();
    if (value) params.set(name, name === "country" ? value.toUpperCase() : value);
  }
  for (const keep of ["sort", "dir"]) if (current.get(keep)) params.set(keep, current.get(keep));
  return params;
}

// A filter change starts at the first page again.
function applyFilters() {
  const params = formParams();
  const query = params.toString();
  go(query ? `/?${query}` : "/", {});
}

function sortBy(column) {
  const params = viewParams(listQueryOf());
  params.delete("after");
  const current = params.get("sort") ?? DEFAULT_SORT;
  const dir = params.get("dir") ?? "desc";
  params.set("sort", column);
  params.set("dir", current === column && dir === "desc" ? "asc" : "desc");
  go(`/?${params}`, {});
}

function renderHead(params = viewParams(listQueryOf())) {
  const sort = params.get("sort") ?? DEFAULT_SORT;
  const dir = params.get("dir") ?? "desc";
  $("orders-head").replaceChildren(...COLUMNS.map((c) => {
    const label = t(c.key);
    const th = h("th", { class: [c.num ? "num" : "", c.cls ?? ""].join(" ").trim() || null, dataset: { col: c.key.slice(4) } });
    if (!c.sort) { th.textContent = label; return th; }
    th.dataset.sort = c.sort;
    if (sort === c.sort) th.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
    th.append(h("button", { type: "button", class: "sort", title: t("sort.by", { column: label }), onclick: () => sortBy(c.sort) },
      label, h("span", { class: "arrow", "aria-hidden": "true" }, sort === c.sort ? (dir === "asc" ? "▲" : "▼") : "")));
    return th;
  }));
}

let listRequest = 0;
async function loadList(query, { force = false } = {}) {
  const params = viewParams(query);
  const key = params.toString();
  if (!force && key === state.listKey) return;
  state.listKey = key;
  state.fresh = new Set();
  renderFresh();
  fillForm(params);
  const ask = new URLSearchParams(params);
  ask.set("limit", String(PAGE_SIZE));
  const mine = ++listRequest;
  if (!state.rows.size) $("orders").replaceChildren(emptyRow(t("orders.loading")));
  const reply = await api(`/api/orders?${ask}`);
  if (mine !== listRequest) return;
  if (!reply.ok) {
    state.rows = new Map();
    $("orders").replaceChildren(emptyRow(t("orders.failed", { status: reply.status, reason: await reasonOf(reply) }), "error"));
    state.page = { total: 0, next: null, cursors: [] };
    renderPager();
    return;
  }
  const body = await reply.json();
  const orders = body.orders ?? [];
  state.page = {
    total: body.total ?? orders.length,
    next: body.next ?? null,
    cursors: history.state?.cursors ?? [],
  };
  for (const o of orders) { remember(o); state.known.add(o.order_uuid); }
  renderRows(orders);
  renderPager();
}

function emptyRow(text, cls = "") {
  return h("tr", { class: `empty ${cls}`.trim() }, h("td", { colspan: COLUMNS.length }, text));
}

function renderCell(td, column, o) {
  const parts = column.cell(o);
  // Only what changed is touched: the signature of a cell is its text and its state.
  const title = column.title ? column.title(o) : "";
  const late = column.late ? column.late(o) : false;
  const probe = h("td", {}, ...parts);
  const signature = `${probe.innerHTML}|${title}|${late}`;
  if (td.dataset.sig === signature) return false;
  td.dataset.sig = signature;
  td.replaceChildren(...probe.childNodes);
  td.title = title;
  td.classList.toggle("late", late);
  return true;
}

function newRow(o) {
  const tr = h("tr", { dataset: { uuid: o.order_uuid }, onclick: (e) => {
    if (e.target.closest("a, button")) return;
    go(orderHref(o.order_uuid), { under: state.view, listQuery: listQueryOf() });
  } }, ...COLUMNS.map((c) => h("td", { class: [c.num ? "num" : "", c.cls ?? ""].join(" ").trim() || null })));
  return tr;
}

function patchRow(tr, o) {
  let changed = false;
  COLUMNS.forEach((column, i) => { changed = renderCell(tr.children[i], column, o) || changed; });
  tr.classList.toggle("selected", o.order_uuid === state.detailUuid);
  return changed;
}

// Keyed by order: a row already on screen keeps its node and only its changed cells change.
function renderRows(orders) {
  const tbody = $("orders");
  if (!orders.length) {
    state.rows = new Map();
    const filtered = [...viewParams(state.listKey).keys()].some((k) => k in FILTERS);
    tbody.replaceChildren(emptyRow(filtered ? t("orders.none") : t("orders.empty")));
    return;
  }
  const existing = new Map([...tbody.querySelectorAll("tr[data-uuid]")].map((tr) => [tr.dataset.uuid, tr]));
  for (const empty of tbody.querySelectorAll("tr.empty")) empty.remove();
  state.rows = new Map(orders.map((o) => [o.order_uuid, o]));
  let cursor = tbody.firstElementChild;
  for (const o of orders) {
    let tr = existing.get(o.order_uuid);
    existing.delete(o.order_uuid);
    if (!tr) tr = newRow(o);
    patchRow(tr, o);
    if (tr !== cursor) tbody.insertBefore(tr, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const stale of existing.values()) stale.remove();
}

function renderPager() {
  const { total, next, cursors } = state.page;
  const count = total === 1 ? t("orders.count.one") : t("orders.count", { count: number(total ?? 0) });
  $("orders-count").textContent = count;
  const first = cursors.length * PAGE_SIZE + (state.rows.size ? 1 : 0);
  const last = cursors.length * PAGE_SIZE + state.rows.size;
  $("page-info").textContent = t("orders.range", { first: number(first), last: number(last), total: number(total ?? 0) });
  $("page-prev").disabled = !cursors.length;
  $("page-next").disabled = !next;
}

function nextPage() {
  const params = viewParams(state.listKey);
  const cursors = [...state.page.cursors, params.get("after") ?? ""];
  params.set("after", state.page.next);
  go(`/?${params}`, { cursors });
}

function previousPage() {
  const params = viewParams(state.listKey);
  const cursors = [...state.page.cursors];
  const after = cursors.pop();
  if (after) params.set("after", after); else params.delete("after");
  const query = params.toString();
  go(query ? `/?${query}` : "/", { cursors });
}

// Whether a changed order belongs to the view on screen, as far as the client can tell; the
// server decides for real when the operator asks for the fresh rows.
function inView(o) {
  const params = viewParams(state.listKey);
  const field = { store: "store_id", stage: "stage", marketplace: "marketplace", country: "country",
    payment_status: "payment_status", fulfilment_status: "fulfilment_status", invoice_status: "invoice_status", return_status: "return_status" };
  for (const [name, key] of Object.entries(field)) if (params.get(name) && o[key] !== params.get(name)) return false;
  if (params.get("company") && !(o.companies ?? [o.company_id]).includes(params.get("company"))) return false;
  const ordered = o.ordered_at?.slice(0, 10);
  if (params.get("from") && ordered && ordered < params.get("from").slice(0, 10)) return false;
  if (params.get("to") && ordered && ordered > params.get("to").slice(0, 10)) return false;
  // As the API searches: every word of q starts a word of the name, id, customer, SKU or uuid.
  const fold = (text) => String(text ?? "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  const words = fold(params.get("q") ?? "").split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (words.length) {
    const hay = [o.name, o.external_order_id, o.customer, o.order_uuid, ...(o.lines ?? []).map((l) => l.sku)]
      .flatMap((v) => fold(v).split(/[^\p{L}\p{N}]+/u)).filter(Boolean);
    if (!words.every((w) => hay.some((word) => word.startsWith(w)))) return false;
  }
  return true;
}

function renderFresh() {
  const n = state.fresh.size;
  $("fresh").hidden = !n;
  $("fresh").textContent = n === 1 ? t("orders.fresh.one") : t("orders.fresh", { count: number(n) });
}

// Rows on screen change in place; others that fit the view are counted, never jammed in.
function takeOrders(orders, { count = true } = {}) {
  for (const o of orders) {
    remember(o);
    const tr = state.rows.has(o.order_uuid) ? $("orders").querySelector(`tr[data-uuid="${o.order_uuid}"]`) : null;
    if (tr) {
      state.rows.set(o.order_uuid, o);
      if (patchRow(tr, o)) {
        tr.classList.remove("fresh");
        void tr.offsetWidth; // restart the highlight
        tr.classList.add("fresh");
      }
    } else if (count && !state.known.has(o.order_uuid) && state.view === "list" && inView(o)) {
      state.fresh.add(o.order_uuid);
    }
    state.known.add(o.order_uuid);
  }
  renderFresh();
}

function remember(o) {
  const add = (kind, value, listId) => {
    if (!value || state.seen[kind].has(value)) return;
    state.seen[kind].add(value);
    $(listId).replaceChildren(...[...state.seen[kind]].sort().map((v) => h("option", { value: v })));
  };
  add("stores", o.store_id, "stores");
  for (const company of o.companies?.length ? o.companies : [o.company_id]) add("companies", company, "companies");
  add("countries", o.country, "countries");
}

function renderFilterOptions() {
  const fill = (id, kind, values, emptyKey) => {
    const select = $(id);
    const current = select.value;
    select.replaceChildren(h("option", { value: "" }, t(emptyKey)), ...values.map((v) => h("option", { value: v }, tOr(`${kind}.${v}`, v))));
    select.value = current;
  };
  fill("f-stage", "stage", STAGES, "filters.stage");
  fill("f-payment", "payment", STATUSES.payment_status, "filters.payment");
  fill("f-fulfilment", "fulfilment", STATUSES.fulfilment_status, "filters.fulfilment");
  fill("f-invoice", "invoice", STATUSES.invoice_status, "filters.invoice");
  fill("f-return", "return", STATUSES.return_status, "filters.return");
}

function showMoreFilters(show) {
  $("more-filters").hidden = !show;
  $("f-more").setAttribute("aria-expanded", String(show));
}

// The export asks the API with the view's filters and sort (no page); the token travels in a
// header, so the file is fetched here and handed to the browser as a download.
async function exportCsv() {
  const params = viewParams(state.listKey);
  params.delete("after");
  const button = $("export");
  button.disabled = true;
  button.textContent = t("orders.exporting");
  try {
    const reply = await api(`/api/orders.csv?${params}`);
    if (!reply.ok) {
      toast(t("orders.export.failed", { status: reply.status, reason: await reasonOf(reply) }));
      return;
    }
    const named = /filename="?([^";]+)"?/.exec(reply.headers.get("Content-Disposition") ?? "");
    const file = named?.[1] ?? "orders.csv";
    const url = URL.createObjectURL(await reply.blob());
    const a = h("a", { href: url, download: file, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    toast(t("orders.exported", { file }));
  } finally {
    button.disabled = false;
    button.textContent = t("orders.export");
  }
}

// --- the worklist: every order over its stage's limit, oldest first ----------------------------

function stuckReason(stuck, o) {
  if (!stuck) return "";
  const since = stuck.since ? ago(Date.now() / 1000 - Date.parse(stuck.since) / 1000) : ago(stuck.age_seconds);
  const params = { ...(stuck.params ?? {}), since, reason: String(stuck.reason ?? "").replaceAll("_", " ") };
  params.marketplace = marketplaceName(params.marketplace ?? o?.marketplace);
  const key = `stuck.${stuck.reason}`;
  return t(known(key) ? key : "stuck.unknown", params);
}

let worklistRequest = 0;
async function loadWorklist(query, { force = false } = {}) {
  const params = viewParams(query);
  const key = params.toString();
  if (!force && key === state.worklistKey && state.worklist) { renderWorklist(); return; }
  state.worklistKey = key;
  const ask = new URLSearchParams(params);
  ask.set("limit", String(PAGE_SIZE));
  const mine = ++worklistRequest;
  const reply = await api(`/api/stuck?${ask}`);
  if (mine !== worklistRequest) return;
  if (!reply.ok) {
    state.worklist = null;
    $("worklist").replaceChildren(h("tr", { class: "empty error" }, h("td", { colspan: 6 }, t("stuck.failed", { status: reply.status, reason: await reasonOf(reply) }))));
    return;
  }
  const body = await reply.json();
  state.worklist = { orders: body.orders ?? [], next: body.next ?? null, total: body.total ?? (body.orders ?? []).length, cursors: history.state?.cursors ?? [] };
  renderWorklist();
}

function renderWorklist() {
  const w = state.worklist;
  if (!w) return;
  $("stuck-count").textContent = t("stuck.count", { count: number(w.total) });
  $("stuck-prev").disabled = !w.cursors.length;
  $("stuck-next").disabled = !w.next;
  if (!w.orders.length) {
    $("worklist").replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: 6 }, t("stuck.none"))));
    return;
  }
  $("worklist").replaceChildren(...w.orders.map((o) => h("tr", { dataset: { uuid: o.order_uuid, reason: o.stuck?.reason ?? "" }, onclick: (e) => {
    if (!e.target.closest("a")) go(orderHref(o.order_uuid), { under: "stuck", listQuery: listQueryOf() });
  } },
  h("td", {}, orderLink(o), sub(o.customer ?? "")),
  h("td", {}, o.store_id ?? t("dash"), sub(marketplaceName(o.marketplace))),
  h("td", {}, stagePill(o.stage)),
  h("td", { class: "reason" }, stuckReason(o.stuck, o)),
  h("td", { class: "num late", title: dateTimeZone(o.stuck?.since) }, duration(o.stuck?.age_seconds)),
  h("td", { class: "num muted" }, duration(o.stuck?.limit_seconds)))));
}

function worklistPage(forward) {
  const w = state.worklist;
  if (!w) return;
  const params = viewParams(state.worklistKey);
  const cursors = [...w.cursors];
  if (forward) { cursors.push(params.get("after") ?? ""); params.set("after", w.next); } else {
    const after = cursors.pop();
    if (after) params.set("after", after); else params.delete("after");
  }
  const query = params.toString();
  go(query ? `/stuck?${query}` : "/stuck", { cursors });
}

// --- stats: key figures, pipeline, charts, bottlenecks, gauges, health ------------------------

function lastMinute(series) {
  const now = Date.now() / 1000;
  return series.filter(([t]) => t >= now - 70);
}

function renderKpis(s) {
  const total = Object.values(s.marketplaces ?? {}).reduce((a, b) => a + b, 0);
  $("kpi-orders").textContent = number(total);
  const ingest = lastMinute(s.ingest ?? []);
  const perMinute = ingest.length ? ingest.reduce((sum, [, v]) => sum + v, 0) / ingest.length * 60 : 0;
  $("kpi-ingest").textContent = number(Math.round(perMinute * 10) / 10);
  const recent = lastMinute(s.latency ?? []).filter(([, v]) => v !== null);
  if (!s.latency_known) {
    $("kpi-latency").textContent = t("na");
    $("kpi-latency-note").textContent = t("kpi.latency.unknown");
  } else if (recent.length) {
    const mean = recent.reduce((sum, [, v]) => sum + v, 0) / recent.length;
    $("kpi-latency").textContent = milliseconds(mean);
    $("kpi-latency-note").textContent = t("kpi.latency.note");
  } else {
    $("kpi-latency").textContent = t("dash");
    $("kpi-latency-note").textContent = t("kpi.latency.idle");
  }
  // The worklist's own count where the server sends it (per-store limits), so badge and list agree.
  const stuck = s.stuck_total ?? (s.bottlenecks ?? []).reduce((sum, b) => sum + (b.stuck_count ?? 0), 0);
  $("kpi-stuck").textContent = number(stuck);
  $("nav-stuck").textContent = stuck ? number(stuck) : "";
  $("kpi-stuck-card").classList.toggle("warn", stuck > 0);
  const dead = s.dead_letters?.count ?? 0;
  $("kpi-dead").textContent = number(dead);
  $("nav-dead").textContent = dead ? number(dead) : "";
  $("kpi-dead-card").classList.toggle("alert", dead > 0);
  const lag = s.lag?.by_topic;
  if (lag) {
    $("kpi-lag").textContent = number(Object.values(lag).reduce((a, b) => a + b, 0));
    $("kpi-lag-note").textContent = t("kpi.lag.note");
  } else {
    $("kpi-lag").textContent = t("dash");
    $("kpi-lag-note").textContent = s.lag?.error ? t("kpi.lag.unavailable") : t("kpi.lag.checking");
  }
}

function renderPipeline() {
  const s = state.stats;
  if (!s) return;
  const known = [...STAGES, ...Object.keys(s.stages ?? {}).filter((x) => !STAGES.includes(x))];
  const byStage = Object.fromEntries((s.bottlenecks ?? []).map((b) => [b.stage, b]));
  const filtered = viewParams(state.listKey).get("stage");
  $("pipeline").replaceChildren(...known.map((stage) => {
    const n = s.stages?.[stage] ?? 0;
    const b = byStage[stage];
    const stuck = b?.stuck_count ?? 0;
    const note = stuck ? t("pipeline.stuck", { count: number(stuck) }) : (b?.oldest && n ? t("pipeline.oldest", { age: duration(b.oldest.age_seconds) }) : "");
    return h("button", {
      type: "button", class: `stage s-${stage}${n ? "" : " zero"}${filtered === stage ? " active" : ""}`,
      dataset: { stage }, onclick: () => { $("f-stage").value = filtered === stage ? "" : stage; applyFilters(); },
    }, h("span", { class: "count" }, number(n)), h("span", { class: "label" }, stageName(stage)), h("span", { class: `sub${stuck ? " late" : ""}` }, note));
  }));
  $("marketplaces").replaceChildren(...Object.entries(s.marketplaces ?? {}).sort().map(([m, n]) => h("span", { class: "chip" }, marketplace(m), h("b", {}, number(n)))));
}

function renderBottlenecks(s) {
  const active = (s.bottlenecks ?? []).filter((b) => b.oldest && !["invoiced", "cancelled", "credited"].includes(b.stage));
  if (!active.length) {
    $("bottlenecks").replaceChildren(h("div", { class: "bn-empty" }, t("bottlenecks.none")));
    return;
  }
  $("bottlenecks").replaceChildren(...active.map((b) => {
    const late = b.limit_seconds && b.oldest.age_seconds > b.limit_seconds;
    return h("div", { class: "bn" },
      h("div", {}, stagePill(b.stage)),
      h("div", { class: "who" }, link(orderHref(b.oldest.order_uuid), {}, b.oldest.name), " ", h("span", { class: "muted" }, b.oldest.customer ?? "")),
      b.stuck_count ? link("/stuck", { class: "badge red" }, t("bottlenecks.over", { count: number(b.stuck_count) })) : h("span"),
      h("div", { class: `age${late ? " late" : ""}` }, duration(b.oldest.age_seconds),
        b.limit_seconds ? h("div", { class: "limit" }, t("bottlenecks.limit", { limit: duration(b.limit_seconds) })) : null));
  }));
}

// uPlot with the catalogue's Intl formats on its axes and in its legend (the hover read-out).
function chart(id, series, color, seriesKey, format) {
  const el = $(id);
  if (typeof uPlot === "undefined" || !el.clientWidth) return;
  const data = [series.map(([x]) => x), series.map(([, y]) => y)];
  const existing = state.charts[id];
  if (existing && existing.language === language()) { existing.plot.setData(data); return; }
  existing?.plot.destroy();
  const opts = {
    width: el.clientWidth, height: 150, cursor: { points: { size: 6 } },
    legend: { show: true, live: true },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
    axes: [
      { stroke: "#6b7280", grid: { stroke: "#f0f1f4" }, ticks: { stroke: "#e5e7eb" }, font: "11px system-ui", space: 60, values: (u, splits) => splits.map((x) => hourMinute(x)) },
      { stroke: "#6b7280", grid: { stroke: "#f0f1f4" }, ticks: { show: false }, font: "11px system-ui", size: 48, values: (u, splits) => splits.map((y) => format(y)) },
    ],
    series: [
      { label: t("chart.time"), value: (u, x) => (x === null ? t("dash") : clockTime(x)) },
      { label: t(seriesKey), stroke: color, width: 2, fill: `${color}1f`, spanGaps: false, points: { show: false }, value: (u, y) => (y === null ? t("dash") : format(y)) },
    ],
  };
  state.charts[id] = { plot: new uPlot(opts, data, el), language: language() };
}

function renderCharts(s) {
  chart("chart-ingest", s.ingest ?? [], "#4f46e5", "chart.ingest.series", decimal);
  chart("chart-latency", s.latency ?? [], "#0ea5e9", "chart.latency.series", decimal);
  $("latency-note").hidden = Boolean(s.latency_known);
}

function resizeCharts() {
  for (const [id, c] of Object.entries(state.charts)) if ($(id).clientWidth) c.plot.setSize({ width: $(id).clientWidth, height: 150 });
  if (state.stats) renderCharts(state.stats);
}

function rowsOf(value, key) {
  if (Array.isArray(value)) return value;
  return Array.isArray(value?.[key]) ? value[key] : null;
}

function renderThresholds(s) {
  const rows = rowsOf(s.thresholds, "thresholds");
  if (rows === null) return;
  $("vat-thresholds-card").hidden = state.view !== "list";
  $("vat-thresholds-card").dataset.known = "1";
  $("oss-hint").textContent = t("oss.hint", { limit: money(10000, "EUR"), warn: percent(0.8), full: percent(1) });
  $("vat-thresholds").replaceChildren(...(rows.length ? rows.map(thresholdGauge) : [h("p", { class: "muted" }, t("oss.none"))]));
}

function thresholdGauge(row) {
  const total = Number(row.total_eur);
  const limit = Number(row.threshold_eur || 10000);
  const ratio = limit ? total / limit : 0;
  const tone = row.destination_vat ? "red" : ratio >= 0.8 ? "amber" : "green";
  const status = row.destination_vat ? t("oss.destination") : ratio >= 0.8 ? t("oss.warn", { percent: percent(0.8) }) : t("oss.home");
  return h("div", { class: `vat-gauge ${tone}`, dataset: { company: row.company_id, year: String(row.year) } },
    h("div", { class: "gauge-head" },
      h("span", {}, h("b", {}, row.company_id), ` · ${row.year}`),
      h("span", { class: "num" }, t("oss.of", { total: money(row.total_eur, "EUR"), limit: money(limit, "EUR"), percent: percent(ratio), status }))),
    h("div", { class: "meter", role: "meter", "aria-valuemin": "0", "aria-valuemax": String(limit), "aria-valuenow": String(total) },
      h("div", { class: "fill", style: `width:${Math.min(100, ratio * 100).toFixed(1)}%` }),
      h("div", { class: "mark" })));
}

function renderPollers(s) {
  const pollers = rowsOf(s.pollers, "pollers");
  if (pollers === null) return;
  const row = (p) => {
    const failing = p.failures > 0 && p.last_error;
    return h("tr", { dataset: { store: p.store_id } },
      h("td", {}, h("code", {}, p.store_id), " ", marketplace(p.marketplace)),
      h("td", {}, clockTime(p.last_success)), h("td", {}, clockTime(p.next_run)),
      h("td", { class: "num" }, number(p.orders_seen ?? 0)),
      h("td", { class: failing ? "bad" : "muted", title: p.last_error ?? "" },
        p.last_error ? `${failing ? "" : `${t("pollers.recovered")} `}${clockTime(p.last_error_at)} ${p.last_error.slice(0, 80)}` : t("pollers.ok")));
  };
  $("pollers").replaceChildren(h("h4", {}, t("pollers.title")), h("div", { class: "scroll-x" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, t("pollers.store")), h("th", {}, t("pollers.success")), h("th", {}, t("pollers.next")),
      h("th", { class: "num" }, t("pollers.seen")), h("th", {}, t("pollers.error")))),
    h("tbody", {}, ...(pollers.length ? pollers.map(row) : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("pollers.none")))])))));
}

function renderHealth(s) {
  const lag = s.lag ?? {};
  $("health-hint").textContent = lag.checked_at ? t("health.checked", { when: clockTime(lag.checked_at) }) : "";
  const lagRows = lag.by_topic
    ? Object.entries(lag.by_topic).sort().map(([topic, n]) => h("tr", {}, h("td", {}, h("code", {}, topic)), h("td", { class: "num" }, number(n))))
    : [h("tr", {}, h("td", { colspan: 2, class: "muted" }, lag.error ? t("health.lag.unavailable", { error: lag.error }) : t("health.lag.unknown")))];
  const hookRows = Object.entries(s.webhooks ?? {}).sort().map(([m, o]) => h("tr", {},
    h("td", {}, marketplace(m)),
    ...["accepted", "duplicate", "rejected", "failed"].map((k) => h("td", { class: "num" }, number(o[k] ?? 0)))));
  const worker = s.worker ?? {};
  const reach = (ok) => h("td", { class: ok ? "ok" : "bad" }, ok ? t("health.reachable") : t("health.unreachable"));
  const workerRows = worker.fresh
    ? [h("tr", {}, h("td", {}, "Kafka"), reach(worker.kafka)), h("tr", {}, h("td", {}, "Redis"), reach(worker.redis))]
    : [h("tr", {}, h("td", { colspan: 2, class: "bad" }, t("health.silent")))];
  const rebuilding = s.read_model?.rebuilding ? [h("p", { id: "read-model-rebuilding", class: "bad" }, t("health.rebuilding"))] : [];
  $("health").replaceChildren(...rebuilding, h("div", { class: "health-grid" },
    h("div", {}, h("h4", {}, t("health.worker")), h("table", {}, h("tbody", {}, ...workerRows))),
    h("div", {}, h("h4", {}, t("health.lag")), h("table", {}, h("tbody", {}, ...lagRows))),
    h("div", { class: "wide" }, h("h4", {}, t("health.webhooks")), h("div", { class: "scroll-x" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, ""), ...["accepted", "duplicate", "rejected", "failed"].map((k) => h("th", { class: "num" }, t(`health.${k}`))))),
      h("tbody", {}, ...(hookRows.length ? hookRows : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("health.webhooks.none")))])))))));
}

function takeStats(s) {
  const deadBefore = state.stats?.dead_letters?.count;
  state.stats = s;
  renderKpis(s);
  renderPipeline();
  renderCharts(s);
  renderBottlenecks(s);
  renderThresholds(s);
  renderPollers(s);
  renderHealth(s);
  if (state.view === "dead") { if (deadBefore !== s.dead_letters?.count) loadDeadLetters(); } else renderDeadLetters(s.dead_letters?.recent ?? [], s.dead_letters?.count ?? 0);
  // The time in stage moves on: only cells whose text changes are touched.
  for (const tr of $("orders").querySelectorAll("tr[data-uuid]")) {
    const o = state.rows.get(tr.dataset.uuid);
    if (o) patchRow(tr, o);
  }
}

// --- dead letters ------------------------------------------------------------------------------

async function loadDeadLetters() {
  let reply = await api("/api/dead-letters?limit=200");
  if (reply.status === 404) reply = await api("/api/deadletters?limit=200");
  if (!reply.ok) {
    $("dead-letters").replaceChildren(h("p", { class: "error" }, t("dead.failed", { status: reply.status, reason: await reasonOf(reply) })));
    return;
  }
  const body = await reply.json();
  state.deadLetters = body;
  renderDeadLetters(body.dead_letters ?? [], body.count ?? 0);
}

function renderDeadLetters(letters, count) {
  $("dead-hint").textContent = t("dead.hint", { count: number(count) });
  if (!letters.length) {
    $("dead-letters").replaceChildren(h("div", { class: "ok-state" }, t("dead.none")));
    return;
  }
  const whose = (d) => {
    const name = d.external_order_id ?? d.order_uuid?.slice(0, 8);
    const order = d.order_uuid ? link(orderHref(d.order_uuid), { class: "order-link" }, name) : h("span", { class: "muted" }, name ?? t("dead.unknown"));
    return [d.store_id ? h("span", {}, d.store_id, " ") : null, d.marketplace ? marketplace(d.marketplace) : null, h("div", {}, order)];
  };
  $("dead-letters").replaceChildren(h("div", { class: "scroll-x" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, t("dead.col.failed")), h("th", {}, t("dead.col.order")), h("th", {}, t("dead.col.source")), h("th", {}, t("dead.col.reason")), h("th", {}, ""))),
    h("tbody", {}, ...letters.map((d) => h("tr", { dataset: { deadLetter: d.dead_letter_id } },
      h("td", { class: "when" }, dateTimeZone(d.failed_at)),
      h("td", { class: "whose" }, ...whose(d)),
      h("td", {}, h("code", {}, d.dead_letter_id)),
      h("td", { class: "reason", title: d.reason }, d.reason),
      h("td", { class: "num" }, d.replayed
        ? h("span", { class: "badge green", title: t("dead.replayed.by", { operator: d.replayed.operator_id }) }, t("dead.replayed"))
        : h("button", { type: "button", class: "btn btn-small", onclick: (e) => replay(d.dead_letter_id, e.target) }, t("dead.replay")))))))));
}

async function replay(id, button) {
  button.disabled = true;
  const { status, payload } = await authorised(`/api/deadletters/${encodeURIComponent(id)}/replay`);
  button.disabled = false;
  if (status === 202) toast(t("dead.replay.ok", { id, topic: payload.source_topic }));
  else if (status === 401) toast(t("dead.replay.signin"));
  else toast(t("dead.replay.failed", { status, reason: payload.reason ?? payload.error ?? "" }));
}

// --- order detail ------------------------------------------------------------------------------

function closeDetail() {
  if (history.state?.app && history.length > 1) history.back();
  else go(`/${listQueryOf()}`, {}, { replace: true });
}

function hideDetail() {
  if (!state.detailUuid) return;
  state.detailUuid = null;
  state.detail = null;
  $("detail").hidden = true;
  $("scrim").hidden = true;
  for (const tr of document.querySelectorAll("tr.selected")) tr.classList.remove("selected");
}

async function openDetail(uuid) {
  if (state.detailUuid === uuid && !$("detail").hidden) return;
  state.detailUuid = uuid;
  state.detail = null;
  $("detail").hidden = false;
  $("scrim").hidden = false;
  $("detail-title").textContent = t("detail.loading");
  $("detail-sub").textContent = uuid;
  $("detail-body").replaceChildren();
  for (const tr of document.querySelectorAll("tr[data-uuid]")) tr.classList.toggle("selected", tr.dataset.uuid === uuid);
  await loadDetail(uuid);
}

async function loadDetail(uuid) {
  const reply = await api(`/api/orders/${uuid}`);
  if (state.detailUuid !== uuid) return;
  if (!reply.ok) {
    $("detail-title").textContent = t("detail.failed", { status: reply.status });
    $("detail-body").replaceChildren(h("p", { class: "error" }, await reasonOf(reply)));
    return;
  }
  state.detail = await reply.json();
  renderDetail(state.detail);
}

function linesTable(o) {
  const lines = o.lines ?? [];
  if (!lines.length) return h("p", { class: "muted" }, t("detail.lines.none"));
  const sum = (key) => lines.reduce((total, l) => total + Number(l[key] ?? 0), 0).toFixed(2);
  const th = (key, num) => h("th", { class: num ? "num" : null }, t(key));
  return h("div", { class: "scroll-x" }, h("table", { class: "lines" },
    h("thead", {}, h("tr", {}, th("detail.sku"), th("detail.description"), th("detail.qty", true), th("detail.net", true), th("detail.vat_rate", true), th("detail.vat", true), th("detail.gross", true))),
    h("tbody", {}, ...lines.map((l) => h("tr", {},
      h("td", {}, h("code", {}, l.sku)), h("td", {}, l.description), h("td", { class: "num" }, number(l.quantity)),
      h("td", { class: "num" }, money(l.net, o.currency)), h("td", { class: "num" }, percent(Number(l.vat_rate))),
      h("td", { class: "num" }, money(l.vat, o.currency)), h("td", { class: "num" }, money(l.gross, o.currency))))),
    h("tfoot", {}, h("tr", {}, h("td", { colspan: 3 }, t("detail.sum")), h("td", { class: "num" }, money(sum("net"), o.currency)), h("td", {}), h("td", { class: "num" }, money(sum("vat"), o.currency)), h("td", { class: "num" }, money(sum("gross"), o.currency))))));
}

// Shipments by the marketplace's own id, carrier and tracking numbers.
function shipmentsTable(o) {
  const shipments = o.shipments ?? [];
  if (!shipments.length) return h("p", { class: "muted" }, t("detail.shipments.none"));
  const units = (parts) => (parts ?? []).map((p) => `${p.line_id} ×${number(p.quantity)}`).join(", ");
  return h("div", { class: "scroll-x" }, h("table", { class: "lines shipments" },
    h("thead", {}, h("tr", {}, ...["detail.shipment", "detail.sent", "detail.units", "detail.from", "detail.carrier", "detail.tracking"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, ...shipments.map((s) => h("tr", { dataset: { shipment: s.shipment_id } },
      h("td", {}, shipmentName(s.shipment_id), s.confirms?.length ? sub(t("detail.confirms", { units: units(s.confirms) })) : null),
      h("td", {}, dateTimeZone(s.shipped_at)), h("td", {}, units(s.lines)),
      h("td", {}, s.ship_from_country ?? t("dash"), sub(s.company_id ?? "")),
      h("td", {}, s.carrier ?? t("dash")), h("td", { class: "tracking" }, (s.tracking_numbers ?? []).join(", ") || t("dash")))))));
}

// An operator's own shipment has an engine id, not a marketplace one: it is named as such.
function shipmentName(id) {
  if (typeof id === "string" && id.startsWith("operator:")) return h("span", { class: "muted" }, t("detail.by_operator"));
  return h("code", {}, id ?? t("dash"));
}

function feesTable(fees, currency) {
  if (!fees?.length) return h("p", { class: "muted" }, t("detail.fees.none"));
  return h("table", { class: "lines fees" }, h("tbody", {}, ...fees.map((f) => h("tr", { dataset: { kind: f.kind } },
    h("td", {}, tOr(`fee.${f.kind}`, f.kind)),
    // The marketplace's own words, where they say more than the kind.
    h("td", { class: "muted" }, String(f.description ?? "").toLowerCase() === String(f.kind).replaceAll("_", " ") ? "" : f.description ?? ""),
    h("td", { class: "num" }, money(f.amount, f.currency ?? currency))))));
}

function triggerList(triggers, o) {
  if (!triggers.length) return h("p", { class: "muted" }, t("detail.triggers.none"));
  const shipmentLabel = (id) => {
    const s = (o.shipments ?? []).find((x) => x.shipment_id === id);
    if (typeof id === "string" && id.startsWith("operator:")) return t("detail.by_operator");
    return [id, s?.carrier, ...(s?.tracking_numbers ?? [])].filter(Boolean).join(" · ");
  };
  return h("div", { class: "triggers" }, ...triggers.map((tr) => h("div", { class: "trigger" },
    h("div", { class: "top" },
      h("span", { class: `badge ${tr.kind === "credit_note" ? "violet" : "blue"}` }, tOr(`trigger.${tr.kind}`, tr.kind)),
      h("span", { class: "badge gray" }, tr.scope === "shipment" ? t("detail.trigger.shipment", { shipment: shipmentLabel(tr.shipment_id) }) : t("detail.whole_order")),
      tr.vat ? h("span", { class: "badge gray" }, t("detail.trigger.vat", { scheme: String(tr.vat.scheme ?? "").replaceAll("_", " "), country: tr.vat.country })) : null,
      h("span", { class: "amount" }, money(tr.totals?.gross, tr.currency))),
    h("div", { class: "muted" }, dateTimeZone(tr.created_at), tr.totals ? ` · ${t("detail.trigger.totals", { net: money(tr.totals.net, tr.currency), vat: money(tr.totals.vat, tr.currency) })}` : ""))));
}

const MARKETPLACE_ACTORS = ["system", "shopify", "woocommerce", "bol", "amazon"];

// One audit entry in words: a stable event code from the catalogue with its parameters; entries
// of an older read model (from/to stage and a reason) read as a stage change.
function eventText(e) {
  const p = e.params ?? {};
  if (e.event) {
    const details = [];
    if (["shipped", "partly_shipped"].includes(e.event) && (p.shipment_id || p.by_operator || p.tracking_numbers?.length)) {
      const shipment = p.by_operator ? t("detail.by_operator") : (p.shipment_id ?? "");
      const sent = [p.carrier, (p.tracking_numbers ?? []).join(", ")].filter(Boolean).join(" ");
      details.push(sent ? t("event.shipment", { shipment, sent }) : t("event.shipment.bare", { shipment }));
    }
    if (e.event === "status_changed_by_operator") {
      details.push(t("event.operator_action", { action: tOr(`action.${p.action}`, p.action ?? ""), reason: p.reason ?? "" }));
    } else if (p.reason) {
      details.push(p.reason);
    }
    if (p.field) details.push(p.field);
    if (p.text && e.event !== "note") details.push(p.text);
    const head = e.event === "note" ? (p.text ?? tOr("event.note", "note")) : tOr(`event.${e.event}`, e.event);
    return { head, details, refused: e.event === "refused" };
  }
  const refused = e.from_stage === e.to_stage && String(e.reason).startsWith("refused");
  const head = refused ? t("event.refused")
    : e.from_stage && e.from_stage !== e.to_stage ? t("event.stage", { from: stageName(e.from_stage), to: stageName(e.to_stage) }) : stageName(e.to_stage);
  return { head, details: e.reason ? [e.reason] : [], refused };
}

function timelineList(entries) {
  if (!entries.length) return h("p", { class: "muted" }, t("detail.timeline.none"));
  return h("ol", { class: "timeline", id: "timeline" }, ...entries.map((e) => {
    const { head, details, refused } = eventText(e);
    const actor = e.actor ?? "system";
    const person = !MARKETPLACE_ACTORS.includes(actor);
    return h("li", { class: `s-${e.to_stage ?? e.params?.stage ?? ""}${refused ? " refused" : ""}`, dataset: { actor, entry: e.entry_id ?? "", event: e.event ?? "" } },
      h("div", { class: "what" }, head),
      ...details.map((d) => h("div", { class: "why" }, d)),
      h("div", { class: "meta" }, h("span", { class: `actor${person ? " person" : ""}` }, MARKETPLACE_ACTORS.includes(actor) && actor !== "system" ? marketplaceName(actor) : tOr(`actor.${actor}`, actor)), " · ", dateTimeZone(e.at)));
  }));
}

function renderActionNote() {
  const note = document.querySelector("#status-form .note");
  if (note) note.textContent = mayAct() ? t("action.as", { operator: sessionStorage.getItem(OPERATOR_KEY) }) : t("action.viewer");
}

// Only the changes the API lists as valid for the order's state now.
function actionForm(o, actions) {
  if (!actions.length) return h("p", { class: "muted", id: "no-actions" }, t("detail.actions.none"));
  const form = h("form", { class: "action-form", id: "status-form", novalidate: true },
    h("div", { class: "fields" },
      h("select", { id: "action", name: "action", "aria-label": t("action.aria") }, ...actions.map((a) => h("option", { value: a }, tOr(`action.${a}`, a)))),
      h("textarea", { id: "reason", name: "reason", rows: 2, placeholder: t("action.reason"), "aria-label": t("action.reason.aria") })),
    h("div", { class: "foot" },
      h("button", { type: "submit", class: "btn btn-primary", id: "status-submit" }, t("action.apply")),
      h("span", { class: "note" }),
      h("span", { class: "message", id: "action-message", role: "status" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("action-message");
    const reason = $("reason").value.trim();
    if (!reason) {
      message.className = "message error";
      message.textContent = t("action.reason.required");
      return;
    }
    $("status-submit").disabled = true;
    const { status, payload } = await authorised(`/api/orders/${o.order_uuid}/status`, { action: $("action").value, reason });
    $("status-submit").disabled = false;
    if (status === 202) {
      message.className = "message ok";
      message.textContent = t("action.sent");
      $("reason").value = "";
    } else if (status === 401) {
      message.className = "message error";
      message.textContent = t("action.signin");
    } else {
      message.className = "message error";
      message.textContent = t("action.refused", { status, reason: payload.reason ?? payload.error ?? t("error.unknown") });
    }
  });
  return form;
}

const LEGACY_ACTIONS = ["mark_paid", "mark_shipped", "cancel"];

function renderDetail({ order: o, triggers = [], timeline = [], actions, stuck = null, fees }) {
  $("detail-title").replaceChildren(o.name ?? o.external_order_id, stagePill(o.stage));
  $("detail-sub").textContent = o.order_uuid;
  const fact = (key, value) => h("div", {}, h("span", {}, t(key)), h("b", {}, value ?? t("dash")));
  const existing = $("status-form");
  const keep = existing ? { action: $("action").value, reason: $("reason").value, message: $("action-message").cloneNode(true) } : null;
  const valid = (actions ?? LEGACY_ACTIONS.map((a) => ({ action: a }))).map((a) => (typeof a === "string" ? a : a.action));
  $("detail-body").replaceChildren(...[
    stuck ? h("p", { class: "stuck-note", id: "detail-stuck" }, t("detail.stuck", { reason: stuckReason(stuck, o), limit: duration(stuck.limit_seconds) })) : null,
    h("section", {}, h("div", { class: "facts" },
      fact("detail.marketplace", marketplace(o.marketplace)), fact("detail.store", o.store_id), fact("detail.company", companies(o)),
      fact("detail.customer", o.customer), fact("detail.country", o.country), fact("detail.total", money(o.total_gross, o.currency)),
      fact("detail.payment", badge("payment", o.payment_status)), fact("detail.fulfilment", badge("fulfilment", o.fulfilment_status)), fact("detail.invoice", badge("invoice", o.invoice_status)),
      fact("detail.return", badge("return", o.return_status)), fact("detail.in_stage", duration(secondsInStage(o))), fact("detail.ordered", dateTimeZone(o.ordered_at)),
      fact("detail.updated", dateTimeZone(o.updated_at ?? o.updated)))),
    h("section", {}, h("h4", {}, t("detail.lines")), linesTable(o)),
    h("section", {}, h("h4", {}, t("detail.shipments")), shipmentsTable(o)),
    h("section", { id: "detail-fees" }, h("h4", {}, t("detail.fees")), feesTable(fees ?? o.fees, o.currency)),
    h("section", {}, h("h4", {}, t("detail.triggers")), triggerList(triggers, o)),
    h("section", {}, h("h4", {}, t("detail.actions")), actionForm(o, valid)),
    h("section", {}, h("h4", {}, t("detail.timeline")), timelineList(timeline)),
  ].filter(Boolean));
  if (keep && $("status-form")) {
    if (valid.includes(keep.action)) $("action").value = keep.action;
    $("reason").value = keep.reason;
    $("action-message").replaceWith(keep.message);
  }
  renderActionNote();
}

// --- live connection ---------------------------------------------------------------------------

function setLive(name) {
  const el = $("live");
  el.dataset.state = name;
  el.querySelector(".label").textContent = t(`live.${name === "offline" ? "reconnecting" : name}`);
}

// The socket cannot carry an Authorization header, and a token in its URL would land in logs:
// a one-time ticket bought with the token travels as a subprotocol instead (web/auth.py).
async function connect() {
  let ticket = null;
  try {
    const reply = await fetch("/api/ws-ticket", { method: "POST", headers: { Authorization: `Bearer ${token()}` } });
    if (reply.status === 401) { signOut(); return; }
    if (reply.ok) ticket = (await reply.json()).ticket;
  } catch { /* the web process is away: try again below */ }
  if (!ticket) { setLive("offline"); setTimeout(connect, 1000); return; }
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`, ["winkel.v1", `winkel.ticket.${ticket}`]);
  ws.binaryType = "arraybuffer";
  let reconnected = false;
  ws.onopen = () => setLive("live");
  ws.onclose = () => { setLive("offline"); reconnected = true; setTimeout(connect, 1000); };
  ws.onmessage = (msg) => {
    const frame = JSON.parse(typeof msg.data === "string" ? msg.data : new TextDecoder().decode(msg.data));
    if (frame.stats) takeStats(frame.stats);
    if (frame.type === "snapshot") {
      // What changed while the socket was away: the views on screen are read again.
      if (state.view === "list" && state.listKey !== null && reconnected) loadList(listQueryOf(), { force: true });
      else takeOrders(frame.orders ?? [], { count: false }); // the newest orders, not news
      return;
    }
    if (frame.orders?.length) takeOrders(frame.orders);
    const changed = new Set([...(frame.touched ?? []), ...(frame.orders ?? []).map((o) => o.order_uuid)]);
    if (state.detailUuid && changed.has(state.detailUuid)) loadDetail(state.detailUuid);
  };
}

// --- language ------------------------------------------------------------------------------------

function renderLanguage() {
  applyStatic();
  document.title = t("app.title");
  for (const code of LANGUAGES) $(`lang-${code}`).setAttribute("aria-pressed", String(language() === code));
  $("zone").textContent = timeZone();
  $("zone").title = t("zone.title", { zone: timeZone() });
  renderOperator();
  renderFilterOptions();
  renderHead();
  setLive($("live").dataset.state);
  tick();
}

function switchLanguage(code) {
  setLanguage(code);
  renderLanguage();
  renderFresh();
  if (state.listKey !== null) {
    for (const tr of $("orders").querySelectorAll("tr[data-uuid]")) patchRow(tr, state.rows.get(tr.dataset.uuid));
    if (!state.rows.size) loadList(listQueryOf(), { force: true });
    renderPager();
  }
  if (state.stats) takeStats(state.stats);
  if (state.worklist) renderWorklist();
  if (state.view === "dead" && state.deadLetters) renderDeadLetters(state.deadLetters.dead_letters ?? [], state.deadLetters.count ?? 0);
  if (state.detail) renderDetail(state.detail);
}

// --- start -------------------------------------------------------------------------------------

function tick() {
  $("clock").textContent = clockTime(Date.now() / 1000);
}

function start() {
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); applyFilters(); });
  let typing;
  for (const id of ["q", "f-store", "f-company", "f-country"]) {
    $(id).addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 350); });
  }
  for (const id of ["f-marketplace", "f-stage", "f-payment", "f-fulfilment", "f-invoice", "f-return", "f-from", "f-to"]) $(id).addEventListener("change", applyFilters);
  $("f-more").addEventListener("click", () => showMoreFilters($("more-filters").hidden));
  $("f-clear").addEventListener("click", () => { $("filters").reset(); applyFilters(); });
  $("page-next").addEventListener("click", nextPage);
  $("page-prev").addEventListener("click", previousPage);
  $("stuck-next").addEventListener("click", () => worklistPage(true));
  $("stuck-prev").addEventListener("click", () => worklistPage(false));
  $("fresh").addEventListener("click", () => loadList(listQueryOf(), { force: true }));
  $("export").addEventListener("click", exportCsv);
  for (const a of document.querySelectorAll("#nav a, a.kpi")) {
    a.addEventListener("click", (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
      e.preventDefault();
      const href = a.getAttribute("href");
      go(href === "/" ? `/${listQueryOf()}` : href, { listQuery: listQueryOf() });
    });
  }
  for (const code of LANGUAGES) $(`lang-${code}`).addEventListener("click", () => switchLanguage(code));
  $("signin-open").addEventListener("click", showSignIn);
  $("signin-cancel").addEventListener("click", () => $("signin").close());
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("detail-close").addEventListener("click", closeDetail);
  $("scrim").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.detailUuid) closeDetail(); });
  window.addEventListener("popstate", () => { if (begun) applyRoute(); });
  let resizing;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(resizeCharts, 100); });
  renderLanguage();
  setInterval(tick, 1000);
  if (token()) begin(); else showSignIn();
}

// After sign-in only: show the page and start reading.
let begun = false;
function begin() {
  if (begun) return;
  begun = true;
  $("page").hidden = false;
  $("nav").hidden = false;
  applyRoute();
  connect();
}

start();
