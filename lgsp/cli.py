"""The ``lgsp`` command (click: a well-kept CLI library with typed options,
environment fallbacks and a test runner)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from pathlib import Path

import click
import structlog

from lgsp import log as logging_setup
from lgsp.adapter import Adapter
from lgsp.config import Settings
from lgsp.registry import Registry
from lgsp.server import UnknownAdapter, load_adapters, run
from lgsp.transport import create_transport

AMQP_URL_HELP = "RabbitMQ URL, e.g. amqp://user:pass@host:5672/ (env LGSP_AMQP_URL)."


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"])
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    help="auto: JSON unless stdout is a terminal.",
)
def main(log_level: str, log_format: str) -> None:
    """lgsp: a provincial LGSP data-sharing bus, its mock agency systems and
    national services."""
    logging_setup.configure(log_level, json=None if log_format == "auto" else log_format == "json")


def _settings(config: Path | None) -> Settings:
    try:
        return Settings.load(config, token_secret=os.environ.get("LGSP_TOKEN_SECRET"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"bad configuration: {exc}") from exc


def _adapters(names: tuple[str, ...]) -> list[Adapter]:
    try:
        return load_adapters(names)
    except UnknownAdapter as exc:
        raise click.UsageError(str(exc)) from exc


config_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="LGSP_CONFIG",
    help="TOML settings and clients (env LGSP_CONFIG); default: the demo province.",
)
host_option = click.option("--host", default="127.0.0.1", help="Address the gateway binds.")
port_option = click.option(
    "--port", default=8080, type=click.IntRange(0, 65535), help="Gateway port."
)
amqp_option = click.option("--amqp-url", envvar="LGSP_AMQP_URL", help=AMQP_URL_HELP)


@main.command()
@host_option
@port_option
@click.option("--transport", "kind", type=click.Choice(["memory", "amqp"]), default="memory")
@amqp_option
@config_option
def up(host: str, port: int, kind: str, amqp_url: str | None, config: Path | None) -> None:
    """The whole bus in one process: gateway and every mock system."""
    if kind == "amqp" and not amqp_url:
        raise click.UsageError("--transport amqp needs --amqp-url or LGSP_AMQP_URL")
    settings = _settings(config)
    adapters = _adapters(())
    registry = Registry.from_entry_points()

    def banner() -> None:
        click.echo(_banner(settings, registry, host, port, kind), err=True)

    asyncio.run(
        run(
            transport=create_transport(kind, amqp_url=amqp_url),
            registry=registry,
            settings=settings,
            adapters=adapters,
            host=host,
            port=port,
            on_ready=banner,
        )
    )


@main.command()
@amqp_option
@host_option
@port_option
@config_option
def gateway(amqp_url: str | None, host: str, port: int, config: Path | None) -> None:
    """The gateway alone, reaching providers through RabbitMQ."""
    if not amqp_url:
        raise click.UsageError("the gateway needs --amqp-url or LGSP_AMQP_URL")
    settings = _settings(config)
    registry = Registry.from_entry_points()
    asyncio.run(
        run(
            transport=create_transport("amqp", amqp_url=amqp_url),
            registry=registry,
            settings=settings,
            host=host,
            port=port,
            on_ready=lambda: click.echo(_banner(settings, registry, host, port, "amqp"), err=True),
        )
    )


@main.command()
@amqp_option
@click.argument("names", nargs=-1)
def adapters(amqp_url: str | None, names: tuple[str, ...]) -> None:
    """Run adapters (default: every installed mock system) against RabbitMQ."""
    if not amqp_url:
        raise click.UsageError("adapters need --amqp-url or LGSP_AMQP_URL")
    chosen = _adapters(names)
    asyncio.run(
        run(
            transport=create_transport("amqp", amqp_url=amqp_url),
            registry=Registry.from_entry_points(),
            adapters=chosen,
            on_ready=lambda: structlog.get_logger("lgsp.cli").info(
                "adapters.ready", adapters=[a.name for a in chosen]
            ),
        )
    )


def _banner(settings: Settings, registry: Registry, host: str, port: int, transport: str) -> str:
    base = f"http://{host}:{port}"
    lines = [
        "",
        f"LGSP gateway on {base} (transport: {transport})",
        f"  catalogue   {base}/v1/services   API docs {base}/openapi.json   metrics {base}/metrics",
    ]
    if settings.demo and "population.citizen.lookup" in registry.services:
        lines += ["", "Demo clients (demo secrets: refused by a production config):"]
        lines += [f"  {c.id:<18} {c.secret:<22} {', '.join(c.grants)}" for c in settings.clients]
        first = settings.clients[0]
        lookup = registry.service("population.citizen.lookup")
        body = json.dumps(lookup.examples[0].request, ensure_ascii=False)
        lines += [
            "",
            "Try it:",
            f"  TOKEN=$(curl -s {base}/oauth2/token -d grant_type=client_credentials "
            f"-d client_id={first.id} -d client_secret={first.secret} "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            f"  curl -s {base}/v1/services/population.citizen.lookup "
            '-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
            f"-d {shlex.quote(body)}",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
