"""What an LGSP reports to NDOP: one report (a trace) per exchange of
personal data it carried, per subject, sent in batches; and how NDOP writes
a personal id down when it must (its middle hidden)."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from lgsp_contracts.ndop import KetQua

MAX_BATCH: Final = 1000
"""Reports in one batch at most (more: 413)."""

ProvinceKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,31}$")]
Role = Literal["requester", "provider"]

_PERSONAL_ID: Final = re.compile(r"^(\d{3})\d{7}(\d{2})$")


def mask(so_dinh_danh: str) -> str:
    """A personal id with its middle hidden, ``087090001234`` → ``087*******34``:
    the form the bus's own logs and problems use (``lgsp.masking``, not public
    API), so that one form is grepped for everywhere."""
    return _PERSONAL_ID.sub(r"\1*******\2", so_dinh_danh)


def outcome(status: int) -> KetQua:
    """What became of an exchange, from its HTTP status: answered, refused (4xx)
    or failed (5xx)."""
    if status < 400:
        return "ok"
    return "refused" if status < 500 else "failed"


class Trace(BaseModel):
    """One report of one exchange of one subject's personal data, by the LGSP
    of one side of it. Strict: a report NDOP cannot read exactly is refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    trace_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{16,64}$")] = Field(
        description="Unique per report (a uuid or hex): a report sent again is kept once."
    )
    request_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")] = Field(
        description="The exchange's request id, the same on both sides of it."
    )
    reporter: ProvinceKey = Field(description="The province whose LGSP reports.")
    role: Role = Field(description="Which side of the exchange the reporter was.")
    client: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")] = Field(
        description="The client id that called."
    )
    agency: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The calling client's description: its agency."
    )
    origin: ProvinceKey = Field(description="The province of the requester.")
    target: ProvinceKey = Field(description="The province that served the request.")
    service: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9.-]{2,127}$")]
    version: int = Field(ge=1)
    purpose: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        description="The public service or procedure being delivered (maDVC, maTTHC)."
    )
    subject: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")] = Field(
        description="The personal id whose data was exchanged."
    )
    status: int = Field(ge=100, le=599, description="The HTTP status the exchange ended with.")
    at: AwareDatetime = Field(description="When the request was received, with its offset.")
    duration_ms: float = Field(ge=0)


class TraceBatch(BaseModel):
    """``POST /ndop/v1/traces``'s body."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    traces: list[Trace] = Field(max_length=MAX_BATCH)
