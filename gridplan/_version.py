"""``__version__``, from the installed distribution's metadata (one module, so that the modules using it
need not import the :mod:`gridplan` package that imports them)."""
from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("gridplan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
