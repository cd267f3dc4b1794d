"""``lgsp warehouse``: the warehouse's analysts' command (entry point group
``lgsp.commands``): read-only SQL, the state of its loads and the citizens'
satisfaction per procedure and agency, through the gateway with a client's
credentials (the mock systems' one client of the gateway,
:mod:`lgsp_adapters.gateway_client`)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import aiohttp
import click

from lgsp_adapters.gateway_client import Answer, CredentialsRefused, GatewayClient

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_CLIENT = "dongthap.analyst"
DEFAULT_SECRET = "demo-analyst-secret"
STATUS_SQL = (
    "SELECT source, loaded_at, rows, round(duration_ms, 1) AS duration_ms, error "
    "FROM loads ORDER BY source"
)


class Failed(click.ClickException):
    """Exit 1 with a message."""


def _query(base: str, client_id: str, secret: str, sql: str, limit: int) -> Any:
    """``warehouse.sql.query`` through the gateway, as ``client_id``."""
    return _call(base, client_id, secret, "warehouse.sql.query", {"sql": sql, "gioiHan": limit})


def _call(base: str, client_id: str, secret: str, service: str, payload: dict[str, Any]) -> Any:
    """One of the warehouse's services through the gateway, as ``client_id``."""

    async def ask() -> Answer:
        client = GatewayClient(base, client_id, secret, timeout_s=30)
        try:
            return await client.call_json(service, payload)
        finally:
            await client.close()

    try:
        answer = asyncio.run(ask())
    except CredentialsRefused as exc:
        raise Failed(str(exc)) from exc
    except TimeoutError as exc:
        raise Failed(f"no answer from {base} within 30 s") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise Failed(f"cannot reach {base}: {exc}") from exc
    try:
        body = answer.json()
    except ValueError:
        raise Failed(f"{answer.status} {answer.body[:500].decode('utf-8', 'replace')}") from None
    if answer.status != 200:
        problem = body if isinstance(body, dict) else {}
        raise Failed(f"{answer.status} {problem.get('code')}: {problem.get('detail')}")
    return body


def _print(answer: dict[str, Any], fmt: str) -> None:
    names = [c["ten"] for c in answer["cot"]]
    rows = answer["dong"]
    if fmt == "json":
        click.echo(json.dumps([dict(zip(names, r, strict=True)) for r in rows], ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        text = [["" if v is None else str(v) for v in r] for r in rows]
        widths = [max([len(n), *(len(r[i]) for r in text)]) for i, n in enumerate(names)]
        click.echo("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip())
        click.echo("  ".join("-" * w for w in widths))
        for r in text:
            click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    if answer["biCatBot"]:
        click.echo(f"(cut at {len(rows)} rows)", err=True)


_url = click.option(
    "--url",
    default=DEFAULT_URL,
    envvar="LGSP_URL",
    show_default=True,
    help="The gateway (env LGSP_URL).",
)
_client = click.option("--client-id", default=DEFAULT_CLIENT, show_default=True)
_secret = click.option(
    "--client-secret",
    default=DEFAULT_SECRET,
    envvar="LGSP_CLIENT_SECRET",
    help="The client's secret (env LGSP_CLIENT_SECRET; default the demo analyst's).",
)
_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)


@click.group("warehouse")
def command() -> None:
    """The shared data warehouse (kho dữ liệu dùng chung): SQL and loads."""


@command.command("sql")
@click.argument("statement")
@click.option("--limit", default=1000, type=click.IntRange(1, 10_000), show_default=True)
@_url
@_client
@_secret
@_format
def sql_command(
    statement: str, limit: int, url: str, client_id: str, client_secret: str, fmt: str
) -> None:
    """Run one read-only SELECT (warehouse.sql.query) and print its rows."""
    _print(_query(url.rstrip("/"), client_id, client_secret, statement, limit), fmt)


@command.command("status")
@_url
@_client
@_secret
@_format
def status_command(url: str, client_id: str, client_secret: str, fmt: str) -> None:
    """When each source last loaded, how many rows, how long, its error."""
    _print(_query(url.rstrip("/"), client_id, client_secret, STATUS_SQL, 100), fmt)


SATISFACTION_COLUMNS = (
    "thang",
    "maTTHC",
    "maDonVi",
    "soPhanHoi",
    "tyLeHaiLong",
    "diemTongThe",
    "diemThoiGian",
    "diemThaiDo",
    "tenTTHC",
)


@command.command("satisfaction")
@click.option("--procedure", "ma_tthc", help="Only this procedure (maTTHC).")
@click.option("--agency", "ma_don_vi", help="Only this agency (maDonVi), e.g. 000.00.00.H20.")
@click.option("--from", "first", help="First month, YYYY-MM.")
@click.option("--to", "last", help="Last month, YYYY-MM.")
@_url
@_client
@_secret
@_format
def satisfaction_command(
    ma_tthc: str | None,
    ma_don_vi: str | None,
    first: str | None,
    last: str | None,
    url: str,
    client_id: str,
    client_secret: str,
    fmt: str,
) -> None:
    """Citizens' satisfaction per month, procedure and agency, from VNForm's
    survey answers (warehouse.feedback.satisfaction)."""
    asked = {"maTTHC": ma_tthc, "maDonVi": ma_don_vi, "tuThang": first, "denThang": last}
    answer = _call(
        url.rstrip("/"),
        client_id,
        client_secret,
        "warehouse.feedback.satisfaction",
        {k: v for k, v in asked.items() if v is not None},
    )
    rows = [[row.get(c) for c in SATISFACTION_COLUMNS] for row in answer["danhSach"]]
    table = {
        "cot": [{"ten": c, "kieu": ""} for c in SATISFACTION_COLUMNS],
        "dong": rows,
        "biCatBot": False,
    }
    _print(table, fmt)
