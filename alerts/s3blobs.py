"""Photos in S3-compatible storage (AWS S3, MinIO, Ceph RGW, Alibaba OSS and Tencent COS in S3 mode), through
boto3, an optional dependency (`pip install 'cwatch[s3]'`). boto3 is synchronous: each call runs in a worker
thread. Objects are `<prefix><key>` with their media type; nothing is public: the board gets photos through the
API, which checks the ticket's scope first."""

from __future__ import annotations

import asyncio
from typing import Any

from alerts.blobs import BlobMissingError, check_key
from alerts.errors import StoreError


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str = "",
        region: str = "us-east-1",
        access_key: str,
        secret_key: str,
        prefix: str = "cwatch/",
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as e:  # pragma: no cover - the settings check names the extra first
                raise StoreError("media.storage = 's3' needs boto3: pip install 'cwatch[s3]'") from e
            client = boto3.client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=region,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                # path-style (`<endpoint>/<bucket>/<key>`): what MinIO, Ceph and other S3-compatible servers expect
                config=Config(
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=20,
                    s3={"addressing_style": "path"} if endpoint else {},
                ),
            )
        self._client = client

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        name = self.prefix + check_key(key)
        try:
            await asyncio.to_thread(
                self._client.put_object, Bucket=self.bucket, Key=name, Body=data, ContentType=media_type
            )
        except Exception as e:  # botocore's errors: connection, credentials, the service's refusal
            raise StoreError(f"cannot store photo {key} in bucket {self.bucket}: {_why(e)}") from e

    async def get(self, key: str) -> bytes:
        name = self.prefix + check_key(key)
        try:
            answer = await asyncio.to_thread(self._client.get_object, Bucket=self.bucket, Key=name)
            body: bytes = await asyncio.to_thread(answer["Body"].read)
        except Exception as e:
            if _code(e) in ("NoSuchKey", "404"):
                raise BlobMissingError(f"photo {key} is missing from bucket {self.bucket}") from None
            raise StoreError(f"cannot read photo {key} from bucket {self.bucket}: {_why(e)}") from e
        return body


def _code(e: Exception) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _why(e: Exception) -> str:
    return _code(e) or type(e).__name__
