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
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

MiB = 1024**2
GiB = 1024**3


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
    plan_memory_bytes: int = Field(
        4 * GiB, ge=MiB, description="address space a plan's worker process may add to the ~0.5 GB of libraries it "
                                     "starts with (RLIMIT_AS); past it the plan fails saying so")
    max_queued_plans: int = Field(
        20, ge=1, description="plans one client may have queued at once, counted per client address (the proxy's "
                              "address behind a reverse proxy, unless it is in trusted_proxies); POST "
                              "/v1/plans answers 429 past it")
    parse_slots: int = Field(2, ge=1, le=64, description="uploads read and inspected at once, each in its own process")
    parse_wait_s: float = Field(
        10.0, ge=0, description="how long an upload waits for a free parse slot before POST /v1/datasets answers 429")
    max_concurrent_uploads: int = Field(
        4, ge=1, le=256, description="uploads (POST /v1/datasets) whose bodies may stream in at once; more get 429")
    trusted_proxies: str = Field(
        "", description="addresses of reverse proxies whose X-Forwarded-For names the client (comma-separated, as "
                        "uvicorn's forwarded_allow_ips); empty: the client is the address that connects")
    plan_timeout_s: float = Field(
        4 * 3600.0, gt=0, description="longest a plan may run (its process is then killed and the plan fails saying "
                                      "so); the 1,000,000-household city plans in about 2 minutes")
    parse_timeout_s: float = Field(
        60.0, gt=0, description="longest an upload may take to read and inspect (its process is then killed): 422")
    parse_memory_bytes: int = Field(
        2 * GiB, ge=MiB, description="address space an upload's parse process may add to the ~0.5 GB of libraries it "
                                     "starts with (RLIMIT_AS): 413 past it")
    max_features: int = Field(500_000, ge=1, description="most features an uploaded layer may hold: 413 past it")
    max_vertices: int = Field(20_000_000, ge=1, description="most vertices an uploaded layer may hold: 413 past it")
    min_free_bytes: int = Field(
        GiB, ge=0, description="below this many free bytes in data_dir, /healthz says 'degraded' and uploads and new "
                               "plans are refused with 507")
    feasibility_max_buildings: int = Field(
        500, ge=0, description="POST /v1/datasets looks for fenced-in pieces (it builds the plan's cells: about 1.6 s "
                               "more for 1,500 buildings, within the parse time limit) only in uploads of at most "
                               "this many buildings; 0: never")

    auth: Literal["on", "off"] = Field(
        "on", description="on: every /v1 and /ogc request carries `Authorization: Bearer TOKEN` (tokens from `gridplan "
                          "token create`); off: every request is an admin of no organisation, accepted only when "
                          "the server binds a loopback address (one user on their own machine)")
    bind_host: str | None = Field(
        None, description="the address the server listens on; `gridplan serve --host` sets it (set it yourself when "
                          "running uvicorn directly): its Host is allowed, and auth=off needs it to be loopback")
    allowed_hosts: str = Field(
        "", description="Host names (comma-separated) the service answers besides localhost, 127.0.0.1, [::1] and "
                        "bind_host, e.g. the name a reverse proxy forwards; `*`: any (only behind a proxy that "
                        "checks Host itself)")
    cors_origins: str = Field(
        "", description="web origins (comma-separated, e.g. https://gis.example.org) whose pages may call the "
                        "service from a browser: they get CORS headers; any other Origin is refused with 403")
    layer_cache_mb: int = Field(
        256, ge=0, description="memory, in MiB, the parsed layers and rosters kept for bbox and code reads may hold "
                               "(an estimate; least recently read dropped first); a layer larger than this is read "
                               "from its file for each request")

    def database_url_or_default(self) -> str:
        """The database URL: ``database_url``, or a SQLite file ``gridplan.db`` in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.expanduser().absolute() / 'gridplan.db'}"
