"""gridplan: nested, balanced, street-bounded community / grid / micro-grid plans from buildings."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridplan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

import logging as _logging

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
