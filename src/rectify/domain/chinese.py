"""Chinese numerals and dates as official documents write them."""

from __future__ import annotations

from datetime import date

DIGITS = "零一二三四五六七八九"


def numeral(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 21 → 二十一 (up to 99; beyond, Arabic digits)."""
    if n < 10:
        return DIGITS[n]
    if n < 20:
        return "十" + (DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return DIGITS[n // 10] + "十" + (DIGITS[n % 10] if n % 10 else "")
    return str(n)


def day(d: date, *, year: bool = True) -> str:
    """2026-03-12 → 2026年3月12日 (or 3月12日 without the year)."""
    return f"{d.year}年{d.month}月{d.day}日" if year else f"{d.month}月{d.day}日"


def span(start: date, end: date) -> str:
    """2025-03-26 … 2025-06-13 → 2025年3月26日至6月13日: the end's year only when it differs."""
    return f"{day(start)}至{day(end, year=end.year != start.year)}"
