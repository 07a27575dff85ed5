"""``gridplan backup`` and ``gridplan restore``: a consistent copy of the service's data directory, taken while
the service runs, and a new data directory made from one.

What a consistent copy needs follows from how the service writes (:mod:`api.routers`, :mod:`api.jobs`): it
writes an object's files before its record (an upload is renamed into ``datasets/<id>/`` before its row is
committed; a plan's directory is renamed into place before its status becomes ``done``), never changes them
afterwards, and deletes the record before the files. So at any instant, every record has its files.

- **The database first**, with SQLite's online backup API (one consistent snapshot, taken while the service
  writes), **then the files of the records in that snapshot**. Files first would copy too little: an object
  created between the two steps would have its record in the copy but not its files.
- The one race left is an object deleted after the snapshot: its files are gone (or half gone) when they are
  copied. Each object's files are checked once copied (every uploaded file, with its size; a done plan's
  ``report.json``); an object whose files are incomplete was deleted from the service meanwhile, and is
  deleted from the copy too (listed in ``BACKUP.json`` as ``dropped``).
- Plans queued in the snapshot run when the restored service starts; plans running in it are marked failed
  ("interrupted by a restart") as after any restart.
- The backup is written to a hidden sibling directory and renamed into place when complete: an interrupted
  backup leaves no directory that looks like one. ``restore`` copies a backup into a new, empty data directory
  (again through a hidden sibling), after checking it the same way.

With PostgreSQL (``GRIDPLAN_DATABASE_URL``), the database is backed up with ``pg_dump`` first, then
``gridplan backup`` copies the files of the records the database holds when it runs (a superset of the
dump's); ``gridplan restore`` after ``pg_restore`` deletes the restored records whose files are missing (the
objects deleted between the dump and the copy). See ``docs/service.md``, "Back up and restore".

Examples
--------
>>> from typer.testing import CliRunner
>>> from gridplan.cli import app
>>> result = CliRunner().invoke(app, ["backup", "--help"])
>>> result.exit_code, "--data-dir" in result.output
(0, True)
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import OptionError
from .base import app, run

__all__ = ["backup_data", "restore_data", "MANIFEST"]

MANIFEST = "BACKUP.json"
DB_NAME = "gridplan.db"

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="GRIDPLAN_DATA_DIR",
                                       help="the service's data directory (GRIDPLAN_DATA_DIR)")]


def _database_url(data_dir: Path, database_url: str | None) -> str:
    from api.settings import Settings

    return Settings(data_dir=data_dir, database_url=database_url).database_url_or_default()


def _records(url: str) -> tuple[dict[str, dict], list[str]]:
    """Dataset id -> files (role -> {stored, bytes, ...}), and the ids of the done plans, as the database says."""
    from sqlalchemy import select

    from api.db import DatasetRecord, PlanRecord, make_engine, session_factory

    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            datasets = {r.id: r.files for r in s.scalars(select(DatasetRecord))}
            plans = list(s.scalars(select(PlanRecord.id).where(PlanRecord.status == "done")))
    finally:
        engine.dispose()
    return datasets, sorted(plans)


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)


def _complete_dataset(directory: Path, files: dict[str, dict]) -> bool:
    return all((directory / f["stored"]).is_file() and (directory / f["stored"]).stat().st_size == f["bytes"]
               for f in files.values())


def _complete_plan(directory: Path) -> bool:
    return (directory / "plan" / "report.json").is_file()


def _copy_objects(src: Path, dst: Path, datasets: dict[str, dict], plans: list[str]) -> dict[str, list[str]]:
    """Copy the directory of each dataset and done plan from ``src`` to ``dst``; the ids whose copy is incomplete
    (deleted meanwhile) are left out and returned."""
    dropped: dict[str, list[str]] = {"datasets": [], "plans": []}
    jobs = [("datasets", i, lambda d, i=i: _complete_dataset(d, datasets[i])) for i in sorted(datasets)]
    jobs += [("plans", i, _complete_plan) for i in plans]
    for kind, object_id, complete in jobs:
        source, target = src / kind / object_id, dst / kind / object_id
        try:
            _copy_tree(source, target)
        except (FileNotFoundError, shutil.Error):
            pass  # deleted while being copied: checked below
        if not complete(target):
            shutil.rmtree(target, ignore_errors=True)
            dropped[kind].append(object_id)
    return dropped


def _delete_records(url: str, dropped: dict[str, list[str]]) -> None:
    from sqlalchemy import delete

    from api.db import DatasetRecord, PlanRecord, make_engine, session_factory

    if not (dropped["datasets"] or dropped["plans"]):
        return
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            s.execute(delete(DatasetRecord).where(DatasetRecord.id.in_(dropped["datasets"])))
            s.execute(delete(PlanRecord).where(PlanRecord.id.in_(dropped["plans"])))
            s.commit()
    finally:
        engine.dispose()


def _snapshot_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup of ``source`` into ``target``, in one step (one read transaction: one instant)."""
    src = sqlite3.connect(source, timeout=30)  # it only reads
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file (the service turns WAL on again)
    finally:
        dst.close()
        src.close()


def _staging(final: Path) -> Path:
    final = final.expanduser().absolute()
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise OptionError(f"{final} exists and is not empty; name a new directory")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _publish(tmp: Path, final: Path) -> None:
    final = final.expanduser().absolute()
    if final.exists():
        final.rmdir()  # empty, checked by _staging
    tmp.rename(final)


def backup_data(data_dir: Path, dest: Path, database_url: str | None = None) -> dict[str, Any]:
    """Back up the service's data in ``data_dir`` into the new directory ``dest``; return the manifest.

    With SQLite (no ``database_url``), ``dest`` holds the database too and is a whole data directory; with
    another database only the files are copied (back the database up first, with its own tool)."""
    data_dir = Path(data_dir).expanduser().absolute()
    url = _database_url(data_dir, database_url)
    sqlite = url.startswith("sqlite")
    db = data_dir / DB_NAME
    if sqlite and not db.is_file():
        raise OptionError(f"{data_dir} holds no {DB_NAME}: is it the service's data directory (GRIDPLAN_DATA_DIR)?")
    tmp = _staging(Path(dest))
    try:
        for kind in ("datasets", "plans"):
            (tmp / kind).mkdir()
        if sqlite:
            _snapshot_sqlite(db, tmp / DB_NAME)  # first: see the module's docstring
            url_of_copy = f"sqlite:///{tmp / DB_NAME}"
        else:
            url_of_copy = url
        datasets, plans = _records(url_of_copy)
        dropped = _copy_objects(data_dir, tmp, datasets, plans)
        if sqlite:
            _delete_records(url_of_copy, dropped)
        manifest = {
            "gridplan_backup": 1, "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "database": "sqlite" if sqlite else url.split(":", 1)[0].split("+")[0],
            "datasets": len(datasets) - len(dropped["datasets"]), "plans_done": len(plans) - len(dropped["plans"]),
            "dropped": dropped,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _publish(tmp, Path(dest))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def restore_data(backup: Path, data_dir: Path, database_url: str | None = None) -> dict[str, Any]:
    """Make the new data directory ``data_dir`` from ``backup``; return what was restored.

    With another database than SQLite, restore the database first (``pg_restore``); its records whose files the
    backup lacks are then deleted from it (objects deleted while the backup was taken)."""
    backup = Path(backup).expanduser().absolute()
    if not (backup / MANIFEST).is_file():
        raise OptionError(f"{backup} is not a gridplan backup (it has no {MANIFEST}); name a directory "
                          "`gridplan backup` wrote")
    manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    sqlite = database_url is None or database_url.startswith("sqlite")
    if sqlite and not (backup / DB_NAME).is_file():
        raise OptionError(f"{backup} holds no {DB_NAME} (it was taken with a {manifest.get('database')} database): "
                          "restore that database first, then run restore with GRIDPLAN_DATABASE_URL set")
    tmp = _staging(Path(data_dir))
    try:
        for entry in ("datasets", "plans", *([DB_NAME] if sqlite else [])):
            (shutil.copy2 if entry == DB_NAME else _copy_tree)(backup / entry, tmp / entry)
        url = f"sqlite:///{tmp / DB_NAME}" if sqlite else database_url
        datasets, plans = _records(url)
        missing = {"datasets": [i for i in sorted(datasets) if not _complete_dataset(tmp / "datasets" / i, datasets[i])],
                   "plans": [i for i in plans if not _complete_plan(tmp / "plans" / i)]}
        if sqlite and (missing["datasets"] or missing["plans"]):
            raise OptionError(f"{backup} is damaged: records without their files {missing}; use another backup")
        _delete_records(url, missing)
        _publish(tmp, Path(data_dir))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"datasets": len(datasets) - len(missing["datasets"]), "plans_done": len(plans) - len(missing["plans"]),
            "deleted": missing}


@app.command("backup")
def backup_cmd(
    dest: Annotated[Path, typer.Argument(help="new directory to write the backup to")],
    data_dir: DataDir = Path("data"),
) -> None:
    """Back up the service's data directory while it runs (the SQLite database, then the files it names)."""
    database_url = os.environ.get("GRIDPLAN_DATABASE_URL") or None
    manifest = run(lambda: backup_data(data_dir, dest, database_url))
    dropped = sum(map(len, manifest["dropped"].values()))
    typer.echo(f"backup in {dest}: {manifest['datasets']} datasets, {manifest['plans_done']} done plans"
               + (f" ({dropped} deleted while it ran, left out)" if dropped else ""), err=True)
    if manifest["database"] != "sqlite":
        typer.echo(f"the {manifest['database']} database is not in it: back it up with its own tool "
                   "(pg_dump) before this command", err=True)


@app.command("restore")
def restore_cmd(
    backup: Annotated[Path, typer.Argument(help="a directory `gridplan backup` wrote")],
    data_dir: Annotated[Path, typer.Argument(help="new, empty data directory to restore into")],
) -> None:
    """Make a new data directory from a backup (start the service on it with GRIDPLAN_DATA_DIR)."""
    database_url = os.environ.get("GRIDPLAN_DATABASE_URL") or None
    done = run(lambda: restore_data(backup, data_dir, database_url))
    deleted = sum(map(len, done["deleted"].values()))
    typer.echo(f"restored into {data_dir}: {done['datasets']} datasets, {done['plans_done']} done plans"
               + (f"; {deleted} records without files deleted from the database" if deleted else ""), err=True)
