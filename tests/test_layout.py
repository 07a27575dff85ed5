"""The package layout: no import cycles (between modules, or between the folders of ``gridplan/``), no
private names imported across modules, no name that shadows its own module, imports that name modules
of this tree, and a model that does not depend on its writers.

The import graph is read from the source with :mod:`ast`: every ``import`` counts, also those inside a
function or under ``TYPE_CHECKING`` (a deferred import is still a dependency; deferring it only hides a
cycle until it bites).
"""
from __future__ import annotations

import ast
import re
import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gridplan", "api")

#: Private names still imported across modules (none: a new one is a public name to make, or a module to move).
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def _modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file under ``packages`` (a package by its ``__init__``)."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules(ROOT, PACKAGES)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str, int]]:
    """``(target module, imported name or '', line)`` for each import of a module of ``modules`` by ``name``."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else [])) if node.level else node.module
            if base.split(".")[0] not in PACKAGES:
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub, "", node.lineno) if sub in modules else (base, a.name, node.lineno))
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules of ``modules`` it imports."""
    return {m: {t for t, _, _ in _imports(m, p, modules) if t in modules and t != m} for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None.

    Examples
    --------
    >>> find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    ['a', 'b', 'c', 'a']
    >>> find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    True
    """
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def folder_of(module: str) -> str:
    """The folder a module belongs to: ``gridplan.<sub>`` for a subpackage's modules, ``api`` for the
    service, else the module itself (``gridplan``, ``gridplan.model``, ...).

    Examples
    --------
    >>> folder_of("gridplan.planning.plan"), folder_of("gridplan.model"), folder_of("api.app")
    ('gridplan.planning', 'gridplan.model', 'api')
    """
    parts = module.split(".")
    if parts[0] == "api":
        return "api"
    if len(parts) > 1 and (ROOT / parts[0] / parts[1] / "__init__.py").exists():
        return ".".join(parts[:2])
    return module


def test_no_import_cycle_between_modules():
    cycle = find_cycle(import_graph(MODULES))
    assert cycle is None, f"import cycle: {' → '.join(cycle)}; move what both need into a module that imports neither"


def test_no_import_cycle_between_folders():
    graph: dict[str, set[str]] = {}
    for m, targets in import_graph(MODULES).items():
        graph.setdefault(folder_of(m), set()).update(folder_of(t) for t in targets if folder_of(t) != folder_of(m))
    cycle = find_cycle(graph)
    assert cycle is None, f"the folders import each other: {' → '.join(cycle)}; data flows one way (README, Layout)"


def test_the_graph_sees_deferred_imports():
    """A function-level import is an edge (``Plan.write`` once hid a cycle that way)."""
    graph = import_graph(MODULES)
    assert "gridplan.outputs.reader" in graph["gridplan.cli.deliver"]  # imported inside a command
    assert "gridplan.planning.planner" in graph["gridplan.planning.plan"]


def test_no_private_name_is_imported_across_modules():
    found = set()
    for m, path in MODULES.items():
        for target, name, _ in _imports(m, path, MODULES):
            private_name = name.startswith("_") and not name.startswith("__")
            home = target.rsplit(".", 1)[0]  # a private module is for its own package
            private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[1:]) and not (m == home or m.startswith(home + "."))
            if private_name or private_module:
                found.add((m, target, name))
    assert found == KNOWN_PRIVATE_IMPORTS, (
        f"new: {sorted(found - KNOWN_PRIVATE_IMPORTS)}; fixed (drop from KNOWN_PRIVATE_IMPORTS): {sorted(KNOWN_PRIVATE_IMPORTS - found)}; "
        "give what other modules need a public, documented name"
    )


@pytest.mark.parametrize("folder", ["gridplan", "api", "tests", "benchmarks", "sample_geo"])
def test_every_import_names_a_module_of_this_tree(folder):
    """``from gridplan.x import y`` must find ``gridplan/x.py`` here: an old path would otherwise be found
    by an editable install of another checkout and import its stale module."""
    files = _modules(ROOT, [folder]) if folder in PACKAGES else {p.stem: p for p in sorted((ROOT / folder).rglob("*.py"))}
    missing = [f"{p.relative_to(ROOT)}:{line}: {target}" for m, p in files.items() for target, _, line in _imports(m, p, MODULES)
               if target not in MODULES]
    assert not missing, f"imports of modules that are not in this tree: {missing[:10]}; use the new paths (README, Layout)"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_no_name_shadows_its_module(module):
    """``import gridplan.planning.diff as d`` gives the module, not a function of the same name."""
    importlib.import_module("gridplan")
    mod = importlib.import_module(module)
    if "." in module:
        parent, _, last = module.rpartition(".")
        assert getattr(sys.modules[parent], last) is mod, f"{parent}.{last} is {getattr(sys.modules[parent], last)!r}, not the module"


def test_public_api_is_kept():
    import gridplan
    from gridplan.planning.diff import diff
    from gridplan.planning.plan import plan

    assert gridplan.plan is plan and gridplan.diff is diff
    assert all(hasattr(gridplan, name) for name in gridplan.__all__)
    assert set(gridplan.__all__) == {
        "__version__", "plan", "Plan", "PlanConfig", "SizeRange", "prepare", "read_layer", "read_osm", "read_plan",
        "load_osm", "fetch_osm", "join_ledger", "inspect_inputs", "redistrict", "replan", "diff", "export_plan",
        "GridplanError", "InputError", "OptionError", "InfeasibleError", "PlanWriteError",
    }


def test_the_model_does_not_import_its_writers(monkeypatch, tmp_path):
    from gridplan import model
    from gridplan.errors import PlanWriteError
    from gridplan.outputs.export import write_plan

    assert not {t for t in import_graph(MODULES)["gridplan.model"] if folder_of(t) != "gridplan.model" and t.startswith("gridplan.outputs")}
    assert model._writer is write_plan  # registered by gridplan.outputs.export, which `import gridplan` imports
    monkeypatch.setattr(model, "_writer", None)
    plan = model.Plan(*[None] * 7)
    with pytest.raises(PlanWriteError, match="no plan writer is registered; `import gridplan`"):
        plan.write(tmp_path / "p")


def _doc_imports(text: str) -> list[str]:
    """Modules imported by the examples in ``text`` (``>>> from gridplan.x import y``, notebook cells)."""
    return re.findall(r"(?:>>>|\.\.\.|\")\s*(?:from|import)\s+((?:gridplan|api)\.[\w.]+)", text)


@pytest.mark.parametrize("pattern", ["gridplan/**/*.py", "api/**/*.py", "notebooks/*.ipynb"])
def test_examples_import_modules_of_this_tree(pattern):
    missing = [f"{p.relative_to(ROOT)}: {m}" for p in sorted(ROOT.glob(pattern)) for m in _doc_imports(p.read_text(encoding="utf-8"))
               if m not in MODULES]
    assert not missing, f"examples import modules that are not in this tree: {missing[:10]}; use the new paths"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in MODULES:
            obj = importlib.import_module(".".join(parts[:i]))
            for attr in parts[i:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    return False


def test_names_in_the_docs_exist():
    """Every ``gridplan.…`` name the README and docs/ give in backticks is a module or an attribute of one."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md", ROOT / "sample_geo" / "README.md"]
    names = {(p.name, n.rstrip(".")) for p in docs for n in re.findall(r"`[^`\n]*?\b((?:gridplan|api)\.[A-Za-z_][\w.]*)", p.read_text(encoding="utf-8"))}
    stale = sorted(f"{doc}: {n}" for doc, n in names if not n.endswith((".gpkg", ".db")) and not _resolves(n))
    assert not stale, f"the docs name what does not exist: {stale[:10]}"
