"""Mock of the national population database (Cơ sở dữ liệu quốc gia về dân
cư, Ministry of Public Security), on the demo dataset.

The lookup rule lives in :func:`lookup_citizen`, so that the simulated
national platform (NDXP) can serve the same answers when it takes this
service over.
"""

from __future__ import annotations

import unicodedata

import structlog
from lgsp_contracts.population import CongDan, YeuCauTraCuuCongDan

from lgsp import Adapter, Context, DomainError
from lgsp_adapters import dataset

log = structlog.get_logger("lgsp_adapters.population")

adapter = Adapter("population", agency="Bộ Công an — Cơ sở dữ liệu quốc gia về dân cư (mock)")

NOT_FOUND = "population.citizen.not_found"


def lookup_citizen(data: dataset.Dataset, request: YeuCauTraCuuCongDan) -> CongDan:
    """The citizen the request names, if the name and birth date it gives
    (if any) agree with the record; else ``population.citizen.not_found``."""
    citizen = data.citizen(request.soDinhDanh)
    if (
        citizen is None
        or (request.hoVaTen is not None and not _same_name(request.hoVaTen, citizen.hoVaTen))
        or (request.ngayThangNam is not None and request.ngayThangNam != citizen.ngaySinh)
    ):
        raise DomainError(NOT_FOUND, "no citizen matches this personal id, name and birth date")
    return citizen


def _same_name(a: str, b: str) -> bool:
    """Names compare as the same text (Unicode NFC), ignoring case and spacing."""

    def norm(name: str) -> str:
        return " ".join(unicodedata.normalize("NFC", name).split()).casefold()

    return norm(a) == norm(b)


@adapter.service("population.citizen.lookup", version=1)
async def citizen_lookup(request: YeuCauTraCuuCongDan, ctx: Context) -> CongDan:
    """``population.citizen.lookup`` v1."""
    data = await dataset.ademo()
    # Accountability without personal data: who asked, for which service.
    fields = {
        "request_id": ctx.request_id,
        "client": ctx.client,
        "ma_yeu_cau": request.maYeuCau,
        "ma_dvc": request.maDVC,
        "ma_can_bo": request.maCanBo,
    }
    try:
        citizen = lookup_citizen(data, request)
    except DomainError:
        log.info("citizen.lookup", found=False, **fields)
        raise
    log.info("citizen.lookup", found=True, **fields)
    return citizen
