"""The draft editing model: move, lock, undo/redo, figures and state round-trip on a small real plan."""
from __future__ import annotations

import pytest

from gridplan.planning.draft import Draft, DraftConflict, DraftError
from test_deliver import plan_dir


@pytest.fixture()
def draft():
    return Draft.open(plan_dir())


def _pair(d):
    """A building with households and another micro-grid of its grid."""
    b = d.buildings
    for gc, ms in b.groupby("grid_code")["micro_code"].unique().items():
        if len(ms) >= 2:
            row = b[(b.micro_code == ms[0]) & (b.households > 0)].iloc[0]
            return row[d.id_field], int(b.loc[b[d.id_field] == row[d.id_field], "households"].sum()), ms[0], ms[1]
    raise AssertionError("no grid with two micro-grids")


def _hh(d, codes):
    u = d.units("micro").set_index("code")
    return [int(u.loc[c, "households"]) for c in codes]


def test_move_changes_both_units_by_the_buildings_households(draft):
    bid, hh, src, dst = _pair(draft)
    before = _hh(draft, [src, dst])
    draft.move([bid], dst)
    assert _hh(draft, [src, dst]) == [before[0] - hh, before[1] + hh]
    assert draft.version == 1 and draft.units("micro").crs.to_epsg() == 4326


def test_undo_restores_identical_figures_and_redo_reapplies(draft):
    bid, _, _, dst = _pair(draft)
    f0 = draft.figures()
    draft.move([bid], dst)
    f1 = draft.figures()
    draft.undo()
    assert draft.figures() == f0 and draft.version == 2
    draft.redo()
    assert draft.figures() == f1 and draft.version == 3


def test_state_round_trip_gives_identical_units(draft):
    bid, _, _, dst = _pair(draft)
    draft.move([bid], dst)
    draft.lock([dst])
    again = Draft.from_state(plan_dir(), draft.to_state())
    for lv in ("community", "grid", "micro"):
        a, b = draft.units(lv), again.units(lv)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
        assert a.geometry.geom_equals_exact(b.geometry, 1e-9).all()
    assert again.version == draft.version and again.locked == {dst}


def test_locked_unit_never_changes(draft):
    bid, _, src, dst = _pair(draft)
    draft.lock([src])
    with pytest.raises(DraftConflict, match=f"{src} is locked"):
        draft.move([bid], dst)
    assert draft.units("micro").set_index("code").loc[src, "locked"]


def test_move_across_a_tier1_barrier_is_a_conflict(draft):
    b = draft.buildings
    micro = draft.units("micro")
    hit = None
    for bid, mc in zip(b[draft.id_field], b.micro_code):
        for code in micro.code:
            try:
                draft._check_move({"op": "move", "buildings": [bid], "to": code})
            except DraftConflict as e:
                if "barrier" in str(e):
                    hit = (bid, code)
                    break
        if hit:
            break
    assert hit is not None
    with pytest.raises(DraftConflict, match=f"building {hit[0]} is across tier-1 barrier"):
        draft.move([hit[0]], hit[1])
    assert draft.version == 0


def test_unknown_ids_and_codes_are_named(draft):
    with pytest.raises(DraftError, match="NOPE"):
        draft.move(["NOPE"], draft.units("micro").code.iloc[0])
    with pytest.raises(DraftError, match="'999'"):
        draft.move([draft.buildings[draft.id_field].iloc[0]], "999")
