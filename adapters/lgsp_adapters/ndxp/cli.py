"""``lgsp ndxp-sim``: the simulated NDXP alone, with faults from the start
(entry point group ``lgsp.commands``)."""

from __future__ import annotations

import asyncio
import re

import click
from pydantic import ValidationError

from lgsp_adapters.ndxp.faults import MAX_DELAY_MS, MAX_FAIL_NEXT, MAX_OUTAGE_S, Faults
from lgsp_adapters.ndxp.server import DEFAULT_PORT, running
from lgsp_adapters.ndxp.simulator import SimulatorConfig
from lgsp_adapters.provinces import DEFAULT as DEFAULT_PROVINCE
from lgsp_adapters.stopping import stop_on_signals

PROVINCE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")

_delay = click.IntRange(0, MAX_DELAY_MS)
_rate = click.FloatRange(0.0, 1.0)


@click.command("ndxp-sim")
@click.option("--host", default="127.0.0.1", help="Address to bind.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    type=click.IntRange(0, 65535),
    envvar="LGSP_NDXP_PORT",
    help="Port (env LGSP_NDXP_PORT).",
)
@click.option(
    "--lgsp-url",
    default=SimulatorConfig.lgsp_url,
    envvar="LGSP_URL",
    help="Đồng Tháp's LGSP gateway, where calls for dongthap are forwarded (env LGSP_URL).",
)
@click.option(
    "--province",
    "provinces",
    multiple=True,
    metavar="NAME=URL",
    help="Another province's LGSP gateway, e.g. gialai=http://127.0.0.1:8081 (repeatable).",
)
@click.option(
    "--token-ttl",
    default=SimulatorConfig.token_ttl_s,
    type=click.FloatRange(0.1, 86_400.0),
    help="Lifetime of access tokens and portal sessions, in seconds.",
)
@click.option("--latency-ms", default=0, type=_delay, help="Added to every call.")
@click.option("--jitter-ms", default=0, type=_delay, help="Random extra delay, up to this.")
@click.option("--error-rate", default=0.0, type=_rate, help="Fraction of calls answered 500.")
@click.option(
    "--fail-next", default=0, type=click.IntRange(0, MAX_FAIL_NEXT), help="The first N calls fail."
)
@click.option("--slow-ms", default=0, type=_delay, help="Slow answers: this much more.")
@click.option("--slow-rate", default=1.0, type=_rate, help="Fraction of calls answered slowly.")
@click.option(
    "--outage",
    default="none",
    type=click.Choice(["none", "unavailable", "refuse"]),
    help="unavailable: every call 503; refuse: not listening (connection refused).",
)
@click.option(
    "--outage-s",
    type=click.FloatRange(0.001, MAX_OUTAGE_S),
    help="How long the outage lasts (a refusal: 30 s unless said, at most 600 s).",
)
@click.option("--seed", type=int, help="Seed of the fault dice, for repeatable runs.")
@click.option(
    "--admin-from-anywhere",
    is_flag=True,
    help="Let the admin and read-back routes answer other machines (e.g. in a container).",
)
def command(
    host: str,
    port: int,
    lgsp_url: str,
    provinces: tuple[str, ...],
    token_ttl: float,
    latency_ms: int,
    jitter_ms: int,
    error_rate: float,
    fail_next: int,
    slow_ms: int,
    slow_rate: float,
    outage: str,
    outage_s: float | None,
    seed: int | None,
    admin_from_anywhere: bool,
) -> None:
    """The simulated national exchange platform (NDXP): OAuth2 tokens, the
    national population database, the public service portal, forwarding into
    the provinces' LGSPs, and fault injection (PUT /admin/faults)."""
    try:
        faults = Faults.model_validate(
            {
                "latency_ms": latency_ms,
                "jitter_ms": jitter_ms,
                "error_rate": error_rate,
                "fail_next": fail_next,
                "slow_ms": slow_ms,
                "slow_rate": slow_rate,
                "outage": outage,
                "outage_s": outage_s,
            }
        )
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc
    gateways = {DEFAULT_PROVINCE: lgsp_url.rstrip("/")}
    for given in provinces:
        name, sep, url = given.partition("=")
        if not sep or not PROVINCE.match(name) or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{given!r} is not NAME=URL", param_hint="--province")
        gateways[name] = url.rstrip("/")
    config = SimulatorConfig(
        host=host,
        port=port,
        lgsp_url=gateways[DEFAULT_PROVINCE],
        provinces=gateways,
        token_ttl_s=token_ttl,
        faults=faults,
        seed=seed,
        admin_from_anywhere=admin_from_anywhere,
    )
    asyncio.run(_serve(config))


async def _serve(config: SimulatorConfig) -> None:
    stop = stop_on_signals()
    async with running(config) as sim:
        forwarding = ", ".join(f"{p} {url}" for p, url in config.gateways.items())
        clients = ", ".join(f"{c} / {config.clients[c].secret}" for c in config.clients)
        click.echo(
            f"\nSimulated NDXP on {sim.url} (forwarding to {forwarding})\n"
            f"  demo clients: {clients}\n"
            f"  faults: {sim.url}/admin/faults   calls: {sim.url}/admin/calls   "
            f"exchanges: {sim.url}/admin/exchanges   synced dossiers: {sim.url}/dvcqg/hoso\n",
            err=True,
        )
        await stop.wait()
