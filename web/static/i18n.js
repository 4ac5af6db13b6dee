// Every text the dashboard shows, in English and Dutch, and the one way it formats numbers,
// money, percentages and times (Intl, in the operator's own time zone). No build step: a plain
// ES module that app.js imports.

const LANGUAGE_KEY = "winkel.language";
export const LANGUAGES = ["en", "nl"];
// Locales for Intl: European conventions in both languages (dd-mm, 24 h, euro first).
const LOCALES = { en: "en-GB", nl: "nl-NL" };

const en = {
  "app.sub": "Operations",
  "app.title": "Winkel Orders · operations",
  "nav.orders": "Orders",
  "nav.stuck": "Worklist",
  "nav.dead": "Dead letters",
  "lang.label": "Language",
  "zone.title": "All times are shown in your time zone, {zone}",
  "live.connecting": "Connecting",
  "live.live": "Live",
  "live.reconnecting": "Reconnecting",
  "session.signin": "Sign in",
  "session.signout": "Sign out",
  "session.as": "Signed in as {operator} ({role})",
  "session.title": "Sign in",
  "session.explain": "Paste your viewer or operator token: nothing is shown before. It stays in this browser tab only (session storage).",
  "session.token": "Token",
  "session.cancel": "Cancel",
  "session.invalid": "That token is not valid.",
  "session.failed": "Sign-in failed ({status}).",
  "session.welcome": "Signed in as {operator}",
  "role.operator": "operator",
  "role.viewer": "viewer",

  "kpi.aria": "Key figures",
  "kpi.orders": "Orders",
  "kpi.orders.note": "in the read model",
  "kpi.ingest": "Ingest",
  "kpi.ingest.note": "webhooks / min, last minute",
  "kpi.latency": "Webhook → decision",
  "kpi.latency.note": "mean, last minute",
  "kpi.latency.unknown": "needs received_at on audit entries",
  "kpi.latency.idle": "no decisions in the last minute",
  "kpi.stuck": "Waiting too long",
  "kpi.stuck.note": "orders past their stage limit",
  "kpi.dead": "Dead letters",
  "kpi.dead.note": "not understood, replayable",
  "kpi.lag": "Consumer lag",
  "kpi.lag.note": "records behind, worker group",
  "kpi.lag.unavailable": "unavailable",
  "kpi.lag.checking": "checking…",
  "na": "n/a",

  "pipeline.title": "Pipeline",
  "pipeline.hint": "orders per stage · click a stage to filter",
  "pipeline.stuck": "{count} waiting too long",
  "pipeline.oldest": "oldest {age}",

  "chart.ingest": "Ingest rate",
  "chart.ingest.hint": "accepted webhooks / s · 10 min",
  "chart.ingest.series": "webhooks / s",
  "chart.latency": "Webhook → decision latency",
  "chart.latency.hint": "ms · 10 min",
  "chart.latency.series": "latency (ms)",
  "chart.latency.none": "No samples yet: the latency is measured from the webhook's receipt time carried on audit entries (received_at).",
  "chart.time": "time",

  "bottlenecks.title": "Bottlenecks",
  "bottlenecks.hint": "oldest order per stage · limit",
  "bottlenecks.none": "Nothing waiting.",
  "bottlenecks.over": "{count} over limit",
  "bottlenecks.limit": "limit {limit}",

  "oss.title": "OSS threshold",
  "oss.hint": "EU distance sales to consumers per company and year · {limit} · alerts at {warn} and {full}",
  "oss.none": "No cross-border consumer sales counted yet.",
  "oss.of": "{total} of {limit} · {percent} · {status}",
  "oss.destination": "destination VAT (OSS)",
  "oss.warn": "{percent} reached",
  "oss.home": "home VAT",

  "orders.title": "Orders",
  "orders.aria": "Orders",
  "orders.count": "{count} orders",
  "orders.count.one": "1 order",
  "orders.range": "{first}–{last} of {total}",
  "orders.previous": "Previous",
  "orders.next": "Next",
  "orders.export": "Export CSV",
  "orders.exporting": "Exporting…",
  "orders.exported": "Exported {file}",
  "orders.export.failed": "Export failed ({status}): {reason}",
  "orders.fresh": "{count} new or changed orders · show",
  "orders.fresh.one": "1 new or changed order · show",
  "orders.loading": "Loading orders…",
  "orders.empty": "No orders yet.",
  "orders.none": "No orders match these filters.",
  "orders.failed": "The list could not be loaded ({status}): {reason}",
  "filters.search": "Search order, customer, SKU…",
  "filters.search.aria": "Search",
  "filters.marketplace": "All marketplaces",
  "filters.store": "Store",
  "filters.company": "Company",
  "filters.country": "Country",
  "filters.stage": "All stages",
  "filters.payment": "Any payment",
  "filters.fulfilment": "Any fulfilment",
  "filters.invoice": "Any invoice",
  "filters.return": "Any return",
  "filters.from": "Ordered from",
  "filters.to": "to",
  "filters.more": "More filters",
  "filters.clear": "Clear",
  "col.order": "Order",
  "col.ordered": "Ordered",
  "col.marketplace": "Marketplace",
  "col.store": "Store · company",
  "col.customer": "Customer",
  "col.total": "Total",
  "col.payment": "Payment",
  "col.fulfilment": "Fulfilment",
  "col.invoice": "Invoice",
  "col.return": "Return",
  "col.stage": "Stage",
  "col.in_stage": "In stage",
  "col.since": "since {when}",
  "sort.by": "Sort by {column}",

  "stage.new": "New",
  "stage.paid": "Paid",
  "stage.partially_shipped": "Partly shipped",
  "stage.shipped": "Shipped",
  "stage.invoiced": "Invoiced",
  "stage.cancelled": "Cancelled",
  "stage.return_requested": "Return requested",
  "stage.returned": "Returned",
  "stage.credited": "Credited",
  "payment.pending": "Pending",
  "payment.paid": "Paid",
  "payment.refunded": "Refunded",
  "fulfilment.unfulfilled": "Not shipped",
  "fulfilment.partial": "Partly shipped",
  "fulfilment.fulfilled": "Shipped",
  "fulfilment.cancelled": "Cancelled",
  "invoice.none": "Not invoiced",
  "invoice.partial": "Partly invoiced",
  "invoice.invoiced": "Invoiced",
  "return.none": "None",
  "return.requested": "Requested",
  "return.returned": "Returned",

  "stuck.title": "Worklist",
  "stuck.hint": "orders past their stage limit, oldest first",
  "stuck.count": "{count} orders waiting too long",
  "stuck.none": "Nothing is waiting too long.",
  "stuck.failed": "The worklist could not be loaded ({status}): {reason}",
  "stuck.col.reason": "Waiting for",
  "stuck.col.age": "Waiting",
  "stuck.col.limit": "Limit",
  "stuck.awaiting_payment": "ordered {since}, not paid yet",
  "stuck.awaiting_shipment": "paid {since}, no shipment reported by {marketplace}",
  "stuck.partly_shipped": "partly shipped {since}, the rest not reported by {marketplace}",
  "stuck.awaiting_invoice": "shipped {since}, no invoice requested yet",
  "stuck.awaiting_invoice_confirmation": "invoice requested {since}, not confirmed by the invoice service",
  "stuck.partly_invoiced": "partly invoiced {since}, the rest not invoiced yet",
  "stuck.awaiting_return": "return requested {since}, not received yet",
  "stuck.awaiting_refund": "returned {since}, not refunded yet",
  "stuck.unknown": "{reason} since {since}",

  "dead.title": "Dead letters",
  "dead.hint": "{count} in total · newest first",
  "dead.none": "No dead letters. Every record was understood.",
  "dead.col.failed": "Failed",
  "dead.col.order": "Store · order",
  "dead.col.source": "Source",
  "dead.col.reason": "Reason",
  "dead.replay": "Replay",
  "dead.replayed": "replayed",
  "dead.replayed.by": "by {operator}",
  "dead.replay.ok": "Replayed {id} to {topic}",
  "dead.replay.signin": "Sign in as an operator to replay dead letters (401).",
  "dead.replay.failed": "Replay failed ({status}): {reason}",
  "dead.unknown": "order not known",
  "dead.failed": "The dead letters could not be loaded ({status}): {reason}",

  "health.title": "Engine health",
  "health.checked": "checked {when}",
  "health.worker": "Worker",
  "health.lag": "Worker consumer lag",
  "health.lag.unavailable": "Consumer lag unavailable: {error}",
  "health.lag.unknown": "Consumer lag not measured yet.",
  "health.webhooks": "Webhooks",
  "health.webhooks.none": "No webhooks yet.",
  "health.accepted": "accepted",
  "health.duplicate": "dup.",
  "health.rejected": "rejected",
  "health.failed": "failed",
  "health.reachable": "reachable",
  "health.unreachable": "unavailable",
  "health.silent": "The worker has not reported for a while (stopped, or cut off from Redis).",
  "health.rebuilding": "Read model rebuilding from Kafka: Redis lost it, the worker is refilling it; counts are partial meanwhile.",
  "pollers.title": "Pollers",
  "pollers.store": "store",
  "pollers.success": "last success",
  "pollers.next": "next run",
  "pollers.seen": "orders seen",
  "pollers.error": "last error",
  "pollers.none": "No polled stores configured.",
  "pollers.ok": "none",
  "pollers.recovered": "(recovered)",

  "detail.aria": "Order detail",
  "detail.close": "Close",
  "detail.loading": "Loading…",
  "detail.failed": "Could not load the order ({status}).",
  "detail.marketplace": "Marketplace",
  "detail.store": "Store",
  "detail.company": "Company",
  "detail.customer": "Customer",
  "detail.country": "Ship-to country",
  "detail.total": "Total",
  "detail.payment": "Payment",
  "detail.fulfilment": "Fulfilment",
  "detail.invoice": "Invoice",
  "detail.return": "Return",
  "detail.in_stage": "In stage",
  "detail.ordered": "Ordered",
  "detail.updated": "Last change",
  "detail.stuck": "Waiting too long: {reason} (limit {limit})",
  "detail.lines": "Lines and VAT",
  "detail.lines.none": "Lines appear once the engine publishes them for this order.",
  "detail.sku": "SKU",
  "detail.description": "Description",
  "detail.qty": "Qty",
  "detail.net": "Net",
  "detail.vat_rate": "VAT %",
  "detail.vat": "VAT",
  "detail.gross": "Gross",
  "detail.sum": "Total",
  "detail.shipments": "Shipments",
  "detail.shipments.none": "No shipment reported yet.",
  "detail.shipment": "Shipment",
  "detail.sent": "Sent",
  "detail.units": "Units",
  "detail.from": "From",
  "detail.carrier": "Carrier",
  "detail.tracking": "Tracking",
  "detail.by_operator": "marked by an operator",
  "detail.confirms": "confirms the operator's {units}",
  "detail.fees": "Fees and costs",
  "detail.fees.none": "No fees known for this order.",
  "detail.triggers": "Invoice and credit-note triggers",
  "detail.triggers.none": "No invoice or credit-note trigger yet.",
  "detail.whole_order": "whole order",
  "detail.trigger.shipment": "shipment {shipment}",
  "detail.trigger.vat": "VAT {scheme} · {country}",
  "detail.trigger.totals": "net {net}, VAT {vat}",
  "detail.actions": "Change status",
  "detail.actions.none": "No status change fits this order's state now.",
  "detail.timeline": "Audit trail",
  "detail.timeline.none": "No audit entries yet.",
  "trigger.invoice": "Invoice",
  "trigger.credit_note": "Credit note",

  "action.mark_paid": "Mark as paid",
  "action.mark_shipped": "Mark as shipped",
  "action.cancel": "Cancel order",
  "action.reason": "Reason (required, kept in the audit trail)",
  "action.aria": "Action",
  "action.reason.aria": "Reason",
  "action.apply": "Apply change",
  "action.as": "as {operator}",
  "action.viewer": "viewers may only read: the change needs an operator token",
  "action.reason.required": "A reason is required.",
  "action.sent": "Sent. The change appears in the audit trail once the engine has applied it.",
  "action.signin": "Refused (401): sign in as an operator first.",
  "action.refused": "Refused ({status}): {reason}",

  "event.ordered": "Order received",
  "event.paid": "Payment received",
  "event.shipped": "Shipped",
  "event.partly_shipped": "Partly shipped",
  "event.invoice_requested": "Invoice requested",
  "event.invoice_confirmed": "Invoice confirmed by the invoice service",
  "event.credit_note_requested": "Credit note requested",
  "event.credit_note_confirmed": "Credit note confirmed by the invoice service",
  "event.return_requested": "Return requested",
  "event.returned": "Return received",
  "event.refunded": "Refunded",
  "event.cancelled": "Cancelled",
  "event.status_changed_by_operator": "Status changed by an operator",
  "event.refused": "Refused",
  "event.details_updated": "Order details updated by the marketplace",
  "event.shipment_matched": "Operator's shipment matched with the marketplace's",
  "event.invoiced_by_marketplace": "Invoiced by the marketplace (no invoice of ours)",
  "event.cancellation_withdrawn": "Cancellation withdrawn",
  "event.field_defaulted": "A missing field was filled in with its default",
  "event.note": "Note",
  "event.stage": "{from} → {to}",
  "event.shipment": "Shipment {shipment} · {sent}",
  "event.shipment.bare": "Shipment {shipment}",
  "event.operator_action": "{action}: “{reason}”",
  "actor.system": "engine",
  "actor.operator": "operator",

  "fee.commission": "Commission",
  "fee.fba_fee": "FBA fee",
  "fee.shipping_fee": "Shipping fee",
  "fee.payment_fee": "Payment fee",
  "fee.other": "Other",

  "error.unknown": "unknown error",
  "dash": "–",
};

const nl = {
  "app.sub": "Operatie",
  "app.title": "Winkel Orders · operatie",
  "nav.orders": "Orders",
  "nav.stuck": "Werklijst",
  "nav.dead": "Dode brieven",
  "lang.label": "Taal",
  "zone.title": "Alle tijden staan in uw tijdzone, {zone}",
  "live.connecting": "Verbinden",
  "live.live": "Live",
  "live.reconnecting": "Opnieuw verbinden",
  "session.signin": "Inloggen",
  "session.signout": "Uitloggen",
  "session.as": "Ingelogd als {operator} ({role})",
  "session.title": "Inloggen",
  "session.explain": "Plak uw kijk- of operatortoken: eerder wordt niets getoond. Het blijft alleen in dit browsertabblad (session storage).",
  "session.token": "Token",
  "session.cancel": "Annuleren",
  "session.invalid": "Dat token is niet geldig.",
  "session.failed": "Inloggen mislukt ({status}).",
  "session.welcome": "Ingelogd als {operator}",
  "role.operator": "operator",
  "role.viewer": "kijker",

  "kpi.aria": "Kerncijfers",
  "kpi.orders": "Orders",
  "kpi.orders.note": "in het leesmodel",
  "kpi.ingest": "Binnenkomst",
  "kpi.ingest.note": "webhooks / min, laatste minuut",
  "kpi.latency": "Webhook → besluit",
  "kpi.latency.note": "gemiddeld, laatste minuut",
  "kpi.latency.unknown": "vraagt received_at op auditregels",
  "kpi.latency.idle": "geen besluiten in de laatste minuut",
  "kpi.stuck": "Wacht te lang",
  "kpi.stuck.note": "orders over hun fasetermijn",
  "kpi.dead": "Dode brieven",
  "kpi.dead.note": "niet begrepen, opnieuw af te spelen",
  "kpi.lag": "Consumentenachterstand",
  "kpi.lag.note": "berichten achter, workergroep",
  "kpi.lag.unavailable": "niet beschikbaar",
  "kpi.lag.checking": "controleren…",
  "na": "n.v.t.",

  "pipeline.title": "Pijplijn",
  "pipeline.hint": "orders per fase · klik op een fase om te filteren",
  "pipeline.stuck": "{count} wachten te lang",
  "pipeline.oldest": "oudste {age}",

  "chart.ingest": "Binnenkomst",
  "chart.ingest.hint": "geaccepteerde webhooks / s · 10 min",
  "chart.ingest.series": "webhooks / s",
  "chart.latency": "Latentie webhook → besluit",
  "chart.latency.hint": "ms · 10 min",
  "chart.latency.series": "latentie (ms)",
  "chart.latency.none": "Nog geen metingen: de latentie wordt gemeten vanaf de ontvangsttijd van de webhook op de auditregels (received_at).",
  "chart.time": "tijd",

  "bottlenecks.title": "Knelpunten",
  "bottlenecks.hint": "oudste order per fase · termijn",
  "bottlenecks.none": "Niets wacht.",
  "bottlenecks.over": "{count} over termijn",
  "bottlenecks.limit": "termijn {limit}",

  "oss.title": "OSS-drempel",
  "oss.hint": "EU-afstandsverkopen aan consumenten per bedrijf en jaar · {limit} · waarschuwing bij {warn} en {full}",
  "oss.none": "Nog geen grensoverschrijdende consumentenverkopen geteld.",
  "oss.of": "{total} van {limit} · {percent} · {status}",
  "oss.destination": "btw van bestemmingsland (OSS)",
  "oss.warn": "{percent} bereikt",
  "oss.home": "Nederlandse btw",

  "orders.title": "Orders",
  "orders.aria": "Orders",
  "orders.count": "{count} orders",
  "orders.count.one": "1 order",
  "orders.range": "{first}–{last} van {total}",
  "orders.previous": "Vorige",
  "orders.next": "Volgende",
  "orders.export": "CSV exporteren",
  "orders.exporting": "Exporteren…",
  "orders.exported": "{file} geëxporteerd",
  "orders.export.failed": "Exporteren mislukt ({status}): {reason}",
  "orders.fresh": "{count} nieuwe of gewijzigde orders · tonen",
  "orders.fresh.one": "1 nieuwe of gewijzigde order · tonen",
  "orders.loading": "Orders laden…",
  "orders.empty": "Nog geen orders.",
  "orders.none": "Geen orders voor deze filters.",
  "orders.failed": "De lijst kon niet geladen worden ({status}): {reason}",
  "filters.search": "Zoek order, klant, SKU…",
  "filters.search.aria": "Zoeken",
  "filters.marketplace": "Alle marktplaatsen",
  "filters.store": "Winkel",
  "filters.company": "Bedrijf",
  "filters.country": "Land",
  "filters.stage": "Alle fasen",
  "filters.payment": "Elke betaling",
  "filters.fulfilment": "Elke verzending",
  "filters.invoice": "Elke factuur",
  "filters.return": "Elk retour",
  "filters.from": "Besteld vanaf",
  "filters.to": "tot en met",
  "filters.more": "Meer filters",
  "filters.clear": "Wissen",
  "col.order": "Order",
  "col.ordered": "Besteld",
  "col.marketplace": "Marktplaats",
  "col.store": "Winkel · bedrijf",
  "col.customer": "Klant",
  "col.total": "Totaal",
  "col.payment": "Betaling",
  "col.fulfilment": "Verzending",
  "col.invoice": "Factuur",
  "col.return": "Retour",
  "col.stage": "Fase",
  "col.in_stage": "In fase",
  "col.since": "sinds {when}",
  "sort.by": "Sorteer op {column}",

  "stage.new": "Nieuw",
  "stage.paid": "Betaald",
  "stage.partially_shipped": "Deels verzonden",
  "stage.shipped": "Verzonden",
  "stage.invoiced": "Gefactureerd",
  "stage.cancelled": "Geannuleerd",
  "stage.return_requested": "Retour aangevraagd",
  "stage.returned": "Geretourneerd",
  "stage.credited": "Gecrediteerd",
  "payment.pending": "Open",
  "payment.paid": "Betaald",
  "payment.refunded": "Terugbetaald",
  "fulfilment.unfulfilled": "Niet verzonden",
  "fulfilment.partial": "Deels verzonden",
  "fulfilment.fulfilled": "Verzonden",
  "fulfilment.cancelled": "Geannuleerd",
  "invoice.none": "Niet gefactureerd",
  "invoice.partial": "Deels gefactureerd",
  "invoice.invoiced": "Gefactureerd",
  "return.none": "Geen",
  "return.requested": "Aangevraagd",
  "return.returned": "Geretourneerd",

  "stuck.title": "Werklijst",
  "stuck.hint": "orders over hun fasetermijn, oudste eerst",
  "stuck.count": "{count} orders wachten te lang",
  "stuck.none": "Niets wacht te lang.",
  "stuck.failed": "De werklijst kon niet geladen worden ({status}): {reason}",
  "stuck.col.reason": "Wacht op",
  "stuck.col.age": "Wacht",
  "stuck.col.limit": "Termijn",
  "stuck.awaiting_payment": "{since} besteld, nog niet betaald",
  "stuck.awaiting_shipment": "{since} betaald, nog geen verzending gemeld door {marketplace}",
  "stuck.partly_shipped": "{since} deels verzonden, de rest niet gemeld door {marketplace}",
  "stuck.awaiting_invoice": "{since} verzonden, nog geen factuur aangevraagd",
  "stuck.awaiting_invoice_confirmation": "factuur {since} aangevraagd, niet bevestigd door de factuurdienst",
  "stuck.partly_invoiced": "{since} deels gefactureerd, de rest nog niet gefactureerd",
  "stuck.awaiting_return": "{since} retour aangevraagd, nog niet ontvangen",
  "stuck.awaiting_refund": "{since} geretourneerd, nog niet terugbetaald",
  "stuck.unknown": "{reason} sinds {since}",

  "dead.title": "Dode brieven",
  "dead.hint": "{count} in totaal · nieuwste eerst",
  "dead.none": "Geen dode brieven. Elk bericht is begrepen.",
  "dead.col.failed": "Mislukt",
  "dead.col.order": "Winkel · order",
  "dead.col.source": "Bron",
  "dead.col.reason": "Reden",
  "dead.replay": "Opnieuw",
  "dead.replayed": "opnieuw afgespeeld",
  "dead.replayed.by": "door {operator}",
  "dead.replay.ok": "{id} opnieuw afgespeeld naar {topic}",
  "dead.replay.signin": "Log in als operator om dode brieven opnieuw af te spelen (401).",
  "dead.replay.failed": "Opnieuw afspelen mislukt ({status}): {reason}",
  "dead.unknown": "order onbekend",
  "dead.failed": "De dode brieven konden niet geladen worden ({status}): {reason}",

  "health.title": "Gezondheid van de engine",
  "health.checked": "gecontroleerd {when}",
  "health.worker": "Worker",
  "health.lag": "Achterstand workergroep",
  "health.lag.unavailable": "Achterstand niet beschikbaar: {error}",
  "health.lag.unknown": "Achterstand nog niet gemeten.",
  "health.webhooks": "Webhooks",
  "health.webhooks.none": "Nog geen webhooks.",
  "health.accepted": "geaccepteerd",
  "health.duplicate": "dubbel",
  "health.rejected": "geweigerd",
  "health.failed": "mislukt",
  "health.reachable": "bereikbaar",
  "health.unreachable": "niet beschikbaar",
  "health.silent": "De worker heeft al een tijd niets gemeld (gestopt, of afgesneden van Redis).",
  "health.rebuilding": "Leesmodel wordt opnieuw opgebouwd uit Kafka: Redis was het kwijt, de worker vult het weer; de aantallen zijn intussen onvolledig.",
  "pollers.title": "Pollers",
  "pollers.store": "winkel",
  "pollers.success": "laatst gelukt",
  "pollers.next": "volgende keer",
  "pollers.seen": "orders gezien",
  "pollers.error": "laatste fout",
  "pollers.none": "Geen winkels die gepold worden.",
  "pollers.ok": "geen",
  "pollers.recovered": "(hersteld)",

  "detail.aria": "Orderdetails",
  "detail.close": "Sluiten",
  "detail.loading": "Laden…",
  "detail.failed": "De order kon niet geladen worden ({status}).",
  "detail.marketplace": "Marktplaats",
  "detail.store": "Winkel",
  "detail.company": "Bedrijf",
  "detail.customer": "Klant",
  "detail.country": "Afleverland",
  "detail.total": "Totaal",
  "detail.payment": "Betaling",
  "detail.fulfilment": "Verzending",
  "detail.invoice": "Factuur",
  "detail.return": "Retour",
  "detail.in_stage": "In fase",
  "detail.ordered": "Besteld",
  "detail.updated": "Laatste wijziging",
  "detail.stuck": "Wacht te lang: {reason} (termijn {limit})",
  "detail.lines": "Regels en btw",
  "detail.lines.none": "De regels verschijnen zodra de engine ze voor deze order publiceert.",
  "detail.sku": "SKU",
  "detail.description": "Omschrijving",
  "detail.qty": "Aantal",
  "detail.net": "Netto",
  "detail.vat_rate": "Btw %",
  "detail.vat": "Btw",
  "detail.gross": "Bruto",
  "detail.sum": "Totaal",
  "detail.shipments": "Zendingen",
  "detail.shipments.none": "Nog geen zending gemeld.",
  "detail.shipment": "Zending",
  "detail.sent": "Verzonden",
  "detail.units": "Stuks",
  "detail.from": "Vanuit",
  "detail.carrier": "Vervoerder",
  "detail.tracking": "Track & trace",
  "detail.by_operator": "gemeld door een operator",
  "detail.confirms": "bevestigt de {units} van de operator",
  "detail.fees": "Kosten",
  "detail.fees.none": "Geen kosten bekend voor deze order.",
  "detail.triggers": "Factuur- en creditnotatriggers",
  "detail.triggers.none": "Nog geen factuur- of creditnotatrigger.",
  "detail.whole_order": "hele order",
  "detail.trigger.shipment": "zending {shipment}",
  "detail.trigger.vat": "btw {scheme} · {country}",
  "detail.trigger.totals": "netto {net}, btw {vat}",
  "detail.actions": "Status wijzigen",
  "detail.actions.none": "Geen statuswijziging past nu bij deze order.",
  "detail.timeline": "Audittrail",
  "detail.timeline.none": "Nog geen auditregels.",
  "trigger.invoice": "Factuur",
  "trigger.credit_note": "Creditnota",

  "action.mark_paid": "Markeren als betaald",
  "action.mark_shipped": "Markeren als verzonden",
  "action.cancel": "Order annuleren",
  "action.reason": "Reden (verplicht, blijft in de audittrail)",
  "action.aria": "Actie",
  "action.reason.aria": "Reden",
  "action.apply": "Wijziging toepassen",
  "action.as": "als {operator}",
  "action.viewer": "kijkers mogen alleen lezen: de wijziging vraagt een operatortoken",
  "action.reason.required": "Een reden is verplicht.",
  "action.sent": "Verstuurd. De wijziging verschijnt in de audittrail zodra de engine haar heeft verwerkt.",
  "action.signin": "Geweigerd (401): log eerst in als operator.",
  "action.refused": "Geweigerd ({status}): {reason}",

  "event.ordered": "Order ontvangen",
  "event.paid": "Betaling ontvangen",
  "event.shipped": "Verzonden",
  "event.partly_shipped": "Deels verzonden",
  "event.invoice_requested": "Factuur aangevraagd",
  "event.invoice_confirmed": "Factuur bevestigd door de factuurdienst",
  "event.credit_note_requested": "Creditnota aangevraagd",
  "event.credit_note_confirmed": "Creditnota bevestigd door de factuurdienst",
  "event.return_requested": "Retour aangevraagd",
  "event.returned": "Retour ontvangen",
  "event.refunded": "Terugbetaald",
  "event.cancelled": "Geannuleerd",
  "event.status_changed_by_operator": "Status gewijzigd door een operator",
  "event.refused": "Geweigerd",
  "event.details_updated": "Ordergegevens bijgewerkt door de marktplaats",
  "event.shipment_matched": "Zending van de operator gekoppeld aan die van de marktplaats",
  "event.invoiced_by_marketplace": "Gefactureerd door de marktplaats (geen eigen factuur)",
  "event.cancellation_withdrawn": "Annulering ingetrokken",
  "event.field_defaulted": "Een ontbrekend veld kreeg zijn standaardwaarde",
  "event.note": "Notitie",
  "event.stage": "{from} → {to}",
  "event.shipment": "Zending {shipment} · {sent}",
  "event.shipment.bare": "Zending {shipment}",
  "event.operator_action": "{action}: “{reason}”",
  "actor.system": "engine",
  "actor.operator": "operator",

  "fee.commission": "Commissie",
  "fee.fba_fee": "FBA-kosten",
  "fee.shipping_fee": "Verzendkosten",
  "fee.payment_fee": "Betaalkosten",
  "fee.other": "Overig",

  "error.unknown": "onbekende fout",
  "dash": "–",
};

export const CATALOGUE = { en, nl };

function browserLanguage() {
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

let current = LANGUAGES.includes(localStorage.getItem(LANGUAGE_KEY)) ? localStorage.getItem(LANGUAGE_KEY) : browserLanguage();

export const language = () => current;
export const locale = () => LOCALES[current];
export const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** The operator's choice, remembered in this browser. */
export function setLanguage(next) {
  if (!LANGUAGES.includes(next)) return;
  current = next;
  localStorage.setItem(LANGUAGE_KEY, next);
  formats = makeFormats();
}

/** The text for `key` with its `{placeholders}` filled in; an unknown key shows as itself. */
export function t(key, params = {}) {
  const text = CATALOGUE[current][key] ?? CATALOGUE.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export const known = (key) => key in CATALOGUE[current] || key in CATALOGUE.en;

/** Translated if the catalogue knows it, else the raw value made readable. */
export function tOr(key, raw) {
  return known(key) ? t(key) : String(raw ?? "").replaceAll("_", " ");
}

/** Fills every element marked data-i18n (text), data-i18n-placeholder / -aria / -title. */
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

function makeFormats() {
  const tag = LOCALES[current];
  return {
    number: new Intl.NumberFormat(tag),
    decimal: new Intl.NumberFormat(tag, { maximumFractionDigits: 1 }),
    percent: new Intl.NumberFormat(tag, { style: "percent", maximumFractionDigits: 1 }),
    dateTime: new Intl.DateTimeFormat(tag, { dateStyle: "medium", timeStyle: "short" }),
    // dateStyle cannot be combined with timeZoneName: the same fields, spelled out.
    dateTimeZone: new Intl.DateTimeFormat(tag, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }),
    date: new Intl.DateTimeFormat(tag, { day: "numeric", month: "short", year: "numeric" }),
    time: new Intl.DateTimeFormat(tag, { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
    hourMinute: new Intl.DateTimeFormat(tag, { hour: "2-digit", minute: "2-digit" }),
    relative: new Intl.RelativeTimeFormat(tag, { numeric: "always" }),
    money: new Map(),
  };
}
let formats = makeFormats();

const missing = (value) => value === null || value === undefined || value === "" || Number.isNaN(value);

/** Money with its currency symbol, from the decimal string the API sends. */
export function money(amount, currency = "EUR") {
  if (missing(amount)) return t("dash");
  const code = currency || "EUR";
  if (!formats.money.has(code)) {
    try {
      formats.money.set(code, new Intl.NumberFormat(LOCALES[current], { style: "currency", currency: code }));
    } catch {
      formats.money.set(code, null);
    }
  }
  const format = formats.money.get(code);
  return format ? format.format(Number(amount)) : `${code} ${amount}`;
}

/** A latency: "155 ms" in either language. */
export const milliseconds = (value) => (missing(value) ? t("dash")
  : new Intl.NumberFormat(LOCALES[current], { style: "unit", unit: "millisecond", unitDisplay: "short", maximumFractionDigits: 0 }).format(value));
export const number = (value) => (missing(value) ? t("dash") : formats.number.format(value));
export const decimal = (value) => (missing(value) ? t("dash") : formats.decimal.format(value));
/** `ratio` 0.94 -> "94%" (en) / "94%" (nl), one decimal at most. */
export const percent = (ratio) => (missing(ratio) ? t("dash") : formats.percent.format(ratio));

const toDate = (value) => (typeof value === "number" ? new Date(value * 1000) : new Date(value));
/** An ISO string or epoch seconds, in the operator's zone. */
export const dateTime = (value) => (missing(value) ? t("dash") : formats.dateTime.format(toDate(value)));
export const dateTimeZone = (value) => (missing(value) ? t("dash") : formats.dateTimeZone.format(toDate(value)));
export const date = (value) => (missing(value) ? t("dash") : formats.date.format(toDate(value)));
export const clockTime = (value) => (missing(value) ? t("dash") : formats.time.format(toDate(value)));
export const hourMinute = (value) => (missing(value) ? t("dash") : formats.hourMinute.format(toDate(value)));

const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

/** "3 days ago" / "3 dagen geleden", for a moment `seconds` in the past. */
export function ago(seconds) {
  if (missing(seconds)) return t("dash");
  const s = Math.max(0, Math.round(seconds));
  const [unit, size] = UNITS.find(([, size]) => s >= size) ?? UNITS[3];
  return formats.relative.format(-Math.floor(s / size), unit);
}

/** A length of time, largest unit first: "2 d 5 h", "2 dg. 5 u." (Intl unit formatting). */
export function duration(seconds) {
  if (missing(seconds)) return t("dash");
  const s = Math.max(0, Math.round(seconds));
  // The largest unit that fits, and the next one down if it is not zero.
  const found = UNITS.findIndex(([, size]) => s >= size);
  const first = found < 0 ? UNITS.length - 1 : found;
  const parts = [[UNITS[first][0], Math.floor(s / UNITS[first][1])]];
  const next = UNITS[first + 1];
  if (next) {
    const amount = Math.floor((s % UNITS[first][1]) / next[1]);
    if (amount) parts.push([next[0], amount]);
  }
  const tag = LOCALES[current];
  return parts
    .map(([unit, amount]) => new Intl.NumberFormat(tag, { style: "unit", unit, unitDisplay: "narrow" }).format(amount))
    .join(" ");
}
