"""The pytest plugin of the testing kit (entry point ``pytest11``: loaded by
pytest wherever lgsp is installed).

It adds ``--lgsp-transport=memory|amqp`` (env ``LGSP_TEST_TRANSPORT``;
default ``memory``) and, when pytest-asyncio is installed, the ``lgsp_*``
fixtures of :mod:`lgsp.testing.fixtures`.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

ENV_TRANSPORT = "LGSP_TEST_TRANSPORT"
"""Picks the transport of ``lgsp_bus`` when ``--lgsp-transport`` is not given."""

TRANSPORTS = ("memory", "amqp")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("lgsp").addoption(
        "--lgsp-transport",
        choices=TRANSPORTS,
        default=None,
        help=f"transport of the lgsp_bus fixture (env {ENV_TRANSPORT}; default memory); "
        "amqp uses LGSP_TEST_AMQP_URL or starts a private RabbitMQ node",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("lgsp_transport") or os.environ.get(ENV_TRANSPORT) or "memory"
    if chosen not in TRANSPORTS:
        raise pytest.UsageError(f"{ENV_TRANSPORT}={chosen!r}: expected one of {TRANSPORTS}")
    config.option.lgsp_transport = chosen
    # The fixtures are async: without pytest-asyncio the plugin stays out of
    # the way instead of breaking every pytest run where lgsp is installed.
    if importlib.util.find_spec("pytest_asyncio") is not None:
        config.pluginmanager.import_plugin("lgsp.testing.fixtures")


def pytest_report_header(config: pytest.Config) -> str:
    return f"lgsp_bus transport: {config.getoption('lgsp_transport')}"
