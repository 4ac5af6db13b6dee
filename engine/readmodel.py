"""Names of the Redis read model shared by the projection agent (writer) and the web (reader)."""

ORDERS_HASH = "winkel:orders"  # order uuid -> summary JSON
RECENT_ORDERS = "winkel:orders:recent"  # sorted set: order uuid scored by last change (epoch s)
UPDATES_CHANNEL = "winkel:orders:updates"  # pub/sub: one summary JSON per change
DELIVERY_PREFIX = "winkel:delivery"  # webhook dedupe keys


def delivery_key(marketplace: str, store_id: str, delivery_id: str) -> str:
    return f"{DELIVERY_PREFIX}:{marketplace}:{store_id}:{delivery_id}"
