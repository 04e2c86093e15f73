"""Where photos live: a content-addressed blob store (`key` = `sha256/ab/<hex>.<suffix>`, see `alerts.images`).

Content addressing makes a write idempotent (the same photo uploaded twice is stored once) and a read
self-checking. Two implementations of one small protocol: `FileBlobStore` under `data_dir/media` (the default)
and `alerts.s3blobs.S3BlobStore` for S3-compatible storage (optional dependency boto3). Keys are made by cwatch,
never taken from a request, and are checked against their pattern anyway before they touch a path."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from alerts.errors import StoreError

KEY = re.compile(r"sha256/[0-9a-f]{2}/[0-9a-f]{64}\.(jpg|png|webp)")


class BlobMissingError(StoreError):
    """A blob the store should hold is not there (deleted by hand, a bucket emptied)."""

    code = "blob_missing"


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, media_type: str) -> None:
        """Store `data` under `key` (idempotent); `StoreError` when the storage fails."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under `key`; `BlobMissingError` when absent, `StoreError` when the storage fails."""
        ...


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key


class FileBlobStore:
    """Blobs as files under `root` (`data_dir/media`), written to a temporary file and renamed into place, so a
    reader never sees half a photo and a crash leaves at most a stray temporary file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(self._write, path, data)
        except OSError as e:
            raise StoreError(f"cannot store photo {key}: {e}") from e

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobMissingError(f"photo {key} is missing from {self.root}") from None
        except OSError as e:
            raise StoreError(f"cannot read photo {key}: {e}") from e
