"""The HTTP edge of the bus: the exchange path (authentication, grants,
quotas, idempotency, both contract checks, routing to the transport), the
token endpoint, the catalogue and API documents, health and metrics, the
admin API and the operators' dashboard; one middleware renders every error
as an RFC 9457 problem. It knows the transport interface, never aio-pika."""

from lgsp.gateway.app import DRAIN, EXCHANGE_STATISTICS, STARTING, create_app, create_metrics_app

__all__ = ["DRAIN", "EXCHANGE_STATISTICS", "STARTING", "create_app", "create_metrics_app"]
