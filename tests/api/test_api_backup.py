"""Back up the data directory of a running service, restore it into a new one, and serve it: the plan, its
dataset and its units read back identical and a new plan runs. An object deleted while the backup is taken is
left out of it whole (record and files); ``gridplan backup`` / ``restore`` refuse what they cannot do safely;
with PostgreSQL (skipped without it), pg_dump and the files restore together.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import httpx
import pytest
from servicekit import check, make_client, start_server, upload, wait_for, wait_healthy
from test_api_postgres import _bin, postgres_url  # noqa: F401 (a fixture)
from test_api_server import stop_server
from typer.testing import CliRunner

import gridplan.cli.backup as backup_mod
from api import models as m
from gridplan.cli import app
from gridplan.cli.backup import MANIFEST, backup_data, restore_data

LEVELS = ("communities", "grids", "micro_grids")


def read_all(get, plan_id: str, dataset_id: str) -> dict:
    """What the service says of a plan and its dataset: the records and every level's GeoJSON."""
    out = {"plan": get(f"/v1/plans/{plan_id}").json(), "dataset": get(f"/v1/datasets/{dataset_id}").json()}
    for level in LEVELS:
        resp = get(f"/v1/plans/{plan_id}/{level}")
        assert resp.status_code == 200, resp.text[:500]
        out[level] = resp.content
    return out


@pytest.fixture(scope="module")
def restored(client, dataset, done_plan, data_dir, tmp_path_factory):
    """A backup of the running session service, restored into a new directory: (backup dir, new data dir)."""
    root = tmp_path_factory.mktemp("backup")
    manifest = backup_data(data_dir, root / "backup")  # the service (client) is running
    assert manifest["dropped"] == {"datasets": [], "plans": []}
    restore_data(root / "backup", root / "data")
    return root


def test_restored_service_serves_the_same_plan_and_plans_anew(client, dataset, done_plan, restored):
    before = read_all(client.get, done_plan.id, dataset.id)
    proc, base = start_server(restored)  # on restored / "data"
    try:
        wait_healthy(proc, base)
        # the tokens came with the backup: the session client's admin token works on the restored service
        with httpx.Client(base_url=base, timeout=60, headers={"Authorization": client.headers["Authorization"]}) as c:
            after = read_all(c.get, done_plan.id, dataset.id)
            assert after == before
            assert json.loads(after["grids"])["features"]  # not two empty answers
            check(c.get(f"/v1/plans/{done_plan.id}/export", params={"format": "gpkg"}), 200)
            accepted = check(c.post("/v1/plans", json={"dataset_id": dataset.id, "seed": 2}), 202, m.PlanAccepted)
            plan = wait_for(c, accepted.id)
            assert plan.status == "done", plan.reason
            assert plan.figures.buildings == done_plan.figures.buildings and plan.figures.levels
    finally:
        stop_server(proc)


def test_backup_is_one_self_contained_sqlite_file_and_a_manifest(restored, done_plan, dataset):
    manifest = json.loads((restored / "backup" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["database"] == "sqlite" and manifest["datasets"] >= 1 and manifest["plans_done"] >= 1
    assert not (restored / "backup" / "gridplan.db-wal").exists()
    with sqlite3.connect(restored / "backup" / "gridplan.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT status FROM plans WHERE id = ?", (done_plan.id,)).fetchone() == ("done",)
    assert (restored / "backup" / "plans" / done_plan.id / "plan" / "report.json").is_file()
    assert [p.name for p in (restored / "backup").iterdir() if p.name.startswith(".")] == []
    assert not [p for p in restored.iterdir() if ".partial-" in p.name]


def test_objects_deleted_while_the_backup_runs_are_left_out(client, sample_files, dataset, done_plan, data_dir,
                                                            tmp_path, monkeypatch):
    """A dataset and a plan deleted through the API after the database snapshot, just before their files are
    copied: neither their record nor any of their files is in the backup; the rest is."""
    victim_ds = upload(client, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
    accepted = check(client.post("/v1/plans", json={"dataset_id": dataset.id, "seed": 3}), 202, m.PlanAccepted)
    assert wait_for(client, accepted.id).status == "done"
    victims = {victim_ds.id: f"/v1/datasets/{victim_ds.id}", accepted.id: f"/v1/plans/{accepted.id}"}
    copy = backup_mod._copy_tree

    def delete_then_copy(src, dst):
        if src.name in victims:
            check(client.delete(victims.pop(src.name)), 204)
        copy(src, dst)

    monkeypatch.setattr(backup_mod, "_copy_tree", delete_then_copy)
    manifest = backup_data(data_dir, tmp_path / "b")
    assert victims == {}  # both were deleted mid-backup
    assert manifest["dropped"] == {"datasets": [victim_ds.id], "plans": [accepted.id]}
    with sqlite3.connect(tmp_path / "b" / "gridplan.db") as db:
        assert db.execute("SELECT count(*) FROM datasets WHERE id = ?", (victim_ds.id,)).fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM plans WHERE id = ?", (accepted.id,)).fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM plans WHERE id = ?", (done_plan.id,)).fetchone() == (1,)
    assert not (tmp_path / "b" / "datasets" / victim_ds.id).exists()
    assert not (tmp_path / "b" / "plans" / accepted.id).exists()
    assert (tmp_path / "b" / "plans" / done_plan.id / "plan" / "report.json").is_file()


def test_restore_refuses_a_damaged_backup_and_leaves_nothing(restored, done_plan, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(restored / "backup", damaged)
    (damaged / "plans" / done_plan.id / "plan" / "report.json").unlink()
    result = CliRunner().invoke(app, ["restore", str(damaged), str(tmp_path / "new")])
    assert result.exit_code == 2
    assert "damaged" in result.output and done_plan.id in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged"]  # no new (or hidden partial) directory


def test_cli_backup_and_restore(restored, data_dir, tmp_path):
    result = CliRunner().invoke(app, ["backup", str(tmp_path / "b"), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "backup in" in result.output and "done plans" in result.output
    again = CliRunner().invoke(app, ["backup", str(tmp_path / "b"), "--data-dir", str(data_dir)])
    assert again.exit_code == 2 and "not empty; name a new directory" in again.output
    nothing = CliRunner().invoke(app, ["backup", str(tmp_path / "c"), "--data-dir", str(tmp_path)])
    assert nothing.exit_code == 2 and "GRIDPLAN_DATA_DIR" in nothing.output
    into_used = CliRunner().invoke(app, ["restore", str(tmp_path / "b"), str(data_dir)])
    assert into_used.exit_code == 2 and "not empty" in into_used.output
    not_backup = CliRunner().invoke(app, ["restore", str(data_dir), str(tmp_path / "d")])
    assert not_backup.exit_code == 2 and "not a gridplan backup" in not_backup.output
    ok = CliRunner().invoke(app, ["restore", str(tmp_path / "b"), str(tmp_path / "d")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "d" / "gridplan.db").is_file() and (tmp_path / "d" / "plans").is_dir()


def test_postgresql_dump_files_and_restore(postgres_url, tmp_path, sample_files):
    """PostgreSQL: pg_dump, then ``gridplan backup`` of the files; a plan deleted in between is in the dump but not
    in the files, and restore deletes its record; the restored pair serves the other plan as before."""
    from sqlalchemy import create_engine, text

    pg_dump, pg_restore = _bin("pg_dump"), _bin("pg_restore")
    if not (pg_dump and pg_restore):
        pytest.skip("pg_dump/pg_restore not found; on Debian: apt-get install postgresql-client")
    libpq = postgres_url.replace("+psycopg", "")
    data = tmp_path / "data"
    with make_client(data, database_url=postgres_url) as c:
        ds = upload(c, {"buildings": sample_files["buildings"], "barriers": sample_files["barriers"]})
        kept, gone = (wait_for(c, check(c.post("/v1/plans", json={"dataset_id": ds.id, "seed": seed}), 202,
                                        m.PlanAccepted).id) for seed in (1, 2))
        assert kept.status == gone.status == "done"
        subprocess.run([pg_dump, "--format=custom", f"--file={tmp_path / 'db.dump'}", libpq], check=True, timeout=120)
        check(c.delete(f"/v1/plans/{gone.id}"), 204)  # after the dump, before the files are copied
        manifest = backup_data(data, tmp_path / "b", database_url=postgres_url)
        assert manifest["database"] == "postgresql" and not (tmp_path / "b" / "gridplan.db").exists()
        before = read_all(c.get, kept.id, ds.id)
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE restored"))
    engine.dispose()
    restored_url = postgres_url.rsplit("/", 1)[0] + "/restored"
    subprocess.run([pg_restore, "--no-owner", f"--dbname={libpq.rsplit('/', 1)[0]}/restored", str(tmp_path / "db.dump")],
                   check=True, timeout=120)
    done = restore_data(tmp_path / "b", tmp_path / "new", database_url=restored_url)
    assert done["deleted"] == {"datasets": [], "plans": [gone.id]} and done["plans_done"] == 1
    with make_client(tmp_path / "new", database_url=restored_url) as c:
        assert read_all(c.get, kept.id, ds.id) == before
        check(c.get(f"/v1/plans/{gone.id}"), 404)
