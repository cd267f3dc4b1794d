"""Read-only SQL over the warehouse (``warehouse.sql.query``).

Three fences: DuckDB's own parser must find exactly one SELECT; the
database was opened with external access off (no file, no other database:
:class:`~.store.Store`); the statement runs on a cursor of its own, which is
interrupted past the time limit. What leaves is capped at ``gioiHan`` rows,
and any 12-digit number in it (a personal id) is masked.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import threading
import uuid
from typing import Final

import duckdb

from lgsp import DomainError
from lgsp_contracts.warehouse import (
    SQL_FORBIDDEN,
    SQL_INVALID,
    SQL_TIME_LIMIT_S,
    SQL_TOO_SLOW,
    Cot,
    GiaTri,
    KetQuaTruyVan,
    YeuCauTruyVan,
)

_PERSONAL_ID: Final = re.compile(r"(?<![0-9])([0-9]{3})[0-9]{7}([0-9]{2})(?![0-9])")


def mask(text: str) -> str:
    """Every 12-digit number in ``text`` as its first 3 and last 2 digits."""
    return _PERSONAL_ID.sub(r"\1*******\2", text)


def _value(v: object) -> GiaTri:
    if v is None or isinstance(v, bool | float):
        return v
    if isinstance(v, int):
        return mask(str(v)) if 10**11 <= abs(v) < 10**12 else v
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, str):
        return mask(v)
    if isinstance(v, bytes):
        return v.hex()
    return mask(str(v))  # lists, structs, intervals: their text


def _refuse(code: str, detail: str) -> DomainError:
    return DomainError(code, mask(detail), status=422)


def check(sql: str, cur: duckdb.DuckDBPyConnection) -> None:
    """Refuse anything but one SELECT statement."""
    try:
        statements = cur.extract_statements(sql)
    except duckdb.Error as exc:
        raise _refuse(SQL_INVALID, f"DuckDB cannot parse it: {exc}") from exc
    if len(statements) != 1:
        raise _refuse(SQL_FORBIDDEN, f"one statement is allowed, not {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise _refuse(SQL_FORBIDDEN, f"only SELECT is allowed, not {kind.name}")


def run(cur: duckdb.DuckDBPyConnection, q: YeuCauTruyVan) -> KetQuaTruyVan:
    """Run the query on ``cur`` (a cursor of its own, on a reader thread)."""
    check(q.sql, cur)
    timer = threading.Timer(SQL_TIME_LIMIT_S, cur.interrupt)
    timer.daemon = True
    timer.name = f"warehouse-sql-limit-{uuid.uuid4().hex[:6]}"
    timer.start()
    try:
        cur.execute(q.sql)
        columns = [Cot(ten=d[0], kieu=str(d[1])) for d in cur.description or ()]
        rows = cur.fetchmany(q.gioiHan + 1)
    except duckdb.InterruptException as exc:
        raise _refuse(SQL_TOO_SLOW, f"stopped after {SQL_TIME_LIMIT_S:g} s") from exc
    except duckdb.PermissionException as exc:
        raise _refuse(SQL_FORBIDDEN, f"the warehouse reads only its own tables: {exc}") from exc
    except duckdb.Error as exc:
        raise _refuse(SQL_INVALID, f"DuckDB refused it: {exc}") from exc
    finally:
        timer.cancel()
    return KetQuaTruyVan(
        cot=columns,
        dong=[[_value(v) for v in row] for row in rows[: q.gioiHan]],
        biCatBot=len(rows) > q.gioiHan,
    )
