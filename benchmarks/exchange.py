"""The one exchange every case serves: ``population.citizen.lookup``.

The request and the response come from the installed contracts (the service's
first example), so every case sends the same body and answers the same bytes
as lgsp does; the literal below stands in only while no contract declares the
service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SERVICE = "population.citizen.lookup"
PATH = f"/v1/services/{SERVICE}"

# Shaped like a citizen record of the national population database; used only
# when the installed contracts have no example for SERVICE.
_FALLBACK_REQUEST: dict[str, Any] = {
    "maYeuCau": "bench-1",
    "maDVC": "1.000001",
    "maCanBo": "CB001",
    "soDinhDanh": "087090001234",
}
_FALLBACK_RESPONSE: dict[str, Any] = {
    "maYeuCau": "bench-1",
    "soDinhDanh": "087090001234",
    "soCMND": "341234567",
    "hoVaTen": "Nguyễn Văn An",
    "ngaySinh": "1990-05-12",
    "gioiTinh": "Nam",
    "danToc": "Kinh",
    "tonGiao": "Không",
    "quocTich": "Việt Nam",
    "queQuan": {
        "maTinh": "87",
        "tenTinh": "Đồng Tháp",
        "maXa": "29866",
        "tenXa": "Phường Cao Lãnh",
    },
    "noiThuongTru": {
        "diaChiChiTiet": "Số 12, đường Nguyễn Huệ",
        "maTinh": "87",
        "tenTinh": "Đồng Tháp",
        "maXa": "29866",
        "tenXa": "Phường Cao Lãnh",
    },
    "chuHo": {"hoVaTen": "Nguyễn Văn Bình", "soDinhDanh": "087060001111", "quanHe": "Con"},
    "trangThai": "con_song",
}


@dataclass(frozen=True)
class Exchange:
    """A request body and the response every server answers it with."""

    request: dict[str, Any]
    response: dict[str, Any]
    source: str
    """Where it came from: ``catalogue`` or ``fallback``."""

    @property
    def request_bytes(self) -> bytes:
        return orjson.dumps(self.request)

    @property
    def response_bytes(self) -> bytes:
        return orjson.dumps(self.response)

    def write(self, path: Path) -> None:
        path.write_bytes(orjson.dumps({"request": self.request, "response": self.response}))

    @classmethod
    def read(cls, path: Path) -> Exchange:
        data = orjson.loads(path.read_bytes())
        return cls(request=data["request"], response=data["response"], source=str(path))


def load() -> Exchange:
    """The first example of SERVICE's newest version in the installed contracts,
    or the fallback literal while there is none."""
    from lgsp_contracts import CATALOGUE

    contracts = sorted(
        (c for c in CATALOGUE.services if c.service == SERVICE and c.examples),
        key=lambda c: c.version,
    )
    if not contracts:
        return Exchange(_FALLBACK_REQUEST, _FALLBACK_RESPONSE, "fallback")
    example = contracts[-1].examples[0]
    return Exchange(dict(example.request), dict(example.response), "catalogue")
