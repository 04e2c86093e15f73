"""A small S3-compatible server for wire-level tests of `alerts.s3blobs`: path-style PUT and GET of objects in
one bucket, each request's AWS Signature Version 4 recomputed with the known secret (a wrong key or secret is
refused as S3 refuses it: 403 SignatureDoesNotMatch), a missing object answered 404 NoSuchKey with S3's XML.

    with S3Fake("cwatch-media", "AKIDTEST", "secret") as s3:
        s3.url, s3.objects, s3.requests
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from testkit.services import free_port


class S3Fake:
    def __init__(self, bucket: str, access_key: str, secret_key: str) -> None:
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.objects: dict[str, tuple[bytes, str]] = {}  # key -> (body, content type)
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> S3Fake:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def signature_ok(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> bool:
        auth = headers.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return False
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
        key_id, date, region, service, _ = parts["Credential"].split("/")
        if key_id != self.access_key:
            return False
        signed = parts["SignedHeaders"].split(";")
        payload = headers.get("x-amz-content-sha256", "")
        if payload not in ("UNSIGNED-PAYLOAD", hashlib.sha256(body).hexdigest()) and not payload.startswith(
            "STREAMING"
        ):
            return False
        canonical_query = "&".join(sorted(query.split("&"))) if query else ""
        canonical = "\n".join(
            [
                method,
                quote(unquote(path), safe="/~"),
                canonical_query,
                "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed),
                ";".join(signed),
                payload,
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", headers["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        k = hmac.new(("AWS4" + self.secret_key).encode(), date.encode(), hashlib.sha256).digest()
        for part in (region, service, "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["Signature"])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self, status: int, body: bytes = b"", content_type: str = "application/xml") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, code: str) -> None:
                xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
                self._answer(status, xml.encode())

            def _handle(self) -> None:
                split = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(int(headers.get("content-length", "0") or 0))
                fake.requests.append((self.command, split.path, headers))
                if not fake.signature_ok(self.command, split.path, split.query, headers, body):
                    return self._error(403, "SignatureDoesNotMatch")
                prefix = f"/{fake.bucket}/"
                if not split.path.startswith(prefix):
                    return self._error(404, "NoSuchBucket")
                key = unquote(split.path[len(prefix) :])
                if self.command == "PUT":
                    fake.objects[key] = (body, headers.get("content-type", ""))
                    return self._answer(200)
                if key not in fake.objects:
                    return self._error(404, "NoSuchKey")
                data, content_type = fake.objects[key]
                return self._answer(200, data, content_type)

            do_PUT = do_GET = do_HEAD = _handle  # noqa: N815

        return Handler
