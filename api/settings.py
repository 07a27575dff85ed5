"""Settings of the service, read from ``GRIDPLAN_*`` environment variables (pydantic-settings).

Examples
--------
>>> s = Settings(data_dir="/srv/gridplan", workers=4)
>>> s.database_url_or_default()
'sqlite:////srv/gridplan/gridplan.db'
>>> Settings(data_dir="/srv/gridplan", database_url="postgresql+psycopg://u@db/gridplan").database_url_or_default()
'postgresql+psycopg://u@db/gridplan'
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

MiB = 1024**2


class Settings(BaseSettings):
    """Everything the service can be told; each field is ``GRIDPLAN_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="GRIDPLAN_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="where the SQLite file, the uploads and the plan directories live")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db; default: SQLite in data_dir"
    )
    max_upload_bytes: int = Field(256 * MiB, ge=1, description="largest request body accepted by POST /v1/datasets")
    max_uncompressed_bytes: int = Field(
        2 * 1024 * MiB, ge=1, description="largest size a zip or bzip2 upload may decompress to"
    )
    workers: int = Field(2, ge=1, le=64, description="plans run at once, each in its own worker process")
    feasibility_max_buildings: int = Field(
        500, ge=0, description="POST /v1/datasets looks for fenced-in pieces (it builds the plan's cells: about 1.6 s "
                               "more for 1,500 buildings, in the server process) only in uploads of at most this many "
                               "buildings; 0: never")

    def database_url_or_default(self) -> str:
        """The database URL: ``database_url``, or a SQLite file ``gridplan.db`` in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.expanduser().absolute() / 'gridplan.db'}"
