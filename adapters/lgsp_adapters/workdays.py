"""Working days of Vietnamese public agencies: Monday to Friday, less public
holidays, plus the Saturdays worked in exchange for a bridge day.

Sources:
- Labour Code 45/2019/QH14, Art. 112: New Year (1 day), Tết (5 days, the
  Government picks them), Hùng Kings (10th of the 3rd lunar month),
  30 April, 1 May, National Day 2 September plus the day before or after;
  Art. 111(3): a holiday on a weekly day off is taken on the next working day.
- The Government's yearly schedules for public servants: Tết 2025
  (Announcement 6150/TB-BLĐTBXH of 2024: Monday 27 to Friday 31 January),
  2 May 2025 swapped with Saturday 26 April, Tết 2026 (Monday 16 to Friday
  20 February), 31 August 2026 swapped with Saturday 22 August.
- Vietnam Culture Day, 24 November, a paid day off from 2026 (Politburo
  Resolution 80-NQ/TW, January 2026; Government Resolution 30/NQ-CP orders
  the matching amendment of Art. 112).
- Lunar dates and the resulting calendar cross-checked against the
  ``holidays`` package (vacanza/holidays 0.109, Vietnam).
2027 applies the statutory rules; the Government has not yet published its
Tết 2027 schedule, which may move days (update the table when it does).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import structlog

log = structlog.get_logger("lgsp_adapters.workdays")

VN_TZ: Final = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")
"""Vietnam's time (no daylight saving since 1975), as a fixed offset so that
no tz database is needed."""

_D = dt.date

DAYS_OFF: Final[dict[dt.date, str]] = {
    # 2025
    _D(2025, 1, 1): "Tết Dương lịch",
    _D(2025, 1, 27): "Tết Nguyên đán (nghỉ bù mùng 4, thứ Bảy 01/02)",
    _D(2025, 1, 28): "Tết Nguyên đán (29 tháng Chạp)",
    _D(2025, 1, 29): "Tết Nguyên đán (mùng 1)",
    _D(2025, 1, 30): "Tết Nguyên đán (mùng 2)",
    _D(2025, 1, 31): "Tết Nguyên đán (mùng 3)",
    _D(2025, 4, 7): "Giỗ Tổ Hùng Vương",
    _D(2025, 4, 30): "Ngày Chiến thắng",
    _D(2025, 5, 1): "Ngày Quốc tế Lao động",
    _D(2025, 5, 2): "Nghỉ hoán đổi (làm bù thứ Bảy 26/04)",
    _D(2025, 9, 1): "Quốc khánh",
    _D(2025, 9, 2): "Quốc khánh",
    # 2026
    _D(2026, 1, 1): "Tết Dương lịch",
    _D(2026, 2, 16): "Tết Nguyên đán (29 tháng Chạp)",
    _D(2026, 2, 17): "Tết Nguyên đán (mùng 1)",
    _D(2026, 2, 18): "Tết Nguyên đán (mùng 2)",
    _D(2026, 2, 19): "Tết Nguyên đán (mùng 3)",
    _D(2026, 2, 20): "Tết Nguyên đán (mùng 4)",
    _D(2026, 4, 27): "Giỗ Tổ Hùng Vương (nghỉ bù Chủ nhật 26/04)",
    _D(2026, 4, 30): "Ngày Chiến thắng",
    _D(2026, 5, 1): "Ngày Quốc tế Lao động",
    _D(2026, 8, 31): "Nghỉ hoán đổi (làm bù thứ Bảy 22/08)",
    _D(2026, 9, 1): "Quốc khánh",
    _D(2026, 9, 2): "Quốc khánh",
    _D(2026, 11, 24): "Ngày Văn hóa Việt Nam",
    # 2027 (statutory rules; Tết schedule not yet published)
    _D(2027, 1, 1): "Tết Dương lịch",
    _D(2027, 2, 4): "Tết Nguyên đán (nghỉ bù mùng 1, thứ Bảy 06/02)",
    _D(2027, 2, 5): "Tết Nguyên đán (30 tháng Chạp)",
    _D(2027, 2, 8): "Tết Nguyên đán (mùng 3)",
    _D(2027, 2, 9): "Tết Nguyên đán (mùng 4)",
    _D(2027, 2, 10): "Tết Nguyên đán (nghỉ bù mùng 2, Chủ nhật 07/02)",
    _D(2027, 4, 16): "Giỗ Tổ Hùng Vương",
    _D(2027, 4, 30): "Ngày Chiến thắng",
    _D(2027, 5, 3): "Ngày Quốc tế Lao động (nghỉ bù thứ Bảy 01/05)",
    _D(2027, 9, 2): "Quốc khánh",
    _D(2027, 9, 3): "Quốc khánh",
    _D(2027, 11, 24): "Ngày Văn hóa Việt Nam",
}
"""Weekdays on which public agencies are closed, with the reason."""

MAKEUP_SATURDAYS: Final[frozenset[dt.date]] = frozenset({_D(2025, 4, 26), _D(2026, 8, 22)})
"""Saturdays worked in exchange for a bridge day off."""

KNOWN_YEARS: Final = range(2025, 2028)

# Outside KNOWN_YEARS only the fixed-date holidays are known (the lunar ones
# and the Government's swaps are not): good enough for a mock, and said once.
_FIXED: Final = ((1, 1), (4, 30), (5, 1), (9, 2))
_warned: set[int] = set()


def is_working_day(day: dt.date) -> bool:
    """Whether public agencies work on this day."""
    if day in MAKEUP_SATURDAYS:
        return True
    if day.weekday() >= 5:
        return False
    if day.year in KNOWN_YEARS:
        return day not in DAYS_OFF
    if day.year not in _warned:
        _warned.add(day.year)
        log.warning("workdays.calendar_incomplete", year=day.year, known=f"{KNOWN_YEARS}")
    return (day.month, day.day) not in _FIXED


def next_working_day(day: dt.date) -> dt.date:
    """The first working day strictly after ``day``."""
    day += dt.timedelta(days=1)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """When something received at ``start`` is due after ``days`` working
    days: the same time of day (Vietnam time) on the ``days``-th working day
    after the receipt day. Something received on a day off (an online
    submission) counts from the next working day."""
    if days < 0:
        raise ValueError("days must not be negative")
    local = start.astimezone(VN_TZ)
    day = local.date()
    if not is_working_day(day):
        day = next_working_day(day)
    for _ in range(days):
        day = next_working_day(day)
    return dt.datetime.combine(day, local.timetz())
