"""The imperative shell that is not faust: Kafka helpers, the Redis read model, the pollers'
I/O, rebuild, replay and the VIES client. Above `engine.domain`, below the agents and the web."""
