"""The ``gridplan`` app and how errors and warnings reach the terminal. The commands register themselves on
:data:`app` from one module per group (:mod:`gridplan.cli.plan`, ...); :mod:`gridplan.cli` imports them all;
the options several commands share are in :mod:`gridplan.cli.options`.

No command ends in a traceback: a :class:`~gridplan.errors.GridplanError` ends in ``error: <its message>``
(exit code 2), with the library's parameter names replaced by the command's options (``grid_size`` →
``--grid-size``); any other exception ends in ``error: internal error: <type>: <message>; run again with
--debug and report it`` (exit code 1). ``gridplan --debug COMMAND`` shows the traceback instead.

Examples
--------
>>> with exit_on_error():
...     run(lambda: 6 * 7)
42
>>> names = {"grid_size": "--grid-size", "households_field": "--households-field", "buildings": "BUILDINGS"}
>>> cli_message("`grid_size` was '300-500'; pass grid_size= to change it", names)
"--grid-size was '300-500'; pass --grid-size to change it"
>>> cli_message("no column 'hh'; name it with households_field= (--households-field), or estimate='auto'", names)
"no column 'hh'; name it with --households-field, or estimate='auto'"
>>> cli_message("or give estimate='auto' (--estimate auto), or grid_size='300:500'", {**names, "estimate": "--estimate"})
'or give --estimate auto, or --grid-size 300:500'
>>> cli_message("`buildings` has 3 buildings without households_field values", names)
'BUILDINGS has 3 buildings without --households-field values'
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from ..errors import GridplanError, for_cli

__all__ = ["app", "exit_on_error", "run", "cli_message", "option_names", "debugging"]

T = TypeVar("T")

_DEBUG = "gridplan.debug"
# the group's context and command of the command line being run (typer has no public current-context call)
_RUNNING: ContextVar[tuple[Any, Any] | None] = ContextVar("gridplan_cli_running", default=None)
INTERNAL = "internal error: {type}: {msg}; run again with --debug and report it"
# library parameters that a command's option names differently: library name -> the command's parameter name
ALIASES = {"community_count": "count"}


def option_names(command) -> dict[str, str]:
    """Each parameter name of the typer/click ``command`` (and of the library behind it, :data:`ALIASES`) → its
    option (``grid_size`` → ``--grid-size``) or argument (``buildings`` → ``BUILDINGS``); hidden options are
    left out."""
    names: dict[str, str] = {}
    for p in getattr(command, "params", ()):
        if p.param_type_name == "option" and not p.hidden:
            names[p.name] = next((o for o in p.opts if o.startswith("--")), p.opts[0])
        elif p.param_type_name == "argument":
            names[p.name] = p.name.upper()
    names.update({lib: names[own] for lib, own in ALIASES.items() if own in names and lib not in names})
    return names


def cli_message(message: str, names: dict[str, str]) -> str:
    """``message`` with Python parameter names replaced by the command line's (``names``, as from
    :func:`option_names`): ```name```, ``name=`` (and ``name= (--opt)``), and bare names holding an underscore;
    other words are left alone. Backticked parameters with values go through :func:`gridplan.errors.for_cli` first."""
    message = for_cli(message, names)
    for name, opt in sorted(names.items(), key=lambda kv: -len(kv[0])):
        n = re.escape(name)
        message = re.sub(rf"`{n}`", f"`{opt}`", message)
        message = re.sub(rf"(?<![\w-]){n}=[^\s,;)]* \(({re.escape(opt)}[^)]*)\)", r"\1", message)
        if opt.startswith("--"):
            message = re.sub(rf"(?<![\w-]){n}=(['\"]?)([^\s,;)'\"]*)\1",
                             lambda m: opt + (f" {m.group(2)}" if m.group(2) else ""), message)
            if "_" in name:
                message = re.sub(rf"(?<![\w`-]){n}(?![\w`])", opt, message)
    return message


def _running_names() -> dict[str, str]:
    running = _RUNNING.get()
    return option_names(running[1]) if running is not None else {}


def debugging() -> bool:
    """Whether ``gridplan --debug`` was given (tracebacks instead of ``error:`` lines)."""
    running = _RUNNING.get()
    return bool(running is not None and running[0].meta.get(_DEBUG))


def _fail(exc: BaseException) -> typer.Exit:
    if isinstance(exc, GridplanError):
        typer.echo(f"error: {cli_message(str(exc), _running_names())}", err=True)
        return typer.Exit(code=2)
    msg = " ".join(str(exc).split()) or "(no message)"
    typer.echo("error: " + INTERNAL.format(type=type(exc).__name__, msg=msg), err=True)
    return typer.Exit(code=1)


class _Group(TyperGroup):
    """The ``gridplan`` group: every exception a command lets through ends in one ``error:`` line (see module)."""

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        _RUNNING.set((ctx, cmd))
        return name, cmd, rest

    def invoke(self, ctx):
        token = _RUNNING.set((ctx, None))
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors, --help, exit codes: typer's own
            raise
        except Exception as exc:
            if ctx.meta.get(_DEBUG):
                raise
            raise _fail(exc) from None
        finally:
            _RUNNING.reset(token)


app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Plan communities → grids → micro-grids from building footprints.")


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"gridplan {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    allow_any_format: Annotated[bool, typer.Option(
        "--allow-any-format", help="open input files of any format GDAL reads, a VRT included (which can read other "
                                   "files and URLs): only for files of your own")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an error (for developers and bug reports)")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print gridplan's version and exit")] = False,
) -> None:
    """Every command opens its input files with gridplan's allow-list of formats (gridplan.inputs.formats)."""
    from ..inputs.formats import allow_any_format as allow, restrict_gdal

    ctx.meta[_DEBUG] = debug
    if allow_any_format:
        allow()
    else:
        restrict_gdal()


@contextmanager
def exit_on_error(cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Turn a gridplan error into ``error: …`` (options named as on the command line) on stderr and exit code 2;
    ``cleanup()`` runs first on any exception (with ``--debug`` the error is raised as it is)."""
    try:
        yield
    except BaseException as exc:
        if cleanup is not None:
            cleanup()
        if not isinstance(exc, GridplanError) or debugging():
            raise
        raise _fail(exc) from None


def run(make: Callable[[], T], *, cleanup: Callable[[], object] | None = None) -> T:
    """``make()`` with its warnings echoed as ``warning: …`` on stderr, and gridplan errors as in :func:`exit_on_error`."""
    with exit_on_error(cleanup):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = make()
            finally:
                for w in caught:
                    typer.echo(f"warning: {cli_message(str(w.message), _running_names())}", err=True)
        return result
