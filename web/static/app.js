// Winkel Orders operations dashboard: a plain ES module, no build step.
// Live data arrives over /ws (order batches and stats frames, coalesced by the server); the
// order list, its filters, the detail view and operator actions use the JSON API.

const STAGES = ["new", "paid", "partially_shipped", "shipped", "invoiced", "cancelled",
  "return_requested", "returned", "credited"];
const LIST_SIZE = 200;
const TOKEN_KEY = "winkel.operatorToken";
const OPERATOR_KEY = "winkel.operatorId";
const ROLE_KEY = "winkel.role";

const state = {
  orders: new Map(),        // uuid -> summary, the rows the list can show
  filters: {},              // query parameters of the list
  stats: null,
  detailUuid: null,
  stores: new Set(),
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

const label = (text) => String(text ?? "").replaceAll("_", " ");

function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60 ? `${m % 60} m` : ""}`.trim();
  const days = Math.floor(hours / 24);
  return `${days} d ${hours % 24 ? `${hours % 24} h` : ""}`.trim();
}

function money(amount, currency) {
  if (amount === null || amount === undefined) return "–";
  const value = Number(amount);
  try {
    return new Intl.NumberFormat("nl-NL", { style: "currency", currency: currency || "EUR" }).format(value);
  } catch {
    return `${currency ?? ""} ${amount}`;
  }
}

const when = (iso) => (iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }) : "–");
const stageSince = (o) => Date.parse(o.stage_since ?? o.updated_at) / 1000;
const secondsInStage = (o) => Date.now() / 1000 - stageSince(o);
const stuckLimit = (stage) => state.stats?.bottlenecks?.find((b) => b.stage === stage)?.limit_seconds ?? null;

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 3500);
}

// --- badges ----------------------------------------------------------------------------------

const TONES = {
  payment: { pending: "amber", paid: "green", refunded: "violet" },
  fulfilment: { unfulfilled: "gray", partial: "amber", fulfilled: "green", cancelled: "red" },
  invoice: { none: "gray", partial: "amber", invoiced: "green" },
  return: { none: null, requested: "amber", returned: "violet" },
};

function badge(kind, value) {
  if (value === undefined || value === null) return h("span", { class: "dash" }, "–");
  const tone = TONES[kind]?.[value];
  if (tone === null) return h("span", { class: "dash" }, "—");
  return h("span", { class: `badge ${tone ?? "gray"}` }, label(value));
}

const stagePill = (stage) => h("span", { class: `stage-pill s-${stage}` }, label(stage));
const marketplace = (name) => h("span", { class: `mp mp-${name}` }, name);
// A split order ships from several companies; older summaries name only the store's.
const companies = (o) => (o.companies?.length ? o.companies : [o.company_id ?? ""]).join(" + ");

// --- session: nothing is read, shown or streamed before a viewer or operator signs in ---------

const token = () => sessionStorage.getItem(TOKEN_KEY);
const mayAct = () => sessionStorage.getItem(ROLE_KEY) === "operator";

function renderOperator() {
  const operatorId = sessionStorage.getItem(OPERATOR_KEY);
  const role = sessionStorage.getItem(ROLE_KEY) ?? "operator";
  $("signin-open").hidden = Boolean(operatorId);
  $("signout").hidden = !operatorId;
  $("operator-name").hidden = !operatorId;
  $("operator-name").textContent = operatorId ? `Signed in as ${operatorId} (${role})` : "";
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
    $("signin-error").textContent = reply.status === 401 ? "That token is not valid." : `Sign-in failed (${reply.status}).`;
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
  toast(`Signed in as ${operatorId}`);
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

// --- order list ------------------------------------------------------------------------------

function matches(order) {
  const f = state.filters;
  if (f.marketplace && order.marketplace !== f.marketplace) return false;
  if (f.store && order.store_id !== f.store) return false;
  if (f.stage && order.stage !== f.stage) return false;
  if (f.q) {
    const needle = f.q.toLowerCase();
    const hay = [order.name, order.external_order_id, order.customer, order.order_uuid];
    if (!hay.some((v) => typeof v === "string" && v.toLowerCase().includes(needle))) return false;
  }
  return true;
}

function rememberStore(order) {
  if (order.store_id && !state.stores.has(order.store_id)) {
    state.stores.add(order.store_id);
    const select = $("f-store");
    const options = [...state.stores].sort().map((s) => h("option", { value: s }, s));
    const current = select.value;
    select.replaceChildren(h("option", { value: "" }, "All stores"), ...options);
    select.value = current;
  }
}

function orderRow(o, fresh) {
  const age = secondsInStage(o);
  const limit = stuckLimit(o.stage);
  const late = limit !== null && age > limit;
  return h("tr", { dataset: { uuid: o.order_uuid }, class: [fresh ? "fresh" : "", o.order_uuid === state.detailUuid ? "selected" : ""].join(" ").trim() || null, onclick: () => openDetail(o.order_uuid) },
    h("td", { class: "order" }, h("b", {}, o.name ?? o.external_order_id), " ", h("span", { class: "sub" }, o.external_order_id && ![o.external_order_id, `#${o.external_order_id}`].includes(o.name) ? o.external_order_id : "")),
    h("td", {}, marketplace(o.marketplace)),
    h("td", {}, o.store_id, h("div", { class: "sub" }, companies(o))),
    h("td", {}, o.customer ?? "–", o.country ? h("span", { class: "sub" }, ` · ${o.country}`) : null),
    h("td", { class: "num" }, money(o.total_gross, o.currency)),
    h("td", {}, badge("payment", o.payment_status)),
    h("td", {}, badge("fulfilment", o.fulfilment_status)),
    h("td", {}, badge("invoice", o.invoice_status)),
    h("td", {}, badge("return", o.return_status)),
    h("td", {}, stagePill(o.stage)),
    h("td", { class: `num${late ? " late" : ""}`, title: `since ${when(o.stage_since ?? o.updated_at)}` }, duration(age)),
  );
}

function renderOrders(fresh = new Set()) {
  const rows = [...state.orders.values()]
    .sort((a, b) => (b.updated_at ?? "").localeCompare(a.updated_at ?? ""))
    .slice(0, LIST_SIZE);
  const tbody = $("orders");
  if (!rows.length) {
    const filtered = Object.values(state.filters).some(Boolean);
    tbody.replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: 11 }, filtered ? "No orders match these filters." : "Waiting for orders…")));
    return;
  }
  tbody.replaceChildren(...rows.map((o) => orderRow(o, fresh.has(o.order_uuid))));
  $("orders-hint").textContent = `live · newest first · ${rows.length} shown`;
}

function takeOrders(orders, fresh) {
  for (const o of orders) {
    rememberStore(o);
    if (matches(o)) {
      state.orders.set(o.order_uuid, o);
      fresh?.add(o.order_uuid);
    } else {
      state.orders.delete(o.order_uuid);
    }
  }
  // Keep the map bounded: drop the oldest beyond what the list shows.
  if (state.orders.size > LIST_SIZE * 2) {
    const keep = [...state.orders.values()].sort((a, b) => (b.updated_at ?? "").localeCompare(a.updated_at ?? "")).slice(0, LIST_SIZE);
    state.orders = new Map(keep.map((o) => [o.order_uuid, o]));
  }
}

async function reloadOrders() {
  const params = new URLSearchParams({ limit: String(LIST_SIZE) });
  for (const [key, value] of Object.entries(state.filters)) if (value) params.set(key, value);
  const reply = await api(`/api/orders?${params}`);
  if (!reply.ok) return;
  const { orders } = await reply.json();
  state.orders = new Map();
  takeOrders(orders);
  renderOrders();
}

function readFilters() {
  state.filters = {
    q: $("q").value.trim(),
    marketplace: $("f-marketplace").value,
    store: $("f-store").value,
    stage: $("f-stage").value,
  };
  renderPipeline();
  reloadOrders();
}

// --- stats: key figures, pipeline, charts, bottlenecks, health -----------------------------

function lastMinute(series) {
  const now = Date.now() / 1000;
  return series.filter(([t]) => t >= now - 70);
}

function renderKpis(s) {
  const total = Object.values(s.marketplaces ?? {}).reduce((a, b) => a + b, 0);
  $("kpi-orders").textContent = total.toLocaleString("en-GB");
  const ingest = lastMinute(s.ingest ?? []);
  const perMinute = ingest.length ? ingest.reduce((sum, [, v]) => sum + v, 0) / ingest.length * 60 : 0;
  $("kpi-ingest").textContent = perMinute.toFixed(perMinute < 10 ? 1 : 0);
  const recent = lastMinute(s.latency ?? []).filter(([, v]) => v !== null);
  if (!s.latency_known) {
    $("kpi-latency").textContent = "n/a";
    $("kpi-latency-note").textContent = "needs received_at on audit entries";
  } else if (recent.length) {
    const mean = recent.reduce((sum, [, v]) => sum + v, 0) / recent.length;
    $("kpi-latency").textContent = mean >= 1000 ? `${(mean / 1000).toFixed(2)} s` : `${Math.round(mean)} ms`;
    $("kpi-latency-note").textContent = "mean, last minute";
  } else {
    $("kpi-latency").textContent = "–";
    $("kpi-latency-note").textContent = "no decisions in the last minute";
  }
  const stuck = (s.bottlenecks ?? []).reduce((sum, b) => sum + (b.stuck_count ?? 0), 0);
  $("kpi-stuck").textContent = stuck.toLocaleString("en-GB");
  $("kpi-stuck-card").classList.toggle("warn", stuck > 0);
  const dead = s.dead_letters?.count ?? 0;
  $("kpi-dead").textContent = dead.toLocaleString("en-GB");
  $("kpi-dead-card").classList.toggle("alert", dead > 0);
  const lag = s.lag?.by_topic;
  if (lag) {
    const behind = Object.values(lag).reduce((a, b) => a + b, 0);
    $("kpi-lag").textContent = behind.toLocaleString("en-GB");
    $("kpi-lag-note").textContent = "records behind, worker group";
  } else {
    $("kpi-lag").textContent = "–";
    $("kpi-lag-note").textContent = s.lag?.error ? "unavailable" : "checking…";
  }
}

function renderPipeline() {
  const s = state.stats;
  if (!s) return;
  const known = [...STAGES, ...Object.keys(s.stages ?? {}).filter((x) => !STAGES.includes(x))];
  const byStage = Object.fromEntries((s.bottlenecks ?? []).map((b) => [b.stage, b]));
  $("pipeline").replaceChildren(...known.map((stage) => {
    const n = s.stages?.[stage] ?? 0;
    const b = byStage[stage];
    const stuck = b?.stuck_count ?? 0;
    const sub = stuck ? `${stuck} waiting too long` : (b?.oldest && n ? `oldest ${duration(b.oldest.age_seconds)}` : "");
    return h("button", {
      type: "button", class: `stage s-${stage}${n ? "" : " zero"}${state.filters.stage === stage ? " active" : ""}`,
      dataset: { stage }, onclick: () => { $("f-stage").value = state.filters.stage === stage ? "" : stage; readFilters(); },
    }, h("span", { class: "count" }, n.toLocaleString("en-GB")), h("span", { class: "label" }, label(stage)), h("span", { class: `sub${stuck ? " late" : ""}` }, sub));
  }));
  $("marketplaces").replaceChildren(...Object.entries(s.marketplaces ?? {}).sort().map(([m, n]) => h("span", { class: "chip" }, marketplace(m), h("b", {}, n.toLocaleString("en-GB")))));
  const stageSelect = $("f-stage");
  if (stageSelect.options.length <= 1) {
    stageSelect.append(...known.map((stage) => h("option", { value: stage }, label(stage))));
  }
}

function renderBottlenecks(s) {
  const rows = (s.bottlenecks ?? []).filter((b) => b.count > 0 || b.limit_seconds);
  const active = rows.filter((b) => b.oldest && !["invoiced", "cancelled", "credited"].includes(b.stage));
  if (!active.length) {
    $("bottlenecks").replaceChildren(h("div", { class: "bn-empty" }, "Nothing waiting."));
    return;
  }
  $("bottlenecks").replaceChildren(...active.map((b) => {
    const late = b.limit_seconds && b.oldest.age_seconds > b.limit_seconds;
    return h("div", { class: "bn" },
      h("div", {}, stagePill(b.stage)),
      h("div", { class: "who" },
        h("a", { onclick: () => openDetail(b.oldest.order_uuid) }, b.oldest.name), " ",
        h("span", { class: "muted" }, b.oldest.customer ?? "")),
      b.stuck_count ? h("span", { class: "badge red" }, `${b.stuck_count} over limit`) : h("span"),
      h("div", { class: `age${late ? " late" : ""}` }, duration(b.oldest.age_seconds),
        b.limit_seconds ? h("div", { class: "limit" }, `limit ${duration(b.limit_seconds)}`) : null));
  }));
}

function chart(id, series, color, unit) {
  const el = $(id);
  if (typeof uPlot === "undefined" || !el.clientWidth) return;
  const xs = series.map(([t]) => t);
  const ys = series.map(([, v]) => v);
  let existing = state.charts[id];
  if (!existing) {
    const opts = {
      width: el.clientWidth, height: 170, legend: { show: false }, cursor: { points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
      axes: [
        { stroke: "#6b7280", grid: { stroke: "#f0f1f4" }, ticks: { stroke: "#e5e7eb" }, font: "11px system-ui", space: 60 },
        { stroke: "#6b7280", grid: { stroke: "#f0f1f4" }, ticks: { show: false }, font: "11px system-ui", size: 44, values: (u, vals) => vals.map((v) => `${v}${unit}`) },
      ],
      series: [{}, { stroke: color, width: 2, fill: `${color}1f`, spanGaps: false, points: { show: false } }],
    };
    existing = state.charts[id] = new uPlot(opts, [xs, ys], el);
  } else {
    existing.setData([xs, ys]);
  }
}

function renderCharts(s) {
  chart("chart-ingest", s.ingest ?? [], "#4f46e5", "");
  chart("chart-latency", s.latency ?? [], "#0ea5e9", " ms");
  const note = $("latency-note");
  note.hidden = Boolean(s.latency_known);
  note.textContent = "No samples yet: the latency is measured from the webhook's receipt time carried on audit entries (received_at).";
}

function renderDeadLetters(s) {
  const letters = s.dead_letters?.recent ?? [];
  $("dead-hint").textContent = `${s.dead_letters?.count ?? 0} in total · newest first`;
  if (!letters.length) {
    $("dead-letters").replaceChildren(h("div", { class: "ok-state" }, "No dead letters. Every record was understood."));
    return;
  }
  $("dead-letters").replaceChildren(h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Failed"), h("th", {}, "Source"), h("th", {}, "Reason"), h("th", {}, ""))),
    h("tbody", {}, ...letters.map((d) => h("tr", { dataset: { deadLetter: d.dead_letter_id } },
      h("td", {}, when(d.failed_at)),
      h("td", {}, h("code", {}, d.dead_letter_id)),
      h("td", { class: "reason", title: d.reason }, d.reason),
      h("td", { class: "num" }, d.replayed
        ? h("span", { class: "badge green", title: `by ${d.replayed.operator_id}` }, "replayed")
        : h("button", { type: "button", class: "btn btn-small", onclick: (e) => replay(d.dead_letter_id, e.target) }, "Replay")))))));
}

async function replay(id, button) {
  button.disabled = true;
  const { status, payload } = await authorised(`/api/deadletters/${encodeURIComponent(id)}/replay`);
  button.disabled = false;
  if (status === 202) toast(`Replayed ${id} to ${payload.source_topic}`);
  else if (status === 401) toast("Sign in as an operator to replay dead letters (401).");
  else toast(`Replay failed (${status}): ${payload.error ?? ""}`);
}

function renderHealth(s) {
  const lag = s.lag ?? {};
  $("health-hint").textContent = lag.checked_at ? `checked ${new Date(lag.checked_at * 1000).toLocaleTimeString("en-GB")}` : "";
  const lagRows = lag.by_topic
    ? Object.entries(lag.by_topic).sort().map(([topic, n]) => h("tr", {}, h("td", {}, h("code", {}, topic)), h("td", { class: "num" }, n.toLocaleString("en-GB"))))
    : [h("tr", {}, h("td", { colspan: 2, class: "muted" }, lag.error ? `Consumer lag unavailable: ${lag.error}` : "Consumer lag not measured yet."))];
  const hooks = s.webhooks ?? {};
  const hookRows = Object.entries(hooks).sort().map(([m, o]) => h("tr", {},
    h("td", {}, marketplace(m)),
    h("td", { class: "num" }, (o.accepted ?? 0).toLocaleString("en-GB")),
    h("td", { class: "num" }, (o.duplicate ?? 0).toLocaleString("en-GB")),
    h("td", { class: "num" }, (o.rejected ?? 0).toLocaleString("en-GB")),
    h("td", { class: "num" }, (o.failed ?? 0).toLocaleString("en-GB"))));
  const worker = s.worker ?? {};
  const state = (ok) => h("td", { class: ok ? "ok" : "bad" }, ok ? "reachable" : "unavailable");
  const workerRows = worker.fresh
    ? [h("tr", {}, h("td", {}, "Kafka"), state(worker.kafka)), h("tr", {}, h("td", {}, "Redis"), state(worker.redis))]
    : [h("tr", {}, h("td", { colspan: 2, class: "bad" }, "The worker has not reported for a while (stopped, or cut off from Redis)."))];
  const rebuilding = s.read_model?.rebuilding
    ? [h("p", { id: "read-model-rebuilding", class: "bad" }, "Read model rebuilding from Kafka: Redis lost it, the worker is refilling it; counts are partial meanwhile.")]
    : [];
  $("health").replaceChildren(...rebuilding, h("div", { class: "health-grid" },
    h("div", {}, h("h4", {}, "Worker"), h("table", {}, h("tbody", {}, ...workerRows))),
    h("div", {}, h("h4", {}, "Worker consumer lag"), h("table", {}, h("tbody", {}, ...lagRows))),
    h("div", {}, h("h4", {}, "Webhooks"), h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", { class: "num" }, "accepted"), h("th", { class: "num" }, "dup."), h("th", { class: "num" }, "rejected"), h("th", { class: "num" }, "failed"))),
      h("tbody", {}, ...(hookRows.length ? hookRows : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No webhooks yet."))]))))));
}

function takeStats(s) {
  state.stats = s;
  renderKpis(s);
  renderPipeline();
  renderCharts(s);
  renderBottlenecks(s);
  renderDeadLetters(s);
  renderHealth(s);
}

// --- order detail ----------------------------------------------------------------------------

function closeDetail() {
  state.detailUuid = null;
  $("detail").hidden = true;
  $("scrim").hidden = true;
  renderOrders();
}

async function openDetail(uuid) {
  state.detailUuid = uuid;
  $("detail").hidden = false;
  $("scrim").hidden = false;
  renderOrders();
  await loadDetail(uuid);
}

async function loadDetail(uuid) {
  const reply = await api(`/api/orders/${uuid}`);
  if (state.detailUuid !== uuid) return;
  if (!reply.ok) {
    $("detail-body").replaceChildren(h("p", { class: "error" }, `Could not load the order (${reply.status}).`));
    return;
  }
  renderDetail(await reply.json());
}

function linesTable(o) {
  const lines = o.lines ?? [];
  if (!lines.length) return h("p", { class: "muted" }, "Lines appear once the engine publishes them for this order.");
  const sum = (key) => lines.reduce((total, l) => total + Number(l[key] ?? 0), 0).toFixed(2);
  return h("table", { class: "lines" },
    h("thead", {}, h("tr", {}, h("th", {}, "SKU"), h("th", {}, "Description"), h("th", { class: "num" }, "Qty"), h("th", { class: "num" }, "Net"), h("th", { class: "num" }, "VAT %"), h("th", { class: "num" }, "VAT"), h("th", { class: "num" }, "Gross"))),
    h("tbody", {}, ...lines.map((l) => h("tr", {},
      h("td", {}, h("code", {}, l.sku)), h("td", {}, l.description), h("td", { class: "num" }, l.quantity),
      h("td", { class: "num" }, money(l.net, o.currency)), h("td", { class: "num" }, `${(Number(l.vat_rate) * 100).toFixed(Number(l.vat_rate) * 100 % 1 ? 1 : 0)}%`),
      h("td", { class: "num" }, money(l.vat, o.currency)), h("td", { class: "num" }, money(l.gross, o.currency))))),
    h("tfoot", {}, h("tr", {}, h("td", { colspan: 3 }, "Total"), h("td", { class: "num" }, money(sum("net"), o.currency)), h("td", {}), h("td", { class: "num" }, money(sum("vat"), o.currency)), h("td", { class: "num" }, money(sum("gross"), o.currency)))));
}

// Shipments with the marketplace's carrier, tracking and origin; older summaries have none.
function shipmentsTable(o) {
  const shipments = o.shipments ?? [];
  if (!shipments.length) return h("p", { class: "muted" }, "No shipment reported yet.");
  const units = (parts) => (parts ?? []).map((p) => `${p.line_id} ×${p.quantity}`).join(", ");
  return h("table", { class: "lines shipments" },
    h("thead", {}, h("tr", {}, h("th", {}, "Shipment"), h("th", {}, "Sent"), h("th", {}, "Units"), h("th", {}, "From"), h("th", {}, "Carrier"), h("th", {}, "Tracking"))),
    h("tbody", {}, ...shipments.map((s) => h("tr", {},
      h("td", {}, h("code", {}, s.shipment_id), s.confirms?.length ? h("div", { class: "sub" }, `matches operator's ${units(s.confirms)}`) : null),
      h("td", {}, when(s.shipped_at)), h("td", {}, units(s.lines)),
      h("td", {}, s.ship_from_country ?? "–", h("div", { class: "sub" }, s.company_id ?? "")),
      h("td", {}, s.carrier ?? "–"), h("td", {}, (s.tracking_numbers ?? []).join(", ") || "–")))));
}

function triggerList(triggers) {
  if (!triggers.length) return h("p", { class: "muted" }, "No invoice or credit-note trigger yet.");
  return h("div", { class: "triggers" }, ...triggers.map((t) => h("div", { class: "trigger" },
    h("div", { class: "top" },
      h("span", { class: `badge ${t.kind === "credit_note" ? "violet" : "blue"}` }, label(t.kind)),
      h("span", { class: "badge gray" }, t.scope === "shipment" ? `shipment ${t.shipment_id}` : "whole order"),
      t.vat ? h("span", { class: "badge gray" }, `VAT ${label(t.vat.scheme)} · ${t.vat.country}`) : null,
      h("span", { class: "amount" }, money(t.totals?.gross, t.currency))),
    h("div", { class: "muted" }, t.reason, " · ", when(t.created_at), t.totals ? ` · net ${money(t.totals.net, t.currency)}, VAT ${money(t.totals.vat, t.currency)}` : ""),
    h("code", {}, t.trigger_id))));
}

function timelineList(entries) {
  if (!entries.length) return h("p", { class: "muted" }, "No audit entries yet.");
  return h("ol", { class: "timeline", id: "timeline" }, ...entries.map((e) => {
    const refused = e.from_stage === e.to_stage && String(e.reason).startsWith("refused");
    const person = !["system", "shopify", "woocommerce", "bol", "amazon"].includes(e.actor);
    const what = e.from_stage && e.from_stage !== e.to_stage ? `${label(e.from_stage)} → ${label(e.to_stage)}` : label(e.to_stage);
    return h("li", { class: `s-${e.to_stage}${refused ? " refused" : ""}`, dataset: { actor: e.actor, entry: e.entry_id } },
      h("div", { class: "what" }, refused ? `Refused (${label(e.to_stage)})` : what),
      h("div", {}, e.reason),
      h("div", { class: "meta" }, h("span", { class: `actor${person ? " person" : ""}` }, e.actor), " · ", when(e.at)));
  }));
}

function renderActionNote() {
  const note = document.querySelector("#status-form .note");
  if (note) note.textContent = mayAct() ? `as ${sessionStorage.getItem(OPERATOR_KEY)}` : "viewers may only read: the change needs an operator token";
}

function actionForm(o) {
  const form = h("form", { class: "action-form", id: "status-form", novalidate: true },
    h("div", { class: "fields" },
      h("select", { id: "action", name: "action", "aria-label": "Action" },
        h("option", { value: "mark_paid" }, "Mark as paid"),
        h("option", { value: "mark_shipped" }, "Mark as shipped"),
        h("option", { value: "cancel" }, "Cancel order")),
      h("textarea", { id: "reason", name: "reason", rows: 2, placeholder: "Reason (required, kept in the audit trail)", "aria-label": "Reason" })),
    h("div", { class: "foot" },
      h("button", { type: "submit", class: "btn btn-primary", id: "status-submit" }, "Apply change"),
      h("span", { class: "note" }),
      h("span", { class: "message", id: "action-message", role: "status" })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("action-message");
    const reason = $("reason").value.trim();
    if (!reason) {
      message.className = "message error";
      message.textContent = "A reason is required.";
      return;
    }
    $("status-submit").disabled = true;
    const { status, payload } = await authorised(`/api/orders/${o.order_uuid}/status`, { action: $("action").value, reason });
    $("status-submit").disabled = false;
    if (status === 202) {
      message.className = "message ok";
      message.textContent = "Sent. The change appears in the timeline once the engine has applied it.";
      $("reason").value = "";
    } else if (status === 401) {
      message.className = "message error";
      message.textContent = "Refused (401): sign in as an operator first.";
    } else {
      message.className = "message error";
      message.textContent = `Refused (${status}): ${payload.error ?? "unknown error"}`;
    }
  });
  return form;
}

function renderDetail({ order: o, triggers, timeline }) {
  $("detail-title").replaceChildren(o.name ?? o.external_order_id, stagePill(o.stage));
  $("detail-sub").textContent = `${o.order_uuid}`;
  const fact = (name, value) => h("div", {}, h("span", {}, name), h("b", {}, value ?? "–"));
  const existingForm = $("status-form");
  const keep = existingForm ? { action: $("action").value, reason: $("reason").value, message: $("action-message").cloneNode(true) } : null;
  const form = actionForm(o);
  $("detail-body").replaceChildren(
    h("section", {}, h("div", { class: "facts" },
      fact("Marketplace", marketplace(o.marketplace)), fact("Store", o.store_id), fact("Company", companies(o)),
      fact("Customer", o.customer), fact("Country", o.country), fact("Total", money(o.total_gross, o.currency)),
      fact("Payment", badge("payment", o.payment_status)), fact("Fulfilment", badge("fulfilment", o.fulfilment_status)), fact("Invoice", badge("invoice", o.invoice_status)),
      fact("Return", badge("return", o.return_status)), fact("In stage", duration(secondsInStage(o))), fact("Last change", when(o.updated_at)))),
    h("section", {}, h("h4", {}, "Lines and VAT"), linesTable(o)),
    h("section", {}, h("h4", {}, "Shipments"), shipmentsTable(o)),
    h("section", {}, h("h4", {}, "Triggers"), triggerList(triggers)),
    h("section", {}, h("h4", {}, "Change status"), form),
    h("section", {}, h("h4", {}, "Audit timeline"), timelineList(timeline)),
  );
  if (keep) {
    $("action").value = keep.action;
    $("reason").value = keep.reason;
    $("action-message").replaceWith(keep.message);
  }
  renderActionNote();
}

// --- live connection -------------------------------------------------------------------------

function setLive(stateName, text) {
  const el = $("live");
  el.dataset.state = stateName;
  el.querySelector(".label").textContent = text;
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
  if (!ticket) { setLive("offline", "Reconnecting"); setTimeout(connect, 1000); return; }
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const ws = new WebSocket(url, ["winkel.v1", `winkel.ticket.${ticket}`]);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => setLive("live", "Live");
  ws.onclose = () => { setLive("offline", "Reconnecting"); setTimeout(connect, 1000); };
  ws.onmessage = (msg) => {
    const frame = JSON.parse(typeof msg.data === "string" ? msg.data : new TextDecoder().decode(msg.data));
    if (frame.type === "snapshot") {
      if (frame.stats) takeStats(frame.stats);
      if (Object.values(state.filters).some(Boolean)) reloadOrders();
      else { state.orders = new Map(); takeOrders(frame.orders); renderOrders(); }
    } else if (frame.type === "orders") {
      const fresh = new Set();
      takeOrders(frame.orders, fresh);
      renderOrders(fresh);
      const changed = new Set([...(frame.touched ?? []), ...frame.orders.map((o) => o.order_uuid)]);
      if (state.detailUuid && changed.has(state.detailUuid)) loadDetail(state.detailUuid);
    } else if (frame.type === "stats") {
      takeStats(frame.stats);
    }
  };
}

// --- OSS threshold gauges (GET /api/vat/thresholds; docs/vat.md §3) --------------------------

const THRESHOLD_REFRESH_MS = 10_000;

function thresholdCard() {
  let card = $("vat-thresholds-card");
  if (card) return card;
  card = h("section", { class: "card", id: "vat-thresholds-card", "aria-label": "OSS threshold" },
    h("div", { class: "card-head" }, h("h2", {}, "OSS threshold"),
      h("span", { class: "hint" }, "EU distance sales to consumers per company and year · EUR 10,000 · alerts at 80 % and 100 %")),
    h("div", { id: "vat-thresholds", class: "vat-thresholds" }));
  const anchor = document.querySelector(".pipeline-card");
  if (anchor) anchor.after(card); else document.querySelector("main")?.append(card);
  return card;
}

function thresholdGauge(row) {
  const total = Number(row.total_eur);
  const limit = Number(row.threshold_eur || 10000);
  const percent = limit ? (total / limit) * 100 : 0;
  const color = row.destination_vat ? "var(--bad, #c0392b)" : percent >= 80 ? "var(--warn, #d68910)" : "var(--ok, #1e8449)";
  const status = row.destination_vat ? "destination VAT (OSS)" : percent >= 80 ? "80 % reached" : "home VAT";
  return h("div", { class: "vat-gauge", dataset: { company: row.company_id, year: String(row.year) }, style: "margin:0.4rem 0" },
    h("div", { style: "display:flex;justify-content:space-between;gap:1rem" },
      h("span", {}, h("b", {}, row.company_id), ` · ${row.year}`),
      h("span", { class: "num" }, `${money(row.total_eur, "EUR")} of ${money(limit, "EUR")} · ${percent.toFixed(1)} % · ${status}`)),
    h("div", { role: "meter", "aria-valuemin": "0", "aria-valuemax": String(limit), "aria-valuenow": String(total),
      style: "position:relative;height:0.6rem;background:rgba(127,127,127,0.2);border-radius:0.3rem;overflow:hidden" },
    h("div", { style: `width:${Math.min(100, percent).toFixed(1)}%;height:100%;background:${color}` }),
    h("div", { style: "position:absolute;left:80%;top:0;bottom:0;width:1px;background:rgba(0,0,0,0.4)" })));
}

async function loadThresholds() {
  try {
    const reply = await api("/api/vat/thresholds");
    if (!reply.ok) return;
    const { thresholds } = await reply.json();
    thresholdCard();
    $("vat-thresholds").replaceChildren(...(thresholds.length
      ? thresholds.map(thresholdGauge)
      : [h("p", { class: "muted" }, "No cross-border consumer sales counted yet.")]));
  } catch {
    // the next refresh tries again
  }
}

// --- poller status per store (GET /api/pollers), in the engine-health card ------------------

const POLLER_REFRESH_MS = 5_000;

function clock(epoch) {
  return epoch ? new Date(epoch * 1000).toLocaleTimeString("en-GB") : "–";
}

function pollerRow(p) {
  const failing = p.failures > 0 && p.last_error;
  return h("tr", { dataset: { store: p.store_id } },
    h("td", {}, h("code", {}, p.store_id), " ", marketplace(p.marketplace)),
    h("td", {}, clock(p.last_success)),
    h("td", {}, clock(p.next_run)),
    h("td", { class: "num" }, (p.orders_seen ?? 0).toLocaleString("en-GB")),
    h("td", { class: failing ? "" : "muted", title: p.last_error ?? "" },
      p.last_error ? `${failing ? "" : "(recovered) "}${clock(p.last_error_at)} ${p.last_error.slice(0, 80)}` : "none"));
}

async function loadPollers() {
  try {
    const reply = await api("/api/pollers");
    if (!reply.ok) return;
    const { pollers } = await reply.json();
    let box = $("pollers");
    if (!box) {
      box = h("div", { id: "pollers", class: "health", style: "margin-top:14px" });
      $("health").after(box);
    }
    box.replaceChildren(h("h4", {}, "Pollers"), h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "store"), h("th", {}, "last success"), h("th", {}, "next run"),
        h("th", { class: "num" }, "orders seen"), h("th", {}, "last error"))),
      h("tbody", {}, ...(pollers.length ? pollers.map(pollerRow)
        : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No polled stores configured."))]))));
  } catch {
    // the next refresh tries again
  }
}

// --- start -----------------------------------------------------------------------------------

function tick() {
  $("clock").textContent = new Date().toLocaleTimeString("en-GB");
}

function start() {
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); readFilters(); });
  let typing;
  $("q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(readFilters, 250); });
  for (const id of ["f-marketplace", "f-store", "f-stage"]) $(id).addEventListener("change", readFilters);
  $("f-clear").addEventListener("click", () => { $("filters").reset(); readFilters(); });
  $("signin-open").addEventListener("click", showSignIn);
  $("signin-cancel").addEventListener("click", () => $("signin").close());
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("detail-close").addEventListener("click", closeDetail);
  $("scrim").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.detailUuid) closeDetail(); });
  window.addEventListener("resize", () => {
    for (const [id, c] of Object.entries(state.charts)) c.setSize({ width: $(id).clientWidth, height: 170 });
  });
  renderOperator();
  tick();
  setInterval(tick, 1000);
  if (token()) begin(); else showSignIn();
}

// After sign-in only: show the page and start reading.
let begun = false;
function begin() {
  if (begun) return;
  begun = true;
  $("page").hidden = false;
  loadThresholds();
  setInterval(loadThresholds, THRESHOLD_REFRESH_MS);
  loadPollers();
  setInterval(loadPollers, POLLER_REFRESH_MS);
  setInterval(() => renderOrders(), 30_000); // time in stage moves on
  connect();
}

start();
