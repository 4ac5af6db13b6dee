"""Winkel Orders engine, in layers that only point down (contracts in pyproject.toml):

- `engine.cli`: the composition root (`winkel ...`).
- `engine.dev`: demo and developer tools (fakes, simulator, bench, local Kafka/Redis runtime);
  not in the production image.
- `engine.shell`: the imperative shell that is not faust (Kafka helpers, read model, pollers,
  rebuild, replay, VIES client).
- `engine.domain`: the pure core (normalisers, lifecycle, triggers, VAT and tax).
"""
