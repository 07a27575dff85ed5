"""The command line's progress bar: one rich bar per stage, on stderr, with its total and a time estimate
when the total is known.

The library reports progress through a callable ``progress(stage, n)`` (``n`` steps of ``stage`` done);
a library that knows how many steps a stage has calls ``progress.total(stage, n)`` first, and the bar
then shows ``done/total`` and the time remaining (without it: ``done/?`` and the time elapsed).

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> bar = Progress(True, file=out)
>>> bar.total("grids", 4)
>>> for _ in range(4):
...     bar("grids", 1)
>>> bar.close()
>>> "grids" in out.getvalue() and "4/4" in out.getvalue()
True
>>> Progress(None, file=io.StringIO()).enabled  # default: only on a terminal
False
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["Progress"]


class Progress:
    """A bar per stage on ``file`` (default stderr): shown when ``enabled`` is True, or when it is None and
    ``file`` is a terminal; a no-op when False."""

    def __init__(self, enabled: bool | None, *, file: IO[str] | None = None):
        from rich.console import Console

        self._console = Console(file=file if file is not None else sys.stderr, stderr=file is None,
                                force_terminal=None, highlight=False)
        self.enabled = bool(enabled) if enabled is not None else self._console.is_terminal
        self._bar = None
        self._tasks: dict[str, int] = {}

    def _task(self, stage: str) -> int:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        if self._bar is None:
            self._bar = RichProgress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                     console=self._console, transient=False)
            self._bar.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=None)
        return self._tasks[stage]

    def total(self, stage: str, n: int) -> None:
        """Declare that ``stage`` has ``n`` steps (the bar then shows a fraction and the time remaining)."""
        if self.enabled:
            self._bar_update(stage, total=int(n))

    def __call__(self, stage: str, n: int) -> None:
        """``n`` more steps of ``stage`` are done."""
        if self.enabled:
            self._bar_update(stage, advance=int(n))

    def _bar_update(self, stage: str, **kw) -> None:
        task = self._task(stage)
        self._bar.update(task, **kw)

    @contextmanager
    def step(self, stage: str) -> Iterator[None]:
        """A stage of one step (reading a plan, writing files): shown while it runs, done when it ends."""
        self.total(stage, 1)
        yield
        self(stage, 1)

    def close(self) -> None:
        """Stop the bars (printing their final state once when ``file`` is not a terminal)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
