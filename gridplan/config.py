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

With ``balance="population"`` the ranges count persons; a range not given is the household default × persons
per household, rounded to tens, and a range given is kept as it is:

>>> cfg = PlanConfig(balance="population")
>>> str(cfg.grid), cfg.grid.target, str(cfg.community)
('790:1310', 1050.0, '2620:7860')
>>> str(PlanConfig(balance="population", grid="900:1300").grid)
'900:1300'
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, get_args

from .errors import OptionError

__all__ = ["SizeRange", "PlanConfig", "Level", "LEVELS", "Balance", "BALANCES", "DEFAULT_SIZES", "default_size",
           "check_choice", "counts_in_range"]

Level = Literal["community", "grid", "micro"]
LEVELS: tuple[Level, ...] = get_args(Level)
#: What the size ranges count: households, or persons (Hefei's "300–500 households or about 1,000 people").
Balance = Literal["households", "population"]
BALANCES: tuple[Balance, ...] = get_args(Balance)
#: The size ranges of DOMAIN.md, in households, as ``MIN:MAX:TARGET``.
DEFAULT_SIZES: dict[str, str] = {"community": "1000:3000:2000", "grid": "300:500:400", "micro": "30:100:50"}


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


def _tens(x: float) -> float:
    """``x`` rounded to tens, halves up (786 -> 790, 1048 -> 1050, 1310 -> 1310)."""
    return float(math.floor(x / 10 + 0.5) * 10)


def default_size(level: Level, balance: Balance = "households", persons_per_household: float = 2.62) -> SizeRange:
    """The default range of ``level``: :data:`DEFAULT_SIZES`, or with ``balance="population"`` those × persons
    per household, each bound rounded to tens.

    Examples
    --------
    >>> default_size("grid")
    SizeRange(lo=300.0, hi=500.0, target=400.0)
    >>> default_size("grid", "population", 2.62)
    SizeRange(lo=790.0, hi=1310.0, target=1050.0)
    >>> str(default_size("micro", "population", 2.62))
    '80:260'
    """
    check_choice("level", level, LEVELS)
    check_choice("balance", balance, BALANCES)
    size = SizeRange.parse(DEFAULT_SIZES[level])
    if balance == "households":
        return size
    return SizeRange(*(_tens(v * persons_per_household) for v in (size.lo, size.hi, size.target)))


@dataclass(frozen=True)
class PlanConfig:
    """Every option of a plan. Defaults follow DOMAIN.md; all can be changed.

    ``street_code`` is the 9-digit code (6 county + 3 street office) that community codes extend.
    ``balance`` says what the ranges count: ``"households"``, or ``"population"`` (persons: a building's
    ``population`` column, else households × ``persons_per_household``). A range left ``None`` is the
    default for that balance (:func:`default_size`); a range given is kept as it is. ``with_`` keeps the
    ranges already resolved: to switch the balance and the default ranges together, build a new PlanConfig.
    """

    community: SizeRange | None = None
    grid: SizeRange | None = None
    micro: SizeRange | None = None
    persons_per_household: float = 2.62
    street_code: str = "000000000"
    seed: int = 0
    balance: Balance = "households"

    def __post_init__(self) -> None:
        check_choice("balance", self.balance, BALANCES)
        try:
            pph_ok = math.isfinite(float(self.persons_per_household)) and float(self.persons_per_household) > 0
        except (TypeError, ValueError):
            pph_ok = False
        if not pph_ok:
            raise OptionError(f"`persons_per_household` was {self.persons_per_household!r}; expected a positive number such as 2.62")
        for name in LEVELS:
            value = getattr(self, name)
            size = (default_size(name, self.balance, self.persons_per_household) if value is None
                    else SizeRange.parse(value, name=f"{name}_size"))
            object.__setattr__(self, name, size)
        if not (isinstance(self.street_code, str) and self.street_code.isascii() and self.street_code.isdigit() and len(self.street_code) == 9):
            raise OptionError(
                f"`street_code` was {self.street_code!r}; expected 9 digits (6 county + 3 street office), e.g. '320102001'"
            )

    def size(self, level: Level) -> SizeRange:
        """The size range of ``level``."""
        check_choice("level", level, LEVELS)
        return getattr(self, level)

    def with_(self, **changes) -> PlanConfig:
        """A copy with some options changed."""
        return replace(self, **changes)
