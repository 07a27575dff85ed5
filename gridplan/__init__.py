"""gridplan: nested, balanced, street-bounded community / grid / micro-grid plans from buildings.

The folders are the pipeline, one module per stage:

- :mod:`gridplan.inputs`: read (:mod:`~gridplan.inputs.io`, :mod:`~gridplan.inputs.osm`) and check, estimate
  households, reproject (:mod:`~gridplan.inputs.validate`);
- :mod:`gridplan.core`: blocks and building cells (:mod:`~gridplan.core.tessellate`) → adjacency
  (:mod:`~gridplan.core.graph`) → communities, grids, micro-grids (:mod:`~gridplan.core.partition`) → big
  buildings by entrance/floor (:mod:`~gridplan.core.divide`) → codes (:mod:`~gridplan.core.codes`);
- :mod:`gridplan.planning`: the pipeline over the core (:func:`gridplan.plan`), re-districting, re-plans, diffs;
- :mod:`gridplan.outputs`: :class:`~gridplan.model.Plan` → the plan directory (:mod:`~gridplan.outputs.export`),
  deliverables and maps;
- :mod:`gridplan.cli` (the ``gridplan`` command) and :mod:`gridplan.sample` (the sample generator) on top.
"""
import logging as _logging

from ._version import __version__

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

from .config import PlanConfig, SizeRange  # noqa: E402
from .errors import GridplanError, InfeasibleError, InputError, OptionError, PlanWriteError  # noqa: E402
from .inputs.io import read_layer, read_osm  # noqa: E402
from .model import Plan  # noqa: E402
from .planning.plan import plan  # noqa: E402
from .inputs.validate import prepare  # noqa: E402
from .outputs.reader import read_plan  # noqa: E402
from .inputs.osm import load_osm, fetch_osm  # noqa: E402
from .inputs.ledger import join_ledger  # noqa: E402
from .planning.inspect import inspect_inputs  # noqa: E402
from .planning.redistrict import redistrict  # noqa: E402
from .planning.replan import replan  # noqa: E402
from .planning.diff import diff  # noqa: E402
from .outputs.deliver import export_plan  # noqa: E402

__all__ = [
    "__version__", "plan", "Plan", "PlanConfig", "SizeRange", "prepare", "read_layer", "read_osm", "read_plan",
    "load_osm", "fetch_osm", "join_ledger", "inspect_inputs", "redistrict", "replan", "diff", "export_plan",
    "GridplanError", "InputError", "OptionError", "InfeasibleError", "PlanWriteError",
]
