"""Demo and developer tools: marketplace fakes, the simulator, the benchmark and the local
Kafka/Tansu/Redis runtime. Not part of the production image."""
