"""The gridplan service: FastAPI over the library, with jobs, persistence and safe uploads.

Build the app with :func:`create_app` (nothing happens at import time) and run it with
``gridplan serve``; see ``docs/service.md``.
"""
from .app import create_app
from .settings import Settings

__all__ = ["create_app", "Settings"]
