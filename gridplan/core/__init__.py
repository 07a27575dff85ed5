"""The planning core and its geometry: cells, their graph, the partitioner, and what it needs.

:mod:`~gridplan.core.tessellate` (blocks and building cells) → :mod:`~gridplan.core.graph` (the adjacency
graph of the cells) → :mod:`~gridplan.core.partition` (a plain graph of units into balanced, contiguous
parts; it never sees a GeoDataFrame) → :mod:`~gridplan.core.divide` (buildings bigger than a micro-grid, by
entrance and floor) → :mod:`~gridplan.core.units` (unit polygons), :mod:`~gridplan.core.codes` (codes in
reading order) and :mod:`~gridplan.core.metrics` (figures per level).
"""
__all__: list[str] = []
