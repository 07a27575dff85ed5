"""The pipeline over the core: plans, re-districting, re-plans and the change lists between plans.

- :mod:`~gridplan.planning.plan`: :func:`gridplan.plan`, the whole pipeline, inputs → plan;
- :mod:`~gridplan.planning.planner`: the cells and graph of one input, the per-level state and the level loop
  (:class:`Planner`, :class:`Level`), which re-districting and re-plans build on;
- :mod:`~gridplan.planning.assemble`: the three levels → the :class:`~gridplan.model.Plan`;
- :mod:`~gridplan.planning.split` and :mod:`~gridplan.planning.redistrict`: splitting oversized communities;
- :mod:`~gridplan.planning.replan`: minimal-change re-plans after the buildings change;
- :mod:`~gridplan.planning.diff` and :mod:`~gridplan.planning.stable_codes`: change lists and codes that last;
- :mod:`~gridplan.planning.inspect`: what the planner will see in an input, before planning it.

The package exports the planner's interface; the functions are re-exported by :mod:`gridplan` itself
(``gridplan.plan``, ``gridplan.redistrict``, ``gridplan.replan``, ``gridplan.diff``), so that
``gridplan.planning.plan`` and the others stay the modules.
"""
from .planner import Level, Planner, components, rng_for

__all__ = ["Level", "Planner", "components", "rng_for"]
