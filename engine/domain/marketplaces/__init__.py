"""One adapter per marketplace, each of the same shape.

- Its webhook door (`doors.py`, one `WebhookDoor` each): `verify`, `check`, `delivery_id`,
  `topic`, `external_order_id`, `after_accept`, with one signature each, so one ingest handler
  (web/ingest.py) serves all four.
- `normalise(delivery, store)`: the order events a verified delivery carries, or
  `NormalisationError` with a reason fit for the dead-letter topic.
- Shopify and WooCommerce are one module each; bol and Amazon, which are polled through an
  OAuth API, are packages of one module per concern (wire, door, api, orders, normalise,
  rates; bol's returns, Amazon's fees and Orders API v2026).
- What they share: `_door` (header reads, HMAC and secret checks), `_document` (typed JSON
  reads), `_events` (event ids), `_oauth` (token and API request shapes), `_sanity`.
"""
