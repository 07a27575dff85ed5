"""The ``gridplan`` command line: one module per group of commands, each registering on the one
:data:`app` of :mod:`gridplan.cli.base`.

- :mod:`~gridplan.cli.plan`: ``plan``, ``demo``;
- :mod:`~gridplan.cli.serve`: ``serve``;
- :mod:`~gridplan.cli.token`: ``token create|list|revoke`` (the service's access tokens);
- :mod:`~gridplan.cli.deliver`: ``export``, ``map``, ``sheets``;
- :mod:`~gridplan.cli.redistrict`: ``redistrict``, ``replan``, ``diff``;
- :mod:`~gridplan.cli.inputs`: ``inspect``, and the input options every command reading buildings shares;
- :mod:`~gridplan.cli.options`, :mod:`~gridplan.cli.progress`: the other shared options, the progress bar.

:mod:`~gridplan.cli.base` holds the app: ``--version``, ``--debug``, and one ``error:`` line for every exception.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["--help"])
>>> result.exit_code, "redistrict" in result.output
(0, True)
"""
import logging

from .base import app

# Each group registers its commands on `app` when imported; the order is the order of `gridplan --help`.
from . import plan  # noqa: E402,F401
from . import serve  # noqa: E402,F401
from . import token  # noqa: E402,F401
from . import backup  # noqa: E402,F401
from . import deliver  # noqa: E402,F401
from . import redistrict  # noqa: E402,F401
from . import inputs  # noqa: E402,F401

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    logging.basicConfig(level=logging.WARNING)
    app()
