"""``lgsp audit verify|export`` and ``lgsp report``: the exchange log of a
data dir, or of the PostgreSQL store (``--store``), read directly and
read-only (gateways may keep writing)."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import os
import re
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from lgsp.config import STORE_URL_ENV, STORE_URL_SCHEMES, SocConfig
from lgsp.errors import MalformedRequest
from lgsp.observe.exchange_log import (
    ARCHIVE_DIR,
    COLUMNS,
    AuditError,
    Query,
    Row,
    archive_before,
    as_json,
    read,
    timestamp,
    verify,
)
from lgsp.observe.report import RENDERERS, Report, plugged_sections
from lgsp.observe.soc import SocFeed

DEFAULT_DATA_DIR = Path("lgsp-data")
F = TypeVar("F", bound=Callable[..., Any])

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    envvar="LGSP_DATA_DIR",
    help="Where the gateway keeps its exchange log (env LGSP_DATA_DIR).",
)


def check_store_url(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """click callback: a PostgreSQL URL, or a clear error that does not quote it."""
    # The URL is not quoted back: it may carry a password.
    if value is not None and not value.startswith(STORE_URL_SCHEMES):
        raise click.BadParameter(
            "expected a PostgreSQL URL: postgresql://user:password@host:port/database",
            param=param,
        )
    return value


store_option = click.option(
    "--store",
    "store_url",
    metavar="URL",
    envvar=STORE_URL_ENV,
    callback=check_store_url,
    help=f"The PostgreSQL store the gateways write to (env {STORE_URL_ENV}); "
    "instead of --data-dir.",
)
archive_option = click.option(
    "--archive-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LGSP_AUDIT_ARCHIVE_DIR",
    help=f"The archive files (env LGSP_AUDIT_ARCHIVE_DIR); default: {ARCHIVE_DIR}/ in the "
    "data dir.",
)
out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)


class _Unreadable(click.ClickException):
    # 2, not 1: 1 means "the chain is broken".
    exit_code = 2


_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def _time_zone(_ctx: click.Context, param: click.Parameter, value: str) -> tzinfo:
    """An offset (``+07:00``), ``UTC``, or an IANA name (``Asia/Ho_Chi_Minh``,
    which needs the system's time zone data)."""
    if (matched := _OFFSET.match(value)) is not None:
        sign = -1 if matched[1] == "-" else 1
        return timezone(sign * timedelta(hours=int(matched[2]), minutes=int(matched[3])))
    if value.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not a time zone (e.g. +07:00, UTC, Asia/Ho_Chi_Minh)", param=param
        ) from None


# Vietnam keeps UTC+7 all year: an offset needs no time zone database.
tz_option = click.option(
    "--tz",
    default="+07:00",
    envvar="LGSP_TZ",
    show_default=True,
    callback=_time_zone,
    help="Time zone of dates given without one, and of the report's hours (env LGSP_TZ).",
)


def _query(tz: tzinfo = UTC, **params: str | None) -> Query:
    try:
        return Query.parse({k: v for k, v in params.items() if v is not None}, tz=tz)
    except MalformedRequest as exc:
        raise click.BadParameter(exc.detail) from exc


def _rows(data_dir: Path, store_url: str | None, query: Query) -> Iterator[Row]:
    try:
        yield from read(data_dir, query, store_url=store_url)
    except AuditError as exc:
        raise _Unreadable(str(exc)) from exc


def _output(out: Path | None) -> IO[str]:
    return out.open("w", encoding="utf-8", newline="") if out else sys.stdout


@click.group()
def audit() -> None:
    """The tamper-evident exchange log: verify its chain, export its records."""


@audit.command("verify")
@data_dir_option
@store_option
@archive_option
def verify_command(data_dir: Path, store_url: str | None, archive_dir: Path | None) -> None:
    """Check the hash chain from the first record to the signed head, through
    the archive files first when records were archived. Exits 0 when intact,
    1 naming the first broken record, 2 when there is no log."""
    try:
        verdict = verify(data_dir, store_url=store_url, archive_dir=archive_dir)
    except AuditError as exc:
        raise _Unreadable(str(exc)) from exc
    if verdict.intact:
        click.echo(f"{verdict.records} records, chain intact")
        return
    click.echo(f"record {verdict.broken}: {verdict.reason}")
    click.echo(f"{verdict.records} records intact before it", err=True)
    _tell_soc(
        "exchange_log.verify_failed",
        {
            "lgsp.broken_record": verdict.broken,
            "lgsp.reason": verdict.reason,
            "lgsp.records_intact": verdict.records,
            "lgsp.store": "postgresql" if store_url else "sqlite",
        },
    )
    sys.exit(1)


def _tell_soc(kind: str, fields: dict[str, object], deadline_s: float = 5.0) -> None:
    """Send one event to the monitoring centre, when ``[soc] url`` (of
    LGSP_CONFIG) or LGSP_SOC_URL names its collector, waiting at most
    ``deadline_s`` for it to be written."""
    path = Path(os.environ["LGSP_CONFIG"]) if os.environ.get("LGSP_CONFIG") else None
    try:
        config = SocConfig.load(path, os.environ)
    except (OSError, ValueError) as exc:
        click.echo(f"the SOC is not told: bad [soc] configuration: {exc}", err=True)
        return
    if config.url is None:
        return
    province = os.environ.get("LGSP_PROVINCE") or _province(path)
    feed = SocFeed(config, province, role="audit")

    async def send() -> None:
        feed.start()
        feed.emit(kind, fields=fields)
        await feed.close(deadline_s)

    asyncio.run(send())
    if feed.sender is not None and feed.sender.sent == 0:
        click.echo("the SOC's collector could not be reached in time", err=True)


def _province(config: Path | None) -> str:
    if config is not None:
        with config.open("rb") as f:
            province = tomllib.load(f).get("province")
        if isinstance(province, str):
            return province
    return "dongthap"


@audit.command("archive")
@data_dir_option
@store_option
@archive_option
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    required=True,
    envvar="LGSP_AUDIT_RETENTION_DAYS",
    metavar="DAYS",
    help="Move out the records received more than DAYS days ago (env LGSP_AUDIT_RETENTION_DAYS).",
)
def archive_command(
    data_dir: Path, store_url: str | None, archive_dir: Path | None, days: int
) -> None:
    """Move the oldest records out of the store into signed archive files
    (gzip JSON lines, each with a signed manifest), which verify then checks
    with the rest as one chain. Run it daily (archiving waits for writes, and
    writes for it, one batch at a time)."""
    folder = archive_dir or data_dir / ARCHIVE_DIR
    before = timestamp(time.time() - days * 86_400)
    try:
        written = asyncio.run(archive_before(data_dir, store_url, folder, before))
    except AuditError as exc:
        raise _Unreadable(str(exc)) from exc
    if not written:
        click.echo(f"nothing to archive: no record is older than {days} days")
        return
    moved = sum(m.records for m in written)
    click.echo(
        f"{moved} records archived into {len(written)} file{'s' if len(written) > 1 else ''} "
        f"in {folder} "
        f"(records {written[0].first} to {written[-1].last})"
    )


filters = [
    click.option("--from", "start", help="ISO date or datetime, inclusive."),
    click.option("--to", "end", help="ISO date (that whole day) or datetime, exclusive."),
    click.option("--client", help="Only this client id."),
    click.option("--service", help="Only this service or topic (exact, or 'prefix.*')."),
    click.option("--status", help="Only this status (404) or class (4xx)."),
]


def _filters(command: F) -> F:
    for option in reversed(filters):
        command = option(command)
    return command


@audit.command("export")
@data_dir_option
@store_option
@_filters
@tz_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@out_option
def export(
    data_dir: Path,
    store_url: str | None,
    start: str | None,
    end: str | None,
    client: str | None,
    service: str | None,
    status: str | None,
    tz: tzinfo,
    fmt: str,
    out: Path | None,
) -> None:
    """Write the records (every column; bodies only where full logging kept
    them; times in UTC)."""
    query = _query(tz, **{"from": start, "to": end}, client=client, service=service, status=status)
    rows = _rows(data_dir, store_url, query)
    # A missing log fails before the output file is created.
    first = next(rows, None)
    records = rows if first is None else itertools.chain([first], rows)
    stream = _output(out)
    try:
        if fmt == "csv":
            writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(as_json(row) for row in records)
        else:
            # Streamed one record per line, still one JSON document.
            stream.write("[")
            for i, row in enumerate(records):
                stream.write(",\n" if i else "\n")
                stream.write(json.dumps(as_json(row), ensure_ascii=False))
            stream.write("\n]\n")
    finally:
        if out:
            stream.close()


@click.command("report")
@click.option("--from", "start", required=True, help="ISO date or datetime, inclusive.")
@click.option(
    "--to", "end", required=True, help="ISO date (that whole day) or datetime, exclusive."
)
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="html")
@tz_option
@data_dir_option
@store_option
@out_option
def report(
    start: str,
    end: str,
    fmt: str,
    tz: tzinfo,
    data_dir: Path,
    store_url: str | None,
    out: Path | None,
) -> None:
    """Exchanges per connected system and per service: counts, success rate,
    p95 latency, busiest hours; HTML (printable, with charts), CSV or JSON.
    Days and hours are those of --tz (Vietnam's by default). HTML and JSON
    add what the systems beside the bus report for the period (the
    warehouse: citizens' satisfaction per procedure and agency); CSV holds
    the exchanges alone."""
    query = _query(tz, **{"from": start, "to": end})
    built = Report.build(_rows(data_dir, store_url, query), query.start, query.end, tz)
    built.sections = plugged_sections(data_dir, query.start, query.end)
    stream = _output(out)
    try:
        stream.write(RENDERERS[fmt](built))
    finally:
        if out:
            stream.close()
