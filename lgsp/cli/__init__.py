"""The ``lgsp`` command, one module per family of commands (click: a
well-kept CLI library with typed options, environment fallbacks and a test
runner).

The families: :mod:`~lgsp.cli.serve` (``up``,
``gateway``, ``adapters``, ``adapter run``), :mod:`~lgsp.cli.call`,
:mod:`~lgsp.cli.admin` (``clients``, ``grants``, ``keys``),
:mod:`~lgsp.cli.audit` (``audit``, ``report``) and
:mod:`~lgsp.cli.contracts`; installed packages add their own under the
``lgsp.commands`` entry point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

from lgsp.cli import serve
from lgsp.cli.admin import clients as clients_group
from lgsp.cli.admin import grants as grants_group
from lgsp.cli.admin import keys as keys_group
from lgsp.cli.audit import audit as audit_group
from lgsp.cli.audit import report as report_command
from lgsp.cli.call import call as call_command
from lgsp.cli.contracts import contracts as contracts_group
from lgsp.observe import log as logging_setup


class _Commands(click.Group):
    """The built-in commands plus those installed packages add under the
    ``lgsp.commands`` entry point group (e.g. the mock systems' `dataset`),
    loaded only when asked for, so `lgsp --help` stays fast."""

    def _plugins(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group="lgsp.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in (plugins := self._plugins()):
            loaded = plugins[cmd_name].load()
            if not isinstance(loaded, click.Command):
                raise click.ClickException(f"entry point {cmd_name} is not a click command")
            command = loaded
        return command


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
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


main.add_command(serve.up, "up")
main.add_command(serve.gateway, "gateway")
main.add_command(serve.adapters, "adapters")
main.add_command(serve.adapter, "adapter")
main.add_command(call_command, "call")
main.add_command(contracts_group, "contracts")
main.add_command(clients_group, "clients")
main.add_command(grants_group, "grants")
main.add_command(keys_group, "keys")
main.add_command(audit_group, "audit")
main.add_command(report_command, "report")
