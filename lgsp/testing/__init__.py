"""Testing kit: what lgsp's own tests and benchmarks (and integrators) use.

:mod:`lgsp.testing.rabbitmq` starts a private RabbitMQ node for tests of the
``amqp`` transport.
"""
