"""One module per marketplace, each of the same shape.

- `verify(body, headers, secrets)`: raise `SignatureError` unless the delivery is authentic;
- `delivery_id(headers)`: the marketplace's id of this delivery, the same on its retries;
- `normalise(delivery, store)`: the order events a verified delivery carries, or
  `NormalisationError` with a reason fit for the dead-letter topic.
"""
