"""What the bus records of itself: the record of each finished exchange
(:mod:`~lgsp.observe.record`) and the recorders that take it (Prometheus
metrics, the operators' live statistics, the tamper-evident exchange log),
period reports read back from that log, and structured logging.

Recorders are called on the request path and must not block: the exchange
log writes in batches off the event loop.
"""
