"""Vietnamese names and the other small vocabularies of the synthetic data,
with the weights they are drawn with, and what differs between the
provinces of the network (:class:`Vocabulary`, :func:`vocabulary`).

Surname shares follow the commonly cited national proportions (Nguyễn ≈ 38%,
Trần ≈ 11%, Lê ≈ 9.5%, Phạm ≈ 7%, Hoàng/Huỳnh ≈ 5%, Phan ≈ 4.5%, Vũ/Võ ≈ 3.9%,
...); in the South, where Đồng Tháp lies, Hoàng is mostly spelled Huỳnh and
Vũ mostly Võ, in the North the other way round. Middle names depend on
gender, and the old defaults (Văn, Thị) are rarer among the young.

The module-level tables are Đồng Tháp's (the demo province of one-province
mode); each province's are in :data:`VOCABULARIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from lgsp_adapters.provinces import PROVINCES

Weighted = tuple[tuple[str, float], ...]

SURNAMES: Final[Weighted] = (
    ("Nguyễn", 38.0),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Huỳnh", 4.0),
    ("Hoàng", 1.0),
    ("Phan", 4.5),
    ("Võ", 3.0),
    ("Vũ", 0.9),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    ("Trương", 2.0),
    ("Lâm", 1.5),
    ("Đinh", 1.0),
    ("Mai", 1.0),
    ("Cao", 1.0),
    ("Châu", 1.0),
    ("Lưu", 1.0),
    ("Đoàn", 1.0),
    ("Tô", 0.8),
    ("Thái", 0.7),
    ("Tạ", 0.5),
)

# Middle names: (name, weight for those born before 2000, weight after).
MALE_MIDDLE: Final[tuple[tuple[str, float, float], ...]] = (
    ("Văn", 42.0, 14.0),
    ("Minh", 9.0, 16.0),
    ("Thanh", 6.0, 6.0),
    ("Quốc", 5.0, 8.0),
    ("Hoàng", 4.0, 8.0),
    ("Hữu", 6.0, 5.0),
    ("Công", 5.0, 4.0),
    ("Tấn", 6.0, 5.0),
    ("Thành", 4.0, 5.0),
    ("Đức", 3.0, 6.0),
    ("Trọng", 3.0, 4.0),
    ("Ngọc", 3.0, 3.0),
    ("Duy", 2.0, 8.0),
    ("Gia", 0.5, 8.0),
)
FEMALE_MIDDLE: Final[tuple[tuple[str, float, float], ...]] = (
    ("Thị", 46.0, 12.0),
    ("Ngọc", 11.0, 16.0),
    ("Thanh", 6.0, 6.0),
    ("Thu", 5.0, 6.0),
    ("Kim", 7.0, 6.0),
    ("Mỹ", 6.0, 8.0),
    ("Bích", 4.0, 3.0),
    ("Hồng", 4.0, 4.0),
    ("Thùy", 3.0, 7.0),
    ("Phương", 3.0, 8.0),
    ("Diễm", 2.0, 4.0),
    ("Cẩm", 2.0, 4.0),
    ("Bảo", 0.5, 8.0),
)
MALE_GIVEN: Final[tuple[str, ...]] = (
    "Hùng", "Dũng", "Tuấn", "Minh", "Phúc", "Long", "Hải", "Khang", "Bảo", "Huy",
    "Tài", "Tâm", "Nghĩa", "Thắng", "Trí", "Hiếu", "Lộc", "Phát", "Sơn", "Vinh",
    "Nam", "Khoa", "Đạt", "Tùng", "Thịnh", "Quang", "Toàn", "Lâm", "Hậu", "Phong",
    "Kiệt", "Nhân", "Thiện", "Tín", "Hòa", "Bình", "An", "Duy", "Khánh", "Trung",
)  # fmt: skip
FEMALE_GIVEN: Final[tuple[str, ...]] = (
    "Hồng", "Lan", "Hương", "Mai", "Linh", "Trang", "Thảo", "Ngân", "Vy", "Nhung",
    "Hạnh", "Yến", "Phượng", "Diễm", "Trâm", "Thủy", "Tuyết", "Loan", "Oanh", "Ngọc",
    "Hà", "Nhi", "Anh", "Thư", "Hoa", "Huệ", "Cúc", "Đào", "Liên", "Nga",
    "Nhàn", "Quyên", "Tiên", "Trinh", "Uyên", "Vân", "Xuân", "Hiền", "My", "Giang",
)  # fmt: skip

# The demo province is overwhelmingly Kinh, with Hoa and Khmer minorities.
ETHNIC_GROUPS: Final[Weighted] = (("Kinh", 98.5), ("Hoa", 0.8), ("Khmer", 0.5), ("Chăm", 0.2))
# Hòa Hảo Buddhism and Cao Đài are strong in the Mekong delta.
RELIGIONS: Final[Weighted] = (
    ("Không", 70.0),
    ("Phật giáo", 16.0),
    ("Phật giáo Hòa Hảo", 6.0),
    ("Công giáo", 4.0),
    ("Cao Đài", 3.5),
    ("Tin lành", 0.5),
)

# Where the residents' births were registered (2004 province codes): mostly
# the two former provinces of the new Đồng Tháp, some from elsewhere.
BIRTH_PROVINCES: Final[tuple[tuple[int, float], ...]] = (
    (87, 53.0),  # Đồng Tháp
    (82, 38.0),  # Tiền Giang
    (79, 2.0),  # TP. Hồ Chí Minh
    (80, 1.5),  # Long An
    (83, 1.5),  # Bến Tre
    (86, 1.0),  # Vĩnh Long
    (89, 1.0),  # An Giang
    (92, 0.5),  # Cần Thơ
    (1, 0.5),  # Hà Nội
    (64, 0.4),  # Gia Lai
    (26, 0.3),  # Vĩnh Phúc
    (60, 0.3),  # Bình Thuận
)

HAMLETS: Final[tuple[str, ...]] = (
    "Bình Hòa", "Tân Lập", "Mỹ Thạnh", "Long Hưng", "An Phú", "Phú Thuận", "Tân Thạnh",
    "Hòa Bình", "Thạnh Lợi", "Bình Thạnh", "Mỹ Hòa", "Tân Phú", "Long Thạnh", "An Hòa",
    "Phú Hòa", "Hưng Thạnh", "Tân Hòa", "Mỹ Phú", "1", "2", "3", "4", "5", "6",
)  # fmt: skip
STREETS: Final[tuple[str, ...]] = (
    "Nguyễn Huệ", "Lê Lợi", "Hùng Vương", "Trần Hưng Đạo", "Lý Thường Kiệt", "Nguyễn Trãi",
    "Hai Bà Trưng", "Nguyễn Thị Minh Khai", "Võ Thị Sáu", "Lê Duẩn", "Tôn Đức Thắng",
    "Phạm Hữu Lầu", "Nguyễn Sinh Sắc", "Ấp Bắc", "30 Tháng 4", "Nguyễn Đình Chiểu",
    "Trương Định", "Đinh Bộ Lĩnh", "Lê Thị Hồng Gấm", "Lê Văn Phẩm",
)  # fmt: skip

# Origins of use rights in the certificates' wording (Circular 23/2014/TT-BTNMT).
RESIDENTIAL_ORIGINS: Final[tuple[str, ...]] = (
    "Công nhận QSDĐ như giao đất có thu tiền sử dụng đất",
    "Nhận chuyển nhượng đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất",
    "Nhận thừa kế đất được Công nhận QSDĐ như giao đất có thu tiền sử dụng đất",
    "Nhà nước giao đất có thu tiền sử dụng đất",
)
FARM_ORIGINS: Final[tuple[str, ...]] = (
    "Công nhận QSDĐ như giao đất không thu tiền sử dụng đất",
    "Nhà nước giao đất không thu tiền sử dụng đất",
    "Nhận chuyển nhượng đất được Công nhận QSDĐ như giao đất không thu tiền sử dụng đất",
    "Nhận thừa kế đất được Công nhận QSDĐ như giao đất không thu tiền sử dụng đất",
)


# -- the other provinces ----------------------------------------------------
#
# Surnames: the national shares, with the regional spellings. Ethnic groups:
# rounded from the 2019 census (General Statistics Office) for the former
# provinces, weighted by their populations. Religions: rounded, "Không"
# (none) the rest. Where residents' births were registered: the former
# provinces of the territory by population (91 in all, as for Đồng Tháp),
# then where people came from (the Red River delta and the North Central
# Coast settled the Central Highlands), all 2004 codes.


def _regional(shares: Mapping[str, float], *extra: tuple[str, float]) -> Weighted:
    """Đồng Tháp's surnames with some shares changed, and a few more."""
    return (*((name, shares.get(name, w)) for name, w in SURNAMES), *extra)


_CENTRAL_SURNAMES: Final = _regional(
    {"Huỳnh": 3.0, "Hoàng": 2.0, "Võ": 3.5, "Vũ": 0.4, "Lâm": 0.5, "Châu": 0.5}
)
_NORTHERN_SURNAMES: Final = _regional(
    {"Huỳnh": 0.1, "Hoàng": 4.9, "Võ": 0.3, "Vũ": 3.6, "Lâm": 0.4, "Châu": 0.2, "Lưu": 0.8,
     "Tạ": 0.8, "Đinh": 2.0, "Bùi": 3.0},
    ("Hà", 1.5),
    ("Quách", 0.4),
    ("Kiều", 0.3),
)  # fmt: skip
_CENTRAL_HAMLETS: Final[tuple[str, ...]] = (
    "1", "2", "3", "4", "5", "6", "7", "8", "Tân Lập", "Đồng Tâm", "Quyết Thắng", "Đoàn Kết",
    "Thống Nhất", "Tân Tiến", "Hòa Bình", "Thắng Lợi", "An Phú", "Phú Mỹ", "Trung Tâm",
    "Đông", "Tây", "Nam", "Bắc", "Hợp Tiến",
)  # fmt: skip
_NORTHERN_HAMLETS: Final[tuple[str, ...]] = (
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "Đồng Tâm", "Tân Lập",
    "Đình", "Chùa", "Giữa", "Đồng", "Trại", "Đoàn Kết", "Thượng", "Hạ", "Trung", "Tiến Bộ",
)  # fmt: skip
_GIA_LAI_STREETS: Final[tuple[str, ...]] = (
    "Hùng Vương", "Lê Lợi", "Trần Phú", "Phan Bội Châu", "Trường Chinh", "Nguyễn Tất Thành",
    "Phạm Văn Đồng", "Quang Trung", "Lê Duẩn", "Ngô Mây", "Xuân Diệu", "An Dương Vương",
    "Võ Thị Sáu", "Trần Hưng Đạo", "Nguyễn Huệ", "Lý Thái Tổ", "Phù Đổng", "Cách Mạng Tháng Tám",
    "Đinh Tiên Hoàng", "Tăng Bạt Hổ",
)  # fmt: skip
_LAM_DONG_STREETS: Final[tuple[str, ...]] = (
    "Trần Phú", "Phan Đình Phùng", "Bùi Thị Xuân", "Hai Bà Trưng", "Trần Hưng Đạo",
    "Nguyễn Văn Cừ", "3 Tháng 2", "Hùng Vương", "Lê Hồng Phong", "Yersin", "Nguyễn Tất Thành",
    "Thủ Khoa Huân", "Trần Quốc Toản", "Lê Lợi", "Quang Trung", "Nguyễn Huệ", "Tôn Đức Thắng",
    "Võ Văn Kiệt", "Lý Thường Kiệt", "Hoàng Văn Thụ",
)  # fmt: skip
_PHU_THO_STREETS: Final[tuple[str, ...]] = (
    "Hùng Vương", "Trần Phú", "Nguyễn Tất Thành", "Lê Quý Đôn", "Hòa Phong", "Châu Phong",
    "Kim Đồng", "Lê Lợi", "Nguyễn Du", "Trần Hưng Đạo", "Mê Linh", "Ngô Quyền", "Kim Ngọc",
    "Nguyễn Trãi", "Lý Thường Kiệt", "Cù Chính Lan", "Chi Lăng", "Hai Bà Trưng",
    "Lạc Long Quân", "Âu Cơ",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the synthetic data of one province is drawn from."""

    surnames: Weighted
    ethnic_groups: Weighted
    religions: Weighted
    birth_provinces: tuple[tuple[int, float], ...]
    """2004 province codes of the births of residents not born into a
    resident family, weighted."""
    hamlet: str
    """The word for a rural hamlet in addresses: ``Ấp`` in the South,
    ``Thôn`` or ``Khu`` elsewhere."""
    hamlets: tuple[str, ...]
    streets: tuple[str, ...]
    quarters: Mapping[int, str]
    """The word for a ward's quarter, by 2004 province code: ``Khóm`` in
    the former Đồng Tháp, ``Khu phố`` in Tiền Giang, ``Tổ dân phố`` in the
    North and the Highlands."""

    def __reduce__(self) -> tuple[Callable[[str], Vocabulary], tuple[str]]:
        # Pickled by name (its mappings are read-only views): a dataset
        # built in another process comes back with this very vocabulary.
        key = next(k for k, v in VOCABULARIES.items() if v is self)
        return (_vocabulary_named, (key,))


def _vocabulary_named(key: str) -> Vocabulary:
    return VOCABULARIES[key]


VOCABULARIES: Final[Mapping[str, Vocabulary]] = MappingProxyType(
    {
        "dongthap": Vocabulary(
            SURNAMES,
            ETHNIC_GROUPS,
            RELIGIONS,
            BIRTH_PROVINCES,
            "Ấp",
            HAMLETS,
            STREETS,
            MappingProxyType({87: "Khóm", 82: "Khu phố"}),
        ),
        "gialai": Vocabulary(
            _CENTRAL_SURNAMES,
            (("Kinh", 75.0), ("Gia Rai", 15.0), ("Ba Na", 8.0), ("Tày", 0.6), ("Nùng", 0.6),
             ("Mường", 0.4), ("Chăm", 0.2), ("Hrê", 0.2)),
            (("Không", 69.0), ("Phật giáo", 13.0), ("Tin lành", 9.0), ("Công giáo", 8.0),
             ("Cao Đài", 1.0)),
            (
                (64, 47.0),  # Gia Lai
                (52, 44.0),  # Bình Định
                (51, 1.5),  # Quảng Ngãi
                (49, 1.0),  # Quảng Nam
                (40, 1.0),  # Nghệ An
                (79, 1.0),  # TP. Hồ Chí Minh
                (34, 0.8),  # Thái Bình
                (62, 0.8),  # Kon Tum
                (66, 0.8),  # Đắk Lắk
                (1, 0.6),  # Hà Nội
                (42, 0.5),  # Hà Tĩnh
                (46, 0.5),  # Thừa Thiên Huế
                (54, 0.5),  # Phú Yên
            ),
            "Thôn",
            _CENTRAL_HAMLETS,
            _GIA_LAI_STREETS,
            MappingProxyType({}),
        ),
        "lamdong": Vocabulary(
            SURNAMES,
            (("Kinh", 80.0), ("Cơ Ho", 6.0), ("Mnông", 2.5), ("Chăm", 2.0), ("Tày", 2.0),
             ("Nùng", 2.0), ("Mạ", 1.5), ("Hoa", 1.0), ("Ra Glai", 1.0), ("Chu Ru", 1.0),
             ("Mông", 1.0)),
            (("Không", 53.0), ("Công giáo", 19.0), ("Phật giáo", 18.0), ("Tin lành", 8.0),
             ("Cao Đài", 1.0), ("Bà-la-môn", 0.5), ("Hồi giáo", 0.5)),
            (
                (68, 37.0),  # Lâm Đồng
                (60, 36.0),  # Bình Thuận
                (67, 18.0),  # Đắk Nông
                (36, 1.2),  # Nam Định
                (79, 1.2),  # TP. Hồ Chí Minh
                (34, 1.0),  # Thái Bình
                (1, 0.8),  # Hà Nội
                (38, 0.8),  # Thanh Hóa
                (40, 0.8),  # Nghệ An
                (49, 0.8),  # Quảng Nam
                (58, 0.8),  # Ninh Thuận
                (66, 0.8),  # Đắk Lắk
                (75, 0.8),  # Đồng Nai
            ),
            "Thôn",
            _CENTRAL_HAMLETS,
            _LAM_DONG_STREETS,
            MappingProxyType({}),
        ),
        "phutho": Vocabulary(
            _NORTHERN_SURNAMES,
            (("Kinh", 74.7), ("Mường", 21.2), ("Dao", 1.3), ("Thái", 1.0), ("Sán Dìu", 0.9),
             ("Tày", 0.6), ("Mông", 0.3)),
            (("Không", 86.0), ("Phật giáo", 9.0), ("Công giáo", 4.5), ("Tin lành", 0.5)),
            (
                (25, 38.0),  # Phú Thọ
                (26, 31.0),  # Vĩnh Phúc
                (17, 22.0),  # Hòa Bình
                (1, 3.0),  # Hà Nội
                (15, 1.0),  # Yên Bái
                (8, 1.0),  # Tuyên Quang
                (79, 1.0),  # TP. Hồ Chí Minh
                (14, 0.8),  # Sơn La
                (19, 0.7),  # Thái Nguyên
                (27, 0.5),  # Bắc Ninh
                (30, 0.5),  # Hải Dương
                (38, 0.5),  # Thanh Hóa
            ),
            "Khu",
            _NORTHERN_HAMLETS,
            _PHU_THO_STREETS,
            MappingProxyType({}),
        ),
    }
)  # fmt: skip
"""Each province's vocabulary, by province key."""

_BY_2004_CODE: Final = {code: p.key for p in PROVINCES.values() for code in p.codes_2004}
QUARTER: Final = "Tổ dân phố"
"""A ward's quarter where :attr:`Vocabulary.quarters` names none."""


def vocabulary(province_2004: int) -> Vocabulary:
    """The vocabulary of the province whose territory held this 2004
    province (Đồng Tháp's for one outside the network)."""
    return VOCABULARIES[_BY_2004_CODE.get(province_2004, "dongthap")]
