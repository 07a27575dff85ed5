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
import json
import shutil
from pathlib import Path

from starlette.exceptions import HTTPException

from .errors import ServiceError, error_body

__all__ = ["InsufficientStorage", "too_many", "is_no_space", "no_space", "free_bytes", "check_free_space", "BodyLimit"]

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


# ---- the request-body limits (a middleware) -------------------------------------------------------------


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies past ``limit`` bytes with 413, by Content-Length or while streaming; refuse an upload
    with 429 while ``uploads`` others stream in, and with 507 while the disk has less than ``min_free`` bytes free
    (a body is spooled to the system temp directory before any route sees it, so this bounds that space)."""

    def __init__(self, app, limit: int, uploads: int = 4, min_free: int = 0, root: Path | None = None):
        self.app, self.limit, self.uploads, self.min_free, self.root = app, limit, uploads, min_free, root
        self.streaming = 0

    async def _reject(self, send, status: int = 413, detail: str | None = None,
                      headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        body = json.dumps(error_body(detail or f"the request is larger than the upload limit of {self.limit:,} bytes; "
                                               "upload smaller files or raise GRIDPLAN_MAX_UPLOAD_BYTES")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), *headers]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._reject(send)
        if scope.get("path") == "/v1/datasets":
            try:
                if self.root is not None:
                    check_free_space(self.root, self.min_free, "new uploads")
            except InsufficientStorage as exc:
                return await self._reject(send, 507, exc.detail)
            if self.streaming >= self.uploads:
                return await self._reject(send, 429, f"{self.streaming} uploads are streaming in already, the limit "
                                                     "(GRIDPLAN_MAX_CONCURRENT_UPLOADS); try again shortly",
                                          ((b"retry-after", b"5"),))
            self.streaming += 1
            try:
                return await self._limited(scope, receive, send)
            finally:
                self.streaming -= 1
        return await self._limited(scope, receive, send)

    async def _limited(self, scope, receive, send) -> None:
        received, rejected = 0, False

        async def limited_receive():
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not rejected:
                    rejected = True
                    await self._reject(send)
                    raise _TooLarge
            return message

        async def guarded_send(message) -> None:
            if not rejected:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise
