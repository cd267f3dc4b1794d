"""How citizens and parcels are stored: ``array`` columns of small integers,
the codes and packed values in them, and the integer keys they are looked up
by. The generator writes this layout and :class:`~lgsp_adapters.dataset.store.Dataset`
reads it."""

from __future__ import annotations

import datetime as dt
from array import array
from typing import Final

from lgsp_adapters import names
from lgsp_adapters.divisions import Commune

_NONE: Final = -1
"""No row: no father, mother, spouse or co-owner."""

# Land uses are stored as an index into USE_CODES (codes as in the contract).
USE_CODES: Final = ("ODT", "ONT", "LUC", "CLN", "NTS", "BHK")
_NO_USE: Final = 255
# Certificates: issue-number series by era (illustrative: B.. before 2015,
# C.. to 2019, D.. since), and register book entries, "CH" before Circular
# 23/2014/TT-BTNMT took effect, "CS" after.
_SERIES: Final = tuple(f"{era}{letter}" for era in "BCD" for letter in "ABCDEGHKLMNPQRSTUVXY")
_BOOK_CS_FROM: Final = dt.date(2014, 7, 5)


class _Citizens:
    """Citizen columns; row i is one citizen."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.surname = array("B")
        self.middle = array("B")
        self.given = array("B")
        self.born = array("i")
        self.ethnic = array("B")
        self.religion = array("B")
        self.home = array("H")
        self.home_detail = array("I")
        self.here = array("H")
        self.here_detail = array("I")
        self.origin = array("H")
        self.father = array("i")
        self.mother = array("i")
        self.spouse = array("i")
        self.heads = array("i")
        """The first row of each household (its head); its members follow."""


class _Parcels:
    """Parcel columns; row i is one parcel. Areas are in tenths of m²."""

    def __init__(self) -> None:
        self.commune = array("H")
        self.sheet = array("H")
        self.number = array("H")
        self.detail = array("I")
        self.area = array("I")
        self.legal_area = array("I")
        self.use = array("B")
        self.use_area = array("I")
        self.second_use = array("B")
        self.owner = array("i")
        self.co_owner = array("i")
        self.series = array("B")
        self.serial = array("I")
        self.book = array("I")
        self.issued = array("i")
        self.term_end = array("i")
        """0 for an indefinite term."""
        self.origin = array("B")
        self.mortgaged = array("B")


def _parcel_key(commune: str, sheet: int, number: int) -> int:
    return int(commune) * 100_000_000 + sheet * 10_000 + number


def _certificate_key(so_phat_hanh: str) -> int | None:
    """``DA 123456`` as one integer, if it is of a series the generator uses."""
    series, _, serial = so_phat_hanh.partition(" ")
    if series not in _SERIES or len(serial) != 6 or not serial.isdigit():
        return None
    return _SERIES.index(series) * 1_000_000 + int(serial)


# Address details are packed in one integer: kind * 10**6 + a * 1000 + b.
_HAMLET, _STREET, _QUARTER = 0, 1, 2


def address_detail(commune: Commune, packed: int) -> str:
    """The details line of an address packed by the generator, in the
    words of the commune's province."""
    words = names.vocabulary(commune.birth_province)
    kind, rest = divmod(packed, 1_000_000)
    a, b = divmod(rest, 1000)
    if kind == _STREET:
        return f"Số {b} đường {words.streets[a]}"
    if kind == _QUARTER:
        # Đồng Tháp's wards are divided in "khóm", Tiền Giang's in "khu phố".
        return f"{words.quarters.get(commune.birth_province, names.QUARTER)} {a}"
    return f"{words.hamlet} {words.hamlets[a]}"
