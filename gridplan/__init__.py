"""gridplan: nested, balanced, street-bounded community / grid / micro-grid plans from buildings.

The pipeline, one module per stage: :mod:`~gridplan.io` (read) → :mod:`~gridplan.validate` (check,
estimate households, reproject) → :mod:`~gridplan.tessellate` (blocks and building cells) →
:mod:`~gridplan.graph` (adjacency) → :mod:`~gridplan.partition` (communities, grids, micro-grids) →
:mod:`~gridplan.divide` (big buildings by entrance/floor) → :mod:`~gridplan.codes` →
:class:`~gridplan.model.Plan` → :mod:`~gridplan.export` / :mod:`~gridplan.maps`.
"""
import logging as _logging
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridplan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

from .config import PlanConfig, SizeRange  # noqa: E402
from .errors import GridplanError, InfeasibleError, InputError, OptionError, PlanWriteError  # noqa: E402
from .io import read_layer, read_osm  # noqa: E402
from .model import Plan  # noqa: E402
from .plan import plan  # noqa: E402
from .validate import prepare  # noqa: E402
from .reader import read_plan  # noqa: E402
from .osm import load_osm, fetch_osm  # noqa: E402
from .ledger import join_ledger  # noqa: E402
from .inspect import inspect_inputs  # noqa: E402
from .redistrict import redistrict  # noqa: E402
from .replan import replan  # noqa: E402
from .diff import diff  # noqa: E402
from .deliver import export_plan  # noqa: E402

__all__ = [
    "__version__", "plan", "Plan", "PlanConfig", "SizeRange", "prepare", "read_layer", "read_osm", "read_plan",
    "load_osm", "fetch_osm", "join_ledger", "inspect_inputs", "redistrict", "replan", "diff", "export_plan",
    "GridplanError", "InputError", "OptionError", "InfeasibleError", "PlanWriteError",
]
