"""Households (hộ gia đình): the records the dataset export writes, and how
the pinned citizens, given only as records, fall into households."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final, Literal

from pydantic import Field

from lgsp_contracts.fields import CaNhan, DiaChi
from lgsp_contracts.population import CongDan
from lgsp_contracts.spec import Contract

QuanHeVoiChuHo = Literal["Chủ hộ", "Vợ", "Chồng", "Con"]
CHU_HO: Final = "Chủ hộ"


class ThanhVienHo(CaNhan):
    """A member of a household (thành viên hộ) and how they relate to its head."""

    quanHeVoiChuHo: QuanHeVoiChuHo = Field(
        description="Relation to the head of household (quan hệ với chủ hộ)."
    )


class HoGiaDinh(Contract):
    """A household (hộ gia đình): the people registered at one permanent
    residence, the head first. Not served on the bus (households belong to
    the population database); the dataset export writes them."""

    chuHo: CaNhan = Field(description="The head of household (chủ hộ).")
    noiThuongTru: DiaChi = Field(description="The household's permanent residence.")
    thanhVien: list[ThanhVienHo] = Field(description="Every member, the head first.")


def _households_of(citizens: Iterable[CongDan]) -> Iterator[HoGiaDinh]:
    """Households of a few citizens given as records (the pinned ones): a
    citizen joins the household of a parent or spouse already met, else
    heads a new one."""
    heads: dict[str, CongDan] = {}
    members: dict[str, list[ThanhVienHo]] = {}
    head_of: dict[str, str] = {}
    relation: QuanHeVoiChuHo
    for c in citizens:
        parent = next(
            (p for p in (c.soDinhDanhCha, c.soDinhDanhMe) if p is not None and p in head_of), None
        )
        if parent is not None:
            head, relation = head_of[parent], "Con"
        elif c.soDinhDanhVoChong is not None and c.soDinhDanhVoChong in head_of:
            head, relation = head_of[c.soDinhDanhVoChong], "Vợ" if c.gioiTinh == "Nữ" else "Chồng"
        else:
            head, relation = c.soDinhDanh, CHU_HO
            heads[head], members[head] = c, []
        head_of[c.soDinhDanh] = head
        members[head].append(
            ThanhVienHo(soDinhDanh=c.soDinhDanh, hoVaTen=c.hoVaTen, quanHeVoiChuHo=relation)
        )
    for head, c in heads.items():
        yield HoGiaDinh(
            chuHo=CaNhan(soDinhDanh=c.soDinhDanh, hoVaTen=c.hoVaTen),
            noiThuongTru=c.noiThuongTru,
            thanhVien=members[head],
        )
