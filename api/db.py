"""The service's records in a real database: SQLite in the data directory, or PostgreSQL by URL.

Only metadata lives here (datasets, plans, their status, progress and figures); the uploaded files and
the plan directories live under ``data_dir`` (see :mod:`api.storage`), so both survive a restart.

Examples
--------
>>> engine = make_engine("sqlite://")
>>> create_schema(engine)
>>> with session_factory(engine)() as s:
...     s.add(DatasetRecord(id="d1", files={}, summary={}, options={}))
...     s.commit()
...     s.get(DatasetRecord, "d1").id
...     lock_dataset(s, "d1"), lock_dataset(s, "d2")
'd1'
(True, False)
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

from contextvars import ContextVar

from sqlalchemy import JSON, DateTime, Engine, Integer, String, Text, TypeDecorator, create_engine, event, inspect, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

__all__ = [
    "Base", "DatasetRecord", "PlanRecord", "OrgRecord", "TokenRecord", "LinkRecord", "AuditRecord", "make_engine",
    "create_schema", "session_factory", "utcnow", "mark_interrupted", "lock_dataset", "PLAN_STATUSES", "ROLES",
    "CURRENT_ORG",
]

PLAN_STATUSES = ("queued", "running", "done", "failed")
INTERRUPTED = "interrupted by a restart of the service before it finished; submit the plan again"
#: columns added after a table was first created: name -> DDL type (``create_all`` adds no columns)
_ADDED_COLUMNS = {"plans": {"client": "VARCHAR(64)", "org": "VARCHAR(64)", "stage_total": "INTEGER",
                            "stage_started_at": "TIMESTAMP WITH TIME ZONE"},
                  "datasets": {"org": "VARCHAR(64)"}}
#: the roles of a token, each allowed what the one before it is
ROLES = ("viewer", "planner", "admin")
#: the organisation of the request being served (set by :mod:`api.auth`); new datasets and plans belong to it
CURRENT_ORG: ContextVar[str | None] = ContextVar("gridplan_current_org", default=None)


def _current_org() -> str | None:
    return CURRENT_ORG.get()


def utcnow() -> _dt.datetime:
    """Now, in UTC, timezone-aware."""
    return _dt.datetime.now(_dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return None if value is None else value.astimezone(_dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class DatasetRecord(Base):
    """An upload: where its files are, how to read them, and what the inspection said."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    files: Mapped[dict[str, Any]] = mapped_column(JSON)  # role -> {filename, format, bytes, stored}
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # id_field, households_field, ... as given
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)  # the inspection
    org: Mapped[str | None] = mapped_column(String(64), nullable=True, default=_current_org)  # None: no organisation


class PlanRecord(Base):
    """A plan: its parameters, where it is in its life, and the figures of its report once done."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)  # kept after the dataset is deleted
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    stage_total: Mapped[int | None] = mapped_column(Integer, nullable=True)  # steps of the stage, when counted
    stage_started_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    warnings: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)  # who asked (address), for the queue limit
    org: Mapped[str | None] = mapped_column(String(64), nullable=True, default=_current_org)  # None: no organisation


class OrgRecord(Base):
    """An organisation (a street office, a district): its tokens, datasets and plans belong to it."""

    __tablename__ = "orgs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TokenRecord(Base):
    """A bearer token of an organisation with a role; only the SHA-256 of the secret is kept."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LinkRecord(Base):
    """A public read-only link to one plan's look-ups and map; only the SHA-256 of its key is kept."""

    __tablename__ = "links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    plan_id: Mapped[str] = mapped_column(String(32), index=True)
    org: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the plan's
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditRecord(Base):
    """One action: who (organisation, token, role) did what to which object, when."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[_dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    org: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    token_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


@event.listens_for(PlanRecord, "after_delete")
def _revoke_links_of_deleted_plan(_mapper, connection, plan: PlanRecord) -> None:
    """A deleted plan's public links are revoked in the same transaction."""
    connection.execute(update(LinkRecord).where(LinkRecord.plan_id == plan.id, LinkRecord.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and a busy timeout so worker processes can write too."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised through every SQLite test
            cur = dbapi_conn.cursor()
            if url not in ("sqlite://", "sqlite:///:memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create the tables when missing, and add the columns a table created by an older version lacks
    (the schema is additive; nothing is dropped)."""
    Base.metadata.create_all(engine)
    have = inspect(engine)
    for table, columns in _ADDED_COLUMNS.items():
        present = {c["name"] for c in have.get_columns(table)}
        missing = {name: ddl for name, ddl in columns.items() if name not in present}
        if missing:
            with engine.begin() as conn:
                for name, ddl in missing.items():
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def lock_dataset(s: Session, dataset_id: str) -> bool:
    """Lock the dataset's row until ``s`` commits or rolls back; False when there is no such dataset.

    Call it first in the transaction: an UPDATE takes SQLite's write lock (other writers wait, and the
    transaction reads what they committed) and a row lock in PostgreSQL, so plan creation and dataset
    deletion, which both start with it, cannot interleave.
    """
    stmt = update(DatasetRecord).where(DatasetRecord.id == dataset_id).values(id=DatasetRecord.id)
    return s.execute(stmt.execution_options(synchronize_session=False)).rowcount > 0


def mark_interrupted(sessions: sessionmaker[Session]) -> list[str]:
    """Mark every plan left running by a previous run of the service as failed; return their ids.

    Plans left queued stay queued: the new run's dispatcher starts them.
    """
    with sessions() as s:
        ids = list(s.scalars(select(PlanRecord.id).where(PlanRecord.status == "running")))
        if ids:
            s.execute(
                update(PlanRecord)
                .where(PlanRecord.id.in_(ids))
                .values(status="failed", reason=INTERRUPTED, finished_at=utcnow(), stage=None)
            )
            s.commit()
    return ids
