"""The bus's own service: statistics of the exchanges it carried, per day,
client and service, from its exchange log (as X-Road's security servers
answer ``getSecurityServerOperationalData``). Counts only: no body, no
personal data."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

from pydantic import Field, StringConstraints

from lgsp_contracts.spec import Contract, ErrorSpec, Example, ServiceContract, TopicContract

OWNER: Final = "LGSP tỉnh Đồng Tháp — Nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh"

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class YeuCauThongKeTraoDoi(Contract):
    """Request of ``lgsp.exchange.statistics``: a period of whole days
    (Asia/Ho_Chi_Minh), at most 366 of them."""

    tuNgay: dt.date = Field(description="First day of the period (từ ngày), ISO 8601.")
    denNgay: dt.date = Field(description="Last day of the period (đến ngày), included.")


class DongThongKeTraoDoi(Contract):
    """The exchanges of one client with one service (or topic) on one day."""

    ngay: dt.date = Field(description="The day (ngày), Asia/Ho_Chi_Minh.")
    client: Name = Field(description="The calling client's id (or the publisher's, for events).")
    service: Name = Field(description="The service or topic.")
    soLuot: int = Field(ge=1, description="Exchanges (số lượt).")
    soLoi: int = Field(ge=0, description="Of which answered with an error status (số lỗi).")
    thoiGianP95Ms: float | None = Field(
        description="95th percentile of the time to answer (ms), null when none was timed."
    )


class ThongKeTraoDoi(Contract):
    """Response of ``lgsp.exchange.statistics``."""

    danhSach: list[DongThongKeTraoDoi] = Field(
        description="One row per day, client and service that had exchanges, in that order."
    )


PERIOD_INVALID: Final = "lgsp.exchange.period_invalid"
MAX_DAYS: Final = 366

EXCHANGE_STATISTICS_V1 = ServiceContract(
    service="lgsp.exchange.statistics",
    version=1,
    owner=OWNER,
    description="How many exchanges the bus carried per day (Asia/Ho_Chi_Minh), client and "
    "service or topic, with how many were errors and the 95th percentile of the time to "
    f"answer, from the exchange log; at most {MAX_DAYS} days at a time. Served by the bus "
    "itself (every gateway), for the shared data warehouse and the operators' reports.",
    request=YeuCauThongKeTraoDoi,
    response=ThongKeTraoDoi,
    errors=(
        ErrorSpec(
            422,
            PERIOD_INVALID,
            f"denNgay is before tuNgay, or the period is longer than {MAX_DAYS} days",
        ),
    ),
    examples=(
        Example(
            request={"tuNgay": "2025-01-01", "denNgay": "2025-01-31"},
            response={"danhSach": []},
            title="A month before the bus ran: nothing to count",
        ),
    ),
)
"""``lgsp.exchange.statistics`` v1."""

SERVICES: tuple[ServiceContract, ...] = (EXCHANGE_STATISTICS_V1,)
TOPICS: tuple[TopicContract, ...] = ()
