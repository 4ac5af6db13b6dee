"""Marketplace pollers (imperative shell): one loop per store that needs one, inside the worker.

bol.com is polled (pushes only ask for a prompt fetch); WooCommerce is swept with
`modified_after` because it never retries a webhook; Shopify is reconciled behind its webhooks.
Each loop holds a Redis lease for its store, so with several workers exactly one polls a store.
The decisions are pure (engine.domain.polling); this package moves the bytes. The faust
worker runs it as a task (agents/pollers.py).
"""
