"""Where the service keeps its files under ``data_dir``, and how paths are kept out of what it says.

Layout::

    data_dir/
      gridplan.db                      the SQLite database (unless GRIDPLAN_DATABASE_URL is set)
      datasets/<id>/<role>.<format>    uploads as received (role: buildings, barriers, communities)
      plans/<id>/plan/                 the plan directory (README, "The plan directory")

Examples
--------
>>> from pathlib import Path
>>> scrub("buildings file /srv/data/datasets/ab12/buildings.zip: not a zip", Path("/srv/data"))
'buildings file buildings.zip: not a zip'
>>> scrub("cannot read /vsizip//srv/data/datasets/ab/buildings.zip/roads.shp", Path("/srv/data"))
'cannot read roads.shp'
>>> scrub("bad file '/tmp/gridplan-read-x1/b.osm' (GCJ-02/BD-09, 100 m²/household)", Path("/srv/data"))
"bad file 'b.osm' (GCJ-02/BD-09, 100 m²/household)"
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path

__all__ = ["Layout", "new_id", "scrub"]

_ID = re.compile(r"^[0-9a-f]{32}$")
_ABSOLUTE = re.compile(r"(?<![\w/])(?:/vsi\w+/)?(?:/[\w.\-]+){2,}/?")


def new_id() -> str:
    """A fresh random id (32 hex digits)."""
    return uuid.uuid4().hex


def is_id(text: str) -> bool:
    """Whether ``text`` looks like an id made by :func:`new_id` (so it can name a directory)."""
    return bool(_ID.match(text))


def scrub(text: str, root: Path, names: dict[str, str] | None = None) -> str:
    """``text`` with every path under ``root`` replaced by its last part (or by ``names[path]``)."""
    for path, name in (names or {}).items():
        text = text.replace(path, name)
    roots = {str(root), str(root.expanduser().absolute()), str(root.expanduser().resolve())}
    for r in sorted(roots, key=len, reverse=True):
        pattern = r"(?:/vsizip/)?" + re.escape(r) + r"[^\s'\",:;()\[\]]*"
        text = re.sub(pattern, _last_part, text)
    return _ABSOLUTE.sub(_last_part, text)  # any other absolute path (temporary files): its last part only


def _last_part(m: re.Match) -> str:
    return m.group(0).rstrip("/").rsplit("/", 1)[-1]


class Layout:
    """Paths of the datasets and plans under ``data_dir``."""

    def __init__(self, data_dir: Path):
        self.root = Path(data_dir).expanduser().absolute()
        self.datasets = self.root / "datasets"
        self.plans = self.root / "plans"

    def create(self) -> None:
        for d in (self.root, self.datasets, self.plans):
            d.mkdir(parents=True, exist_ok=True)

    def dataset(self, dataset_id: str) -> Path:
        return self.datasets / dataset_id

    def plan_root(self, plan_id: str) -> Path:
        return self.plans / plan_id

    def plan_dir(self, plan_id: str) -> Path:
        """The plan directory itself (written all at once by :meth:`gridplan.Plan.write`)."""
        return self.plans / plan_id / "plan"
