"""``lgsp vnform-sim``: the simulated VNForm alone (entry point group
``lgsp.commands``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from lgsp_adapters.stopping import stop_on_signals
from lgsp_adapters.vnform.server import PORT_ENV, running
from lgsp_adapters.vnform.simulator import DEFAULT_PORT, RETRY_DELAYS_S, VnformConfig


@click.command("vnform-sim")
@click.option("--host", default="127.0.0.1", help="Address to bind.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    type=click.IntRange(0, 65535),
    envvar=PORT_ENV,
    help=f"Port (env {PORT_ENV}).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the signing key here (signing-key.pem); default: a new key each start.",
)
@click.option(
    "--retries",
    default=len(RETRY_DELAYS_S),
    type=click.IntRange(0, len(RETRY_DELAYS_S)),
    show_default=True,
    help="Attempts after the first at delivering an answer (1, 2, 4, ... s apart).",
)
@click.option(
    "--admin-from-anywhere",
    is_flag=True,
    help="Let the admin routes answer other machines (e.g. in a container).",
)
def command(
    host: str, port: int, data_dir: Path | None, retries: int, admin_from_anywhere: bool
) -> None:
    """The simulated national survey platform (VNForm): survey forms per
    procedure, invitations, citizens' answers, and signed webhooks to the
    provinces (Ed25519, in FormSG's manner)."""
    config = VnformConfig(
        host=host,
        port=port,
        data_dir=data_dir,
        retry_delays_s=RETRY_DELAYS_S[:retries],
        admin_from_anywhere=admin_from_anywhere,
    )
    asyncio.run(_serve(config))


async def _serve(config: VnformConfig) -> None:
    stop = stop_on_signals()
    async with running(config) as sim:
        click.echo(
            f"\nSimulated VNForm on {sim.url}\n"
            f"  forms: {sim.url}/forms   public key: {sim.url}/.well-known/vnform-public-key\n"
            f"  invitations: {sim.url}/admin/invitations   deliveries: {sim.url}/admin/deliveries\n"
            "  provinces' API keys: demo-vnform-key-<province>\n",
            err=True,
        )
        await stop.wait()
