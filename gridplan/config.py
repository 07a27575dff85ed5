"""Sizes and options of a plan: the defaults of DOMAIN.md, every one configurable.

Examples
--------
>>> from gridplan.config import SizeRange, PlanConfig
>>> SizeRange.parse("300:500")
SizeRange(lo=300.0, hi=500.0, target=400.0)
>>> SizeRange.parse("30:100:50").target
50.0
>>> PlanConfig().grid
SizeRange(lo=300.0, hi=500.0, target=400.0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from .errors import OptionError

__all__ = ["SizeRange", "PlanConfig", "Level", "LEVELS", "check_choice", "counts_in_range"]

Level = Literal["community", "grid", "micro"]
LEVELS: tuple[Level, ...] = get_args(Level)


def check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    """Raise :class:`OptionError` when ``value`` is not one of ``choices``, listing them.

    Examples
    --------
    >>> check_choice("level", "block", LEVELS)
    Traceback (most recent call last):
    ...
    gridplan.errors.OptionError: `level` was 'block'; expected one of 'community', 'grid', 'micro'
    """
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise OptionError(f"`{name}` was {value!r}; expected one of {listed}")


@dataclass(frozen=True)
class SizeRange:
    """An inclusive range of households per unit, with the size aimed at inside it."""

    lo: float
    hi: float
    target: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.lo <= 0 or self.hi < self.lo:
            raise OptionError(
                f"size range {self.lo:g}:{self.hi:g} is not usable; give MIN:MAX with 0 < MIN <= MAX, e.g. 300:500"
            )
        t = (self.lo + self.hi) / 2 if self.target is None else float(self.target)
        if not self.lo <= t <= self.hi:
            raise OptionError(f"target {t:g} lies outside its range {self.lo:g}:{self.hi:g}; give MIN:MAX:TARGET with MIN <= TARGET <= MAX")
        object.__setattr__(self, "lo", float(self.lo))
        object.__setattr__(self, "hi", float(self.hi))
        object.__setattr__(self, "target", t)

    @classmethod
    def parse(cls, text: str | tuple | SizeRange, *, name: str = "range") -> SizeRange:
        """Read ``"MIN:MAX"`` or ``"MIN:MAX:TARGET"`` (or a tuple, or a SizeRange)."""
        if isinstance(text, SizeRange):
            return text
        parts = list(text) if isinstance(text, (tuple, list)) else str(text).replace(",", ":").split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            nums = []
        if len(nums) not in (2, 3):
            raise OptionError(f"`{name}` was {text!r}; expected MIN:MAX or MIN:MAX:TARGET in households, e.g. 300:500")
        try:
            return cls(*nums)
        except OptionError as exc:
            raise OptionError(f"`{name}` was {text!r}: {exc}") from None

    def contains(self, households: float) -> bool:
        """Whether ``households`` lies in the range (inclusive)."""
        return self.lo <= households <= self.hi

    def __str__(self) -> str:
        return f"{self.lo:g}:{self.hi:g}"


def counts_in_range(total: float, size: SizeRange) -> range:
    """The unit counts ``k`` for which ``total`` households can be split into ``k`` units in range.

    Examples
    --------
    >>> list(counts_in_range(1000, SizeRange(300, 500)))
    [2, 3]
    >>> list(counts_in_range(550, SizeRange(300, 500)))  # one is too big, two too small
    []
    """
    if total <= 0:
        return range(0)
    return range(max(1, math.ceil(total / size.hi - 1e-9)), math.floor(total / size.lo + 1e-9) + 1)


@dataclass(frozen=True)
class PlanConfig:
    """Every option of a plan. Defaults follow DOMAIN.md; all can be changed.

    ``street_code`` is the 9-digit code (6 county + 3 street office) that community codes extend.
    """

    community: SizeRange = field(default_factory=lambda: SizeRange(1000, 3000, 2000))
    grid: SizeRange = field(default_factory=lambda: SizeRange(300, 500, 400))
    micro: SizeRange = field(default_factory=lambda: SizeRange(30, 100, 50))
    persons_per_household: float = 2.62
    street_code: str = "000000000"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in LEVELS:
            object.__setattr__(self, name, SizeRange.parse(getattr(self, name), name=f"{name}_size"))
        if not (isinstance(self.street_code, str) and self.street_code.isascii() and self.street_code.isdigit() and len(self.street_code) == 9):
            raise OptionError(
                f"`street_code` was {self.street_code!r}; expected 9 digits (6 county + 3 street office), e.g. '320102001'"
            )
        if not self.persons_per_household > 0:
            raise OptionError(f"`persons_per_household` was {self.persons_per_household!r}; expected a positive number such as 2.62")

    def size(self, level: Level) -> SizeRange:
        """The size range of ``level``."""
        check_choice("level", level, LEVELS)
        return getattr(self, level)

    def with_(self, **changes) -> PlanConfig:
        """A copy with some options changed."""
        return replace(self, **changes)
