"""The editing model behind the editor, the API and the CLI: a :class:`Draft` of a finished plan.

A draft opens a plan directory at version 0 and applies steps (``move``, ``lock``) that are kept as an
op log; ``undo``/``redo`` walk the log and every applied step (undo and redo too) bumps ``version``.
The state (:meth:`Draft.to_state`) is the op log, so :meth:`Draft.from_state` replays it exactly.

Units are edited on the plan's building roster: a unit holds the buildings whose code names it; its
outline is the plan's outline less the footprints moved out, plus the footprints moved in.

Not yet here (issue 15 goes on): ``rebalance``, ``split``, ``merge`` and ``save`` (a plan directory and a
change list), which need the edits on the plan's cells, as :mod:`gridplan.planning.replan` maps them, so
that outlines stay seamless; the editor page and the service's drafts build on this object.

Examples
--------
>>> import tempfile, gridplan
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> p = gridplan.plan(d.buildings, d.roads, seed=1, start_date="2026-01-01")
>>> dr = Draft.open(p.write(tempfile.mkdtemp() + "/plan", map_html=False))
>>> dr.version, dr.figures()["grid"]["units"]
(0, 10)
"""
from __future__ import annotations

import copy
from os import PathLike

import geopandas as gpd
import numpy as np
import shapely

from ..errors import GridplanError
from ..outputs.reader import read_plan

LEVELS = ("community", "grid", "micro")
_CODE_COL = {"community": "community_code", "grid": "grid_code", "micro": "micro_code"}
_PARENT = {"grid": "community", "micro": "grid"}


class DraftError(GridplanError):
    """A draft step names something the plan does not hold (an unknown building id or unit code)."""


class DraftConflict(DraftError):
    """A draft step would cross a tier-1 barrier, break nesting or change a locked unit."""


class Draft:
    """An editable copy of a plan; see the module docstring."""

    def __init__(self, plan, plan_dir: str | PathLike | None = None):
        self.plan = plan
        self.plan_dir = plan_dir
        self.id_field = plan.id_field
        self._b0 = plan.buildings.copy()
        self._layers0 = {lv: plan.layer(lv).copy() for lv in LEVELS}
        bar = plan.input_barriers.to_crs(plan.crs) if plan.input_barriers.crs is not None else plan.input_barriers
        tier1 = bar[bar["tier"] == 1] if "tier" in bar.columns else bar.iloc[0:0]
        self._barriers = [(str(n) if n is not None and n == n else str(k), g)
                          for n, k, g in zip(tier1.get("name", [None] * len(tier1)), tier1.get("kind", [""] * len(tier1)), tier1.geometry)]
        self._barrier_tree = shapely.STRtree([g for _, g in self._barriers])
        self._log: list[dict] = []  # applied ops (the state)
        self._redo: list[dict] = []
        self.version = 0
        self._rebuild()

    # ---- opening and state ---------------------------------------------------------------------
    @classmethod
    def open(cls, plan_dir: str | PathLike) -> Draft:
        """A draft of the plan in ``plan_dir`` at version 0."""
        return cls(read_plan(plan_dir), plan_dir)

    def to_state(self) -> dict:
        """The JSON-able state: the op log, the undone ops and the version."""
        return {"version": self.version, "ops": copy.deepcopy(self._log), "redo": copy.deepcopy(self._redo)}

    @classmethod
    def from_state(cls, plan_dir: str | PathLike, state: dict) -> Draft:
        """Replay ``state`` (from :meth:`to_state`) on the plan in ``plan_dir``."""
        if not isinstance(state, dict) or not isinstance(state.get("ops"), list):
            raise DraftError("a draft state is a dict with an 'ops' list; give what Draft.to_state() returned")
        d = cls.open(plan_dir)
        d._log = copy.deepcopy(state["ops"])
        d._redo = copy.deepcopy(state.get("redo", []))
        d._rebuild()
        d.version = int(state.get("version", len(d._log)))
        return d

    # ---- steps ---------------------------------------------------------------------------------
    def move(self, buildings: list[str], to: str) -> list[dict]:
        """Move ``buildings`` (ids) to the grid or micro-grid coded ``to``; returns the new warnings."""
        op = {"op": "move", "buildings": [str(b) for b in buildings], "to": str(to)}
        self._check_move(op)
        return self._apply(op)

    def lock(self, codes: list[str], locked: bool = True) -> None:
        """Lock (or unlock) units by code; locked units never change."""
        codes = [str(c) for c in codes]
        unknown = [c for c in codes if self._level_of(c) is None]
        if unknown:
            raise DraftError(f"unknown unit codes {unknown[:5]}; give codes from Draft.units(level)")
        self._apply({"op": "lock", "codes": codes, "locked": bool(locked)})

    def undo(self) -> None:
        """Undo the last applied step."""
        if not self._log:
            raise DraftError("nothing to undo: the draft is at the plan as opened")
        self._redo.append(self._log.pop())
        self._rebuild()
        self.version += 1

    def redo(self) -> None:
        """Redo the last undone step."""
        if not self._redo:
            raise DraftError("nothing to redo: no step was undone since the last edit")
        self._log.append(self._redo.pop())
        self._rebuild()
        self.version += 1

    def _apply(self, op: dict) -> list[dict]:
        before = {(w["level"], w["code"], w["kind"]) for w in self.warnings}
        self._log.append(op)
        self._redo = []
        self._rebuild()
        self.version += 1
        return [w for w in self.warnings if (w["level"], w["code"], w["kind"]) not in before]

    # ---- the model -----------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Recompute the roster and the units from the plan and the op log."""
        b = self._b0.copy()
        self.locked: set[str] = set()
        for op in self._log:
            if op["op"] == "move":
                self._do_move(b, op)
            elif op["op"] == "lock":
                (self.locked.update if op["locked"] else self.locked.difference_update)(op["codes"])
            else:
                raise DraftError(f"unknown op {op.get('op')!r} in the draft state; ops are 'move' and 'lock'")
        self.buildings = b
        self._units = {lv: self._unit_layer(lv) for lv in LEVELS}
        self.warnings = [
            {"level": lv, "code": c, "kind": "not_contiguous",
             "message": f"{lv} {c} is in {n} pieces; move buildings to join them or accept it"}
            for lv in LEVELS for c, n, ok in zip(self._units[lv]["code"], self._units[lv]["pieces"], self._units[lv]["contiguous"]) if not ok
        ]

    def _level_of(self, code: str) -> str | None:
        for lv in LEVELS:
            if (self._layers0[lv]["code"] == code).any():
                return lv
        return None

    def _parents(self, code: str, level: str) -> dict[str, str]:
        """Codes of ``code`` and of its parents, by level, in the draft (parent codes follow the opened plan)."""
        out = {level: code}
        lv = level
        while lv in _PARENT:
            layer = self._layers0[lv]
            code = str(layer.loc[layer["code"] == code, "parent_code"].iloc[0])
            lv = _PARENT[lv]
            out[lv] = code
        return out

    def _do_move(self, b, op: dict) -> None:
        level = self._level_of(op["to"])
        target = self._parents(op["to"], level)
        rows = b[self.id_field].isin(op["buildings"])
        for lv, code in target.items():
            b.loc[rows, _CODE_COL[lv]] = code

    def _check_move(self, op: dict) -> None:
        b = self.buildings
        ids = op["buildings"]
        if not ids:
            raise DraftError("move needs at least one building id")
        unknown = [i for i in ids if not (b[self.id_field] == i).any()]
        level = self._level_of(op["to"])
        if unknown or level is None or level == "community":
            what = [f"building ids {unknown[:5]}"] if unknown else []
            what += [] if level in ("grid", "micro") else [f"unit code {op['to']!r} (give a grid or micro-grid code)"]
            raise DraftError(f"unknown {' and '.join(what)}; give ids from Draft.buildings and codes from Draft.units(level)")
        target = self._parents(op["to"], level)
        moving = b[b[self.id_field].isin(ids)]
        for lv, code in target.items():  # locked units never change: neither source nor target
            for src in moving[_CODE_COL[lv]].unique():
                if src != code and (src in self.locked or code in self.locked):
                    name = src if src in self.locked else code
                    raise DraftConflict(f"{lv} {name} is locked; unlock it (Draft.lock([{name!r}], False)) before moving buildings {ids[:5]}")
        if level == "grid":  # a micro-grid must stay inside its grid: it moves whole or not at all
            for mc, grp in moving.groupby("micro_code"):
                if grp["grid_code"].iloc[0] == op["to"]:
                    continue
                members = set(b.loc[b["micro_code"] == mc, self.id_field])
                if not members <= set(ids):
                    rest = sorted(members - set(ids))[:3]
                    raise DraftConflict(f"moving building {grp[self.id_field].iloc[0]} to grid {op['to']} would leave micro-grid {mc} "
                                        f"in two grids (it also holds {rest}); move it to a micro-grid of grid {op['to']} instead")
        dest = self._units[level].set_index("code").geometry.get(op["to"])
        for bid, geom in zip(moving[self.id_field], moving.geometry):
            if dest is None or dest.is_empty:
                continue
            p = geom.representative_point()
            line = shapely.shortest_line(p, dest)
            for i in self._barrier_tree.query(line, predicate="crosses"):
                raise DraftConflict(f"building {bid} is across tier-1 barrier {self._barriers[int(i)][0]!r} from "
                                    f"{level} {op['to']}; move it to a unit on its side of the barrier")

    def _unit_layer(self, level: str) -> gpd.GeoDataFrame:
        layer = self._layers0[level]
        col = _CODE_COL[level]
        b0, b = self._b0, self.buildings
        changed = b0[col].to_numpy() != b[col].to_numpy()
        hh = b.groupby(col)["households"].sum()
        rng = {"community": self.plan.config.community, "grid": self.plan.config.grid, "micro": self.plan.config.micro}[level]
        geoms, households, pieces = [], [], []
        for code, geom in zip(layer["code"], layer.geometry):
            out_ = b0.geometry[changed & (b0[col].to_numpy() == code)]
            in_ = b.geometry[changed & (b[col].to_numpy() == code)]
            g = geom
            if len(out_):
                g = g.difference(shapely.union_all(out_.to_numpy()))
            if len(in_):
                g = g.union(shapely.union_all(in_.to_numpy()))
            g = shapely.make_valid(g)
            parts = [q for q in shapely.get_parts(g) if q.geom_type in ("Polygon", "MultiPolygon") and q.area > 0]
            geoms.append(g)
            pieces.append(len(parts))
            households.append(int(hh.get(code, 0)))
        households = np.array(households, dtype=int)
        name = layer["name"] if "name" in layer.columns else layer["code"]
        out = gpd.GeoDataFrame({
            "code": layer["code"].astype(str).to_numpy(), "name": np.asarray(name, dtype=object),
            "households": households, "in_range": (households >= rng.lo) & (households <= rng.hi),
            "locked": layer["code"].isin(self.locked).to_numpy(), "pieces": pieces,
            "contiguous": np.array(pieces) <= 1, "parent": layer["parent_code"].astype(str).to_numpy(),
        }, geometry=geoms, crs=layer.crs)
        return out

    # ---- views ---------------------------------------------------------------------------------
    def units(self, level: str) -> gpd.GeoDataFrame:
        """The units of ``level`` ('community', 'grid', 'micro') in EPSG:4326."""
        if level not in LEVELS:
            raise DraftError(f"unknown level {level!r}; give one of {list(LEVELS)}")
        u = self._units[level].drop(columns="pieces")
        return u.to_crs(4326) if u.crs is not None else u

    def figures(self) -> dict[str, dict]:
        """Per level: units, min/max/median households and how many units are out of range."""
        out = {}
        for lv in LEVELS:
            h = self._units[lv]["households"]
            out[lv] = {"units": int(len(h)), "min": int(h.min()), "max": int(h.max()), "median": float(np.median(h)),
                       "out_of_range": int((~self._units[lv]["in_range"]).sum())}
        return out
