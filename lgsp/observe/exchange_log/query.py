"""Reading the exchange log: one way for the admin API, exports, reports and
verify (which records, parsed from query parameters; the records a query
names; a data dir's log opened read-only; a record as JSON)."""

from __future__ import annotations

import contextlib
import itertools
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from lgsp.errors import MalformedRequest
from lgsp.observe.exchange_log.chain import (
    COLUMNS,
    DB_FILE,
    AuditError,
    JsonValue,
    Row,
    Value,
    timestamp,
)

MAX_PAGE = 1000

_STATUS = re.compile(r"^([1-5])(\d\d|xx)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Query:
    """Which records to read. ``start`` is inclusive, ``end`` exclusive;
    ``status`` is an inclusive range (``4xx`` is 400-499); ``service``
    is a service or topic, exact or ``prefix.*``."""

    start: datetime | None = None
    end: datetime | None = None
    client: str | None = None
    service: str | None = None
    status: tuple[int, int] | None = None
    after: int = 0
    """Only records with a larger ``seq`` (the admin API's cursor)."""
    limit: int | None = None

    @classmethod
    def parse(
        cls, params: Mapping[str, str], *, default_limit: int | None = None, tz: tzinfo = UTC
    ) -> Query:
        """From ``from``, ``to``, ``client``, ``service``, ``status``,
        ``after``, ``limit``; a bad value is a 400 ``request.malformed``.

        ``from``/``to`` are ISO 8601 dates or datetimes (in ``tz`` unless they
        say otherwise); a date ``to`` includes that whole day."""
        status = None
        if raw := params.get("status"):
            matched = _STATUS.match(raw)
            if matched is None:
                raise MalformedRequest("status must be a status code (404) or a class (4xx)")
            if matched[2].lower() == "xx":
                status = (int(matched[1]) * 100, int(matched[1]) * 100 + 99)
            else:
                status = (int(raw), int(raw))
        limit = default_limit
        if (raw := params.get("limit")) is not None:
            limit = _integer("limit", raw, 1, MAX_PAGE)
        after = 0
        if (raw := params.get("after")) is not None:
            after = _integer("after", raw, 0, 2**63 - 1)
        query = cls(
            start=_moment("from", params.get("from"), end=False, tz=tz),
            end=_moment("to", params.get("to"), end=True, tz=tz),
            client=params.get("client") or None,
            service=params.get("service") or None,
            status=status,
            after=after,
            limit=limit,
        )
        if query.start and query.end and query.start >= query.end:
            raise MalformedRequest("from must be before to")
        return query

    def sql(self, *, numbered: bool = False) -> tuple[str, list[Value]]:
        """The SELECT of these records and its arguments: placeholders ``?``
        (SQLite), or ``$1``, ``$2``... when ``numbered`` (PostgreSQL)."""
        where: list[str] = ["seq > ?"]
        args: list[Value] = [self.after]
        if self.start is not None:
            where.append("received >= ?")
            args.append(timestamp(self.start.timestamp()))
        if self.end is not None:
            where.append("received < ?")
            args.append(timestamp(self.end.timestamp()))
        if self.client is not None:
            where.append("client = ?")
            args.append(self.client)
        if self.service is not None:
            if self.service.endswith(".*"):
                prefix = self.service[:-1]
                where.append("substr(name, 1, ?) = ?")
                args += [len(prefix), prefix]
            else:
                where.append("name = ?")
                args.append(self.service)
        if self.status is not None:
            where.append("status BETWEEN ? AND ?")
            args += list(self.status)
        sql = f"SELECT {', '.join(COLUMNS)} FROM exchanges WHERE {' AND '.join(where)} ORDER BY seq"
        if self.limit is not None:
            sql += " LIMIT ?"
            args.append(self.limit)
        if numbered:
            # Every ? of this text is a placeholder: it holds no literals.
            numbers = itertools.count(1)
            sql = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
        return sql, args


def _integer(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise MalformedRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _moment(name: str, raw: str | None, *, end: bool, tz: tzinfo) -> datetime | None:
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            # A date `to` includes its whole day.
            day += timedelta(days=1) if end else timedelta()
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedRequest(
            f"{name} must be an ISO 8601 date or datetime, e.g. 2026-11-23 or 2026-11-23T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def select(conn: sqlite3.Connection, query: Query) -> Iterator[Row]:
    """The records a query names, in log order."""
    sql, args = query.sql()
    for values in conn.execute(sql, args):
        yield dict(zip(COLUMNS, values, strict=True))


@contextlib.contextmanager
def open_log(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The exchange log of a data dir, read-only (for exports, reports and
    verification while gateways keep writing)."""
    db = data_dir / DB_FILE
    if not db.is_file():
        raise AuditError(f"no exchange log in {data_dir}")
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def read(data_dir: Path, query: Query) -> Iterator[Row]:
    """The records of a data dir's log that the query names."""
    with open_log(data_dir) as conn:
        yield from select(conn, query)


def as_json(row: Mapping[str, Value]) -> dict[str, JsonValue]:
    """A record as exports and the admin API show it: bodies (kept only
    under full logging) as UTF-8 text."""
    return {
        column: value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
        for column, value in row.items()
    }
