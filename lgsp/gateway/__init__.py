"""The HTTP edge of the bus: authentication, contract checks, routing to the
transport, problem rendering, catalogue and operations routes."""

from lgsp.gateway.app import create_app, create_metrics_app

__all__ = ["create_app", "create_metrics_app"]
