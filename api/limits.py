"""Limits the service keeps and how it refuses past them: a full disk is 507, too many requests 429.

Examples
--------
>>> import errno
>>> is_no_space(OSError(errno.ENOSPC, "No space left on device"))
True
>>> is_no_space(RuntimeError("could not write the plan"))
False
>>> too_many("3 plans of yours are queued", retry_after=5).headers
{'Retry-After': '5'}
"""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

from starlette.exceptions import HTTPException

from .errors import ServiceError

__all__ = ["InsufficientStorage", "too_many", "is_no_space", "no_space", "free_bytes", "check_free_space"]

_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXT = ("no space left on device", "database or disk is full", "disk quota exceeded")


class InsufficientStorage(ServiceError):
    """The service's disk is full (or below ``GRIDPLAN_MIN_FREE_BYTES``): 507."""

    status = 507


def too_many(detail: str, *, retry_after: int) -> HTTPException:
    """A 429 with ``Retry-After`` (seconds), answered as an ErrorBody like every other error."""
    return HTTPException(status_code=429, detail=detail, headers={"Retry-After": str(max(1, int(retry_after)))})


def is_no_space(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception it was raised from, is a full disk (ENOSPC, EDQUOT, SQLite's "disk is full")."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
            return True
        if any(t in str(exc).lower() for t in _NO_SPACE_TEXT):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def no_space(what: str) -> InsufficientStorage:
    """The 507 for a full disk while doing ``what``."""
    return InsufficientStorage(f"the service's disk is full (no space left on the device) while {what}; nothing of it "
                               "was kept: free space in the data directory (GRIDPLAN_DATA_DIR), then try again")


def free_bytes(path: Path) -> int:
    """Free bytes on the file system of ``path``."""
    return shutil.disk_usage(path).free


def check_free_space(path: Path, minimum: int, what: str) -> None:
    """Refuse ``what`` with 507 when the file system of ``path`` has less than ``minimum`` bytes free."""
    if minimum <= 0:
        return
    free = free_bytes(path)
    if free < minimum:
        raise InsufficientStorage(
            f"the service's disk has {free:,} bytes free, less than GRIDPLAN_MIN_FREE_BYTES ({minimum:,}), so it "
            f"refuses {what}: free space in the data directory (GRIDPLAN_DATA_DIR), or lower the setting")
