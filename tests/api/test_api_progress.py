"""Progress of a running plan: named stages with weights, a fraction that never goes back."""
from __future__ import annotations

import time

import pytest

from api import models as m
from api.progress import STAGES, WEIGHTS, Tracker, progress_of

from servicekit import WAIT_S, check, district_files, upload


@pytest.mark.parametrize("kind", sorted(WEIGHTS))
def test_weights_are_shares(kind):
    assert abs(sum(w for _, w in WEIGHTS[kind]) - 1) < 1e-9 and all(w > 0 for _, w in WEIGHTS[kind])


def test_tracker_follows_the_library_calls_forward_only():
    """The calls `gridplan.plan` makes (totals first), then the service's writing stage."""
    t = Tracker("plan")
    seen = []

    def note():
        seen.append(progress_of("plan", t.stage, t.steps, t.total_steps))

    note()
    t.total("cells", 3)
    for _ in range(3):
        t("cells", 1)
        note()
    t.total("grids", 2)
    note()
    t("grids", 1)
    note()
    t("cells", 1)  # late news of an earlier stage changes nothing
    note()
    t("grids", 1)
    t.total("micro-grids", 4)
    for _ in range(4):
        t("micro-grids", 1)
        note()
    t.begin("writing")
    note()
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0 and fractions[-1] < 1
    assert [p.stage for p in seen][3:5] == ["communities", "grids"]  # after the last block: graph and communities
    assert seen[5].stage == "grids" and seen[5].steps == 1 and seen[5].total == 2
    assert seen[-2].stage == "assembling" and seen[-1].stage == "writing"
    last = seen[-1]
    assert [s.status for s in last.stages] == ["done"] * (len(STAGES["plan"]) - 1) + ["running"]
    assert last.fraction == pytest.approx(1 - WEIGHTS["plan"][-1][1])


@pytest.fixture(scope="module")
def large_dataset(client, tmp_path_factory) -> m.Dataset:
    files = district_files(tmp_path_factory.mktemp("progress"), households=20_000, communities=1)
    return upload(client, {"buildings": files["buildings"], "barriers": files["barriers"]})


def test_polled_progress_moves_forward_to_done(client, large_dataset):
    accepted = check(client.post("/v1/plans", json={"dataset_id": large_dataset.id, "seed": 3}), 202, m.PlanAccepted)
    seen: list[m.Progress] = []
    end = time.monotonic() + WAIT_S * 2
    while True:
        plan = check(client.get(f"/v1/plans/{accepted.id}"), 200, m.Plan)
        if plan.status == "running":
            assert plan.progress is not None
            seen.append(plan.progress)
        if plan.status in ("done", "failed") or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert plan.status == "done", plan.reason
    assert plan.progress is None  # done: the work is all done, there is no progress to show
    fractions = [p.fraction for p in seen]
    assert fractions and all(0 <= f <= 1 for f in fractions) and fractions == sorted(fractions)
    names = STAGES["plan"]
    for p in seen:  # the stage list agrees with the stage
        i = names.index(p.stage)
        assert [s.name for s in p.stages] == list(names)
        assert [s.status for s in p.stages] == ["done"] * i + ["running"] + ["pending"] * (len(names) - i - 1)
        assert p.total is None or 0 <= p.steps <= p.total
    stages = list(dict.fromkeys(p.stage for p in seen))
    assert stages == [s for s in names if s in stages] and len(stages) >= 4, stages
    inside = [p for p in seen if p.total and 0 < p.steps < p.total]
    assert inside, "no poll saw a counted stage part-way"  # the fraction moves within a stage, not only between
