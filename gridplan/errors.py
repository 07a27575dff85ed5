"""The errors gridplan raises, rooted in :class:`GridplanError`, and how front ends word them.

Every error a planner can meet says what is wrong, echoes the bad value, says how to fix it and lists
the offending ids (first 10). Each class also derives from the built-in it refines, so callers can catch
``ValueError`` or ``RuntimeError`` as usual.

Examples
--------
>>> err = InputError(["buildings: 2 duplicate ids, e.g. ['a', 'b']; make the id field unique"])
>>> isinstance(err, ValueError) and isinstance(err, GridplanError)
True
>>> print(err)
1 problem with the input:
  - buildings: 2 duplicate ids, e.g. ['a', 'b']; make the id field unique

Parameters in messages
----------------------
The library's messages name its Python parameters between backticks, alone (```grid_size```) or with the
value to give (```estimate='missing'```, ```fix_geometry=True```). A front end words them its own way:
:func:`for_cli` as command-line options (``--grid-size``, ``--estimate missing``, ``--fix-geometry``; a table
maps the parameters whose option is spelt otherwise), :func:`for_api` as request fields (``grid_size``,
``estimate="missing"``, ``fix_geometry=true``), never as options. :func:`params_in` (and
:attr:`GridplanError.params`) lists the parameters a message names.

>>> msg = "`grid_size` was '500:300'; give MIN <= MAX, or pass `estimate='missing'` and `fix_geometry=True`"
>>> print(for_cli(msg))
--grid-size was '500:300'; give MIN <= MAX, or pass --estimate missing and --fix-geometry
>>> print(for_api(msg))
grid_size was '500:300'; give MIN <= MAX, or pass estimate="missing" and fix_geometry=true
>>> print(for_cli("or pass `accept_large=True`", {"accept_large": "--accept-large-buildings"}))
or pass --accept-large-buildings
>>> OptionError(msg).params
('grid_size', 'estimate', 'fix_geometry')

Older messages that spell both (``id_field= (--id-field)``) are worded the same way:

>>> old = "name it with id_field= (--id-field), or pass --allow-any-format (allow_any_format=True)"
>>> print(for_cli(old)); print(for_api(old))
name it with --id-field, or pass --allow-any-format
name it with id_field=, or pass allow_any_format=True

Counts are written with :func:`plural`: thousands separated, the noun agreeing with the number.

>>> plural(1, "community"), plural(12034, "building"), plural(2, "box", "boxes")
('1 community', '12,034 buildings', '2 boxes')
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "GridplanError",
    "InputError",
    "OptionError",
    "InfeasibleError",
    "PlanWriteError",
    "first_ids",
    "plural",
    "params_in",
    "for_cli",
    "for_api",
    "Findings",
]

#: A parameter named in a message: ```name``` or ```name=value```
_PARAM = re.compile(r"`([a-z_][a-z0-9_]*)(?:=([^`]*))?`")
#: The older spelling of both: ``name=value (--flag value)`` and ``--flag (name=value)``
_BOTH = re.compile(r"\b[a-z_][a-z0-9_]*=(?:'[^']*'|\"[^\"]*\"|[^\s(),;]*) \((--[a-z][\w-]*(?: [^()]*)?)\)")
_BOTH_REVERSED = re.compile(r"(--[a-z][\w-]*) \([a-z_][a-z0-9_]*=[^()]*\)")
_CLI_ONLY = re.compile(r" \(--[a-z][\w-]*(?: [^()]*)?\)")
_CLI_FIRST = re.compile(r"--[a-z][\w-]* \(([a-z_][a-z0-9_]*=[^()]*)\)")


class GridplanError(Exception):
    """Root of every error gridplan raises on purpose."""

    @property
    def params(self) -> tuple[str, ...]:
        """The parameters the message names (see the module docstring), in order, once each."""
        return params_in(str(self))


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


@dataclass
class Findings:
    """What the checks of an input found: ``problems`` (raised together, as one :class:`InputError`), ``notes``
    for the report, ``warnings`` to raise as ``UserWarning``.

    Examples
    --------
    >>> f = Findings()
    >>> f.problems.append("buildings: 2 empty ids"); f.notes.append("rounded 1 value")
    >>> f.raise_problems()
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: 1 problem with the input:
      - buildings: 2 empty ids
    """

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def raise_problems(self) -> None:
        """Raise the problems found so far as one :class:`InputError` (nothing when there are none)."""
        if self.problems:
            raise InputError(self.problems)


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
    return shown if len(ids) <= n else f"{shown} and {len(ids) - n:,} more"


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """``n`` with thousands separators and ``word`` in the number it agrees with.

    ``many`` is the plural when it is not the regular one (``-s``, ``-es`` after s/x/ch/sh, ``-ies`` after a
    consonant and y).

    Examples
    --------
    >>> plural(0, "file"), plural(1, "file"), plural(1500, "household"), plural(3, "entry"), plural(2, "class")
    ('0 files', '1 file', '1,500 households', '3 entries', '2 classes')
    """
    if many is None:
        if re.search(r"[^aeiou]y$", word):
            many = word[:-1] + "ies"
        elif re.search(r"(s|x|z|ch|sh)$", word):
            many = word + "es"
        else:
            many = word + "s"
    number = f"{n:,}" if float(n).is_integer() else f"{n:,g}"
    return f"{number} {word if n == 1 else many}"


def params_in(text: str) -> tuple[str, ...]:
    """The parameters a message names between backticks, in order, once each.

    Examples
    --------
    >>> params_in("`id_field` was 'x'; name it with `id_field`, or pass `estimate='all'`; run `ogr2ogr -f GPKG`")
    ('id_field', 'estimate')
    """
    return tuple(dict.fromkeys(m.group(1) for m in _PARAM.finditer(text)))


def _value(text: str) -> str:
    """A Python literal's text without its quotes."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def for_cli(text: str, flags: Mapping[str, str] | None = None) -> str:
    """``text`` with its parameters named as command-line options.

    ``flags`` maps a parameter to its option where that is not ``--`` + the name with dashes (e.g.
    ``{"accept_large": "--accept-large-buildings"}``). ```name=True``` is the bare flag; ```name=False``` and
    ```name=None``` read "without --name"; another value follows the flag, shell-quoted when it needs it.

    Examples
    --------
    >>> for_cli("pass `input_crs='EPSG:32650'`, or `barriers=None`; `layer='my layer'`")
    "pass --input-crs EPSG:32650, or without --barriers; --layer 'my layer'"
    """
    flags = flags or {}

    def word(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        flag = flags.get(name) or "--" + name.replace("_", "-")
        if value is None or value == "" or value == "True":
            return flag
        if value in ("False", "None"):
            return f"without {flag}"
        return f"{flag} {shlex.quote(_value(value))}"

    text = _BOTH.sub(r"\1", text)
    text = _BOTH_REVERSED.sub(r"\1", text)
    return _PARAM.sub(word, text)


def for_api(text: str) -> str:
    """``text`` with its parameters named as request fields, and no command-line options.

    Examples
    --------
    >>> print(for_api("`estimate` was 'x'; pass `estimate='missing'`, `accept_large=True` or `barriers=None`"))
    estimate was 'x'; pass estimate="missing", accept_large=true or barriers=null
    """
    def word(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        if value is None or value == "":
            return name
        shown = {"True": "true", "False": "false", "None": "null"}.get(value)
        if shown is None:
            inner = _value(value)
            shown = f'"{inner}"' if inner != value else value
        return f"{name}={shown}"

    return _PARAM.sub(word, _CLI_ONLY.sub("", _CLI_FIRST.sub(r"\1", text)))
