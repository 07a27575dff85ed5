"""What users receive, written from a :class:`~gridplan.model.Plan` (these modules depend on the model,
never the model on them).

- :mod:`~gridplan.outputs.export`: the plan directory (what :meth:`~gridplan.model.Plan.write` writes) and
  :mod:`~gridplan.outputs.reader`, which reads it back;
- :mod:`~gridplan.outputs.deliver`: shapefiles, GeoPackage, FlatGeobuf and CSV tables, built from
  :mod:`~gridplan.outputs.tables` (code tables, 四至, rosters) and :mod:`~gridplan.outputs.rules` (the
  validation report);
- :mod:`~gridplan.outputs.review_map` (the offline HTML map), :mod:`~gridplan.outputs.maps` (folium, for
  notebooks) and :mod:`~gridplan.outputs.sheets` (printable sheets).
"""
__all__: list[str] = []
