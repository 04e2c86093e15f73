"""The blob stores photos live in: on disk under data_dir/media, and in S3-compatible storage through boto3,
tested at the wire level against a small S3 server that checks every request's signature."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from alerts.blobs import BlobMissingError, FileBlobStore
from alerts.errors import StoreError
from alerts.s3blobs import S3BlobStore
from tests.support.s3fake import S3Fake

DATA = b"\xff\xd8\xff" + b"photo" * 100
KEY = f"sha256/{hashlib.sha256(DATA).hexdigest()[:2]}/{hashlib.sha256(DATA).hexdigest()}.jpg"


async def test_files_are_written_whole_and_read_back(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "media")
    await store.put(KEY, DATA, "image/jpeg")
    await store.put(KEY, DATA, "image/jpeg")  # content-addressed: a second write is a no-op
    assert await store.get(KEY) == DATA
    files = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert [p.relative_to(tmp_path / "media").as_posix() for p in files] == [KEY]  # no temporary file left
    with pytest.raises(BlobMissingError):
        await store.get(KEY.replace(KEY[-10:-4], "000000"))


@pytest.mark.parametrize("key", ["../../etc/passwd", "sha256/ab/../../x.jpg", "sha256/zz/" + "0" * 64 + ".jpg"])
async def test_keys_that_are_not_content_addresses_never_reach_a_path(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not a blob key"):
        await FileBlobStore(tmp_path).get(key)


async def test_s3_put_and_get_over_the_wire() -> None:
    with S3Fake("cwatch-media", "AKIDCWATCHTEST", "s3-secret-for-tests") as s3:
        store = S3BlobStore(
            "cwatch-media", endpoint=s3.url, access_key="AKIDCWATCHTEST", secret_key="s3-secret-for-tests"
        )
        await store.put(KEY, DATA, "image/jpeg")
        assert s3.objects["cwatch/" + KEY] == (DATA, "image/jpeg")
        method, path, headers = s3.requests[-1]
        assert (method, path) == ("PUT", "/cwatch-media/cwatch/" + KEY)
        assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDCWATCHTEST/")
        assert await store.get(KEY) == DATA
        with pytest.raises(BlobMissingError):
            await store.get(KEY.replace(KEY[-10:-4], "000000"))


async def test_s3_with_a_wrong_secret_is_a_store_error() -> None:
    with S3Fake("cwatch-media", "AKIDCWATCHTEST", "s3-secret-for-tests") as s3:
        store = S3BlobStore("cwatch-media", endpoint=s3.url, access_key="AKIDCWATCHTEST", secret_key="wrong")
        with pytest.raises(StoreError, match="SignatureDoesNotMatch"):
            await store.put(KEY, DATA, "image/jpeg")
        assert s3.objects == {}
