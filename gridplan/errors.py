"""The errors gridplan raises, rooted in :class:`GridplanError`.

Every error a planner can meet says what is wrong, echoes the bad value, says how to fix it and lists
the offending ids (first 10). Each class also derives from the built-in it refines, so callers can catch
``ValueError`` or ``RuntimeError`` as usual.

Examples
--------
>>> from gridplan.errors import InputError, GridplanError
>>> err = InputError(["buildings: 2 duplicate ids, e.g. ['a', 'b']; make the id field unique"])
>>> isinstance(err, ValueError) and isinstance(err, GridplanError)
True
>>> print(err)
1 problem with the input:
  - buildings: 2 duplicate ids, e.g. ['a', 'b']; make the id field unique
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "GridplanError",
    "InputError",
    "OptionError",
    "InfeasibleError",
    "PlanWriteError",
    "first_ids",
]


class GridplanError(Exception):
    """Root of every error gridplan raises on purpose."""


class InputError(GridplanError, ValueError):
    """The input data cannot be planned as it is; ``problems`` lists every problem found at once."""

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} with the input:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class OptionError(GridplanError, ValueError):
    """An option has a value gridplan cannot use (a range, a choice, a code)."""


class InfeasibleError(GridplanError, RuntimeError):
    """No plan can satisfy what was asked (e.g. locked units that make balance impossible)."""


class PlanWriteError(GridplanError, RuntimeError):
    """A plan could not be written; nothing was left half-written."""


def first_ids(ids: Iterable[object], n: int = 10) -> str:
    """Format up to ``n`` ids for an error message.

    Examples
    --------
    >>> first_ids(range(12))
    '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9] and 2 more'
    >>> first_ids(["a"])
    "['a']"
    """
    ids = list(ids)
    shown = repr(ids[:n])
    return shown if len(ids) <= n else f"{shown} and {len(ids) - n} more"
