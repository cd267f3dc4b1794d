"""The citizens' data tracker of NDOP (Nền tảng chia sẻ, điều phối dữ liệu,
the national data orchestration platform the Ministry of Public Security runs
at the national data centre): which agencies used a citizen's personal data,
when, through which service and for which public service.

Since Decree 278/2025/NĐ-CP every mandatory sharing of data between state
agencies passes through NDOP so that it can be monitored and traced; each
LGSP reports to it every exchange of personal data it carries. Decree
13/2023/NĐ-CP gives data subjects the right to know how their data is
processed; Estonia's Data Tracker, which shows each citizen who used their
data in the population register, is the model.

The proof that the caller is the citizen is the birth date the national
population database holds. A wrong birth date and an unknown id answer the
same declared error, so that nobody can learn from it who exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from lgsp_contracts.fields import SoDinhDanh
from lgsp_contracts.spec import Contract, ErrorSpec, Example, ServiceContract, TopicContract

SoDinhDanhAn = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}\*{7}[0-9]{2}$")]
"""A personal id with its middle hidden (``087*******34``), as the bus writes
one down."""
MaCoQuan = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
MaTinhMang = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,31}$")]
TenDichVu = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MucDich = Annotated[str, StringConstraints(min_length=1, max_length=64)]
KetQua = Literal["ok", "refused", "failed"]


class YeuCauLichSuTruyCap(Contract):
    """Request of ``ndop.access.history``: whose history, and the proof."""

    soDinhDanh: SoDinhDanh = Field(
        description="Personal identification number (số định danh cá nhân) of the citizen, "
        "12 digits."
    )
    ngaySinh: dt.date = Field(
        description="The citizen's date of birth (ngày sinh), ISO 8601: the proof, checked "
        "against the national population database."
    )


class LuotTruyCap(Contract):
    """One use of the citizen's data (lượt truy cập): one request, however
    many LGSPs reported it."""

    thoiDiem: AwareDatetime = Field(
        description="When the request was made (thời điểm), ISO 8601 with its offset."
    )
    coQuan: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The agency whose system asked (cơ quan), as its LGSP describes it."
    )
    maCoQuan: MaCoQuan = Field(
        description="The client id of that system on its LGSP (mã cơ quan), e.g. "
        "'dongthap.onestop'."
    )
    tinh: MaTinhMang = Field(
        description="The province whose LGSP the request came from (tỉnh), e.g. 'dongthap'."
    )
    dichVu: TenDichVu = Field(
        description="The service that was called (dịch vụ), e.g. 'population.citizen.lookup'."
    )
    mucDich: MucDich | None = Field(
        description="Why (mục đích): the code of the public service or administrative "
        "procedure being delivered (maDVC, maTTHC), null when the caller gave none."
    )
    ketQua: KetQua = Field(
        description="What came of it (kết quả): 'ok' (answered), 'refused' (the request was "
        "refused, e.g. not granted or not found) or 'failed' (the platform failed)."
    )


class LichSuTruyCap(Contract):
    """Response of ``ndop.access.history``."""

    soDinhDanh: SoDinhDanhAn = Field(
        description="The citizen's personal id, its middle hidden (087*******34)."
    )
    truyCap: list[LuotTruyCap] = Field(
        description="Every use of the citizen's data NDOP was told of, newest first, "
        "one per request (at most 1000)."
    )


ACCESS_NOT_FOUND = "ndop.access.not_found"

ACCESS_HISTORY_V1 = ServiceContract(
    service="ndop.access.history",
    version=1,
    owner="Bộ Công an — Nền tảng chia sẻ, điều phối dữ liệu (NDOP) (mock)",
    description="The citizens' data tracker: every use of a citizen's personal data that "
    "the LGSPs reported to NDOP (the national data orchestration platform), newest first, "
    "with when, which agency, from which province, through which service and for which "
    "public service. The caller proves who the citizen is with the birth date the national "
    "population database holds; a wrong birth date and an unknown personal id get the same "
    "404, so that nobody can learn who exists.",
    request=YeuCauLichSuTruyCap,
    response=LichSuTruyCap,
    errors=(
        ErrorSpec(
            404,
            ACCESS_NOT_FOUND,
            "No record matches this personal id and birth date (the same answer whether the "
            "id is unknown or the birth date is wrong)",
        ),
    ),
    examples=(
        # A citizen of the demo dataset (seed 20250701) whom no other example
        # touches: on a fresh network nobody has used her data yet.
        Example(
            request={"soDinhDanh": "087184000035", "ngaySinh": "1984-09-20"},
            response={"soDinhDanh": "087*******35", "truyCap": []},
            title="A citizen whose data no agency has used yet",
        ),
    ),
)
"""``ndop.access.history`` v1."""

SERVICES = (ACCESS_HISTORY_V1,)
TOPICS: tuple[TopicContract, ...] = ()
