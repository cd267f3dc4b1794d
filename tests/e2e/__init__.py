"""End to end: real processes (`lgsp up`, `lgsp gateway`, `lgsp adapters`,
RabbitMQ, Prometheus, pytest itself) and the docs executed."""
