"""Reading and checking the inputs: building footprints, barriers, communities, ledgers, compounds.

- :mod:`~gridplan.inputs.formats` (which file types are read, told by content) and :mod:`~gridplan.inputs.io`
  (reading them); :mod:`~gridplan.inputs.osm` (OpenStreetMap files and downloads);
- :mod:`~gridplan.inputs.validate`: every check in one place, then :func:`~gridplan.inputs.validate.prepare`;
- :mod:`~gridplan.inputs.households` (estimates), :mod:`~gridplan.inputs.ledger` (台账), :mod:`~gridplan.inputs.coords`
  (GCJ-02/BD-09), :mod:`~gridplan.inputs.barriers` (tiers), :mod:`~gridplan.inputs.compounds` (小区).
"""
__all__: list[str] = []
