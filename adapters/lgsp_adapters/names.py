"""Vietnamese names and the other small vocabularies of the synthetic data,
with the weights they are drawn with.

Surname shares follow the commonly cited national proportions (Nguyễn ≈ 38%,
Trần ≈ 11%, Lê ≈ 9.5%, Phạm ≈ 7%, Hoàng/Huỳnh ≈ 5%, Phan ≈ 4.5%, Vũ/Võ ≈ 3.9%,
...); in the South, where the demo province lies, Hoàng is mostly spelled
Huỳnh and Vũ mostly Võ. Middle names depend on gender, and the old
defaults (Văn, Thị) are rarer among the young.
"""

from __future__ import annotations

from typing import Final

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
