"""A witness in S3 with Object Lock: every digest is an object nobody can replace or delete.

``[audit] witness = "s3://BUCKET/PREFIX?region=R&endpoint_url=URL"``. The bucket must have Object
Lock enabled (``deploy/aws`` creates it so); each digest is written once, in compliance mode, for
``witness_retention_days``, as ``PREFIX/digests/<log id>/<YYYY-MM-DD>/<seq, 20 digits>.json``. The
newest is found by listing the newest day, so a reader never walks the whole history. Unlike the
state store, S3 keeps every digest: a rewrite is caught against any of them, not only the latest.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from gatekeeper.audit.witness import Digest
from gatekeeper.errors import ConfigError


class S3Witness:
    """Signed digests as Object Lock'd objects under ``PREFIX/digests/``."""

    def __init__(self, bucket: str, prefix: str, *, client: Any, retention_days: int = 2555) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix.strip("/"), client
        self.retention = timedelta(days=retention_days)
        self.name = f"s3://{bucket}/{self.prefix} (Object Lock)"

    @classmethod
    def from_url(cls, url: str, *, retention_days: int = 2555, client: Any = None) -> S3Witness:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"[audit] witness {url!r}: expected s3://BUCKET/PREFIX?region=R")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"region", "endpoint_url"}
        if unknown:
            raise ConfigError(f"[audit] witness {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
        if client is None:
            import boto3

            client = boto3.session.Session().client("s3", region_name=query.get("region"),
                                                    endpoint_url=query.get("endpoint_url"))
        return cls(parts.netloc, unquote(parts.path), client=client, retention_days=retention_days)

    def _dir(self, log_id: str) -> str:
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{head}digests/{quote(log_id, safe='')}/"

    def publish_digest(self, digest: Digest) -> bool:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        body = json.dumps(digest.as_dict(), sort_keys=True).encode("ascii")
        self.client.put_object(
            Bucket=self.bucket, Key=f"{self._dir(digest.log_id)}{day}/{digest.seq:020d}.json", Body=body,
            ContentType="application/json", ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime.now(UTC) + self.retention, ChecksumAlgorithm="SHA256")
        return True

    def latest_digest(self, log_id: str) -> Digest | None:
        base = self._dir(log_id)
        days = [p["Prefix"] for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base, Delimiter="/") for p in page.get("CommonPrefixes", [])]
        for day in sorted(days, reverse=True):
            keys = [o["Key"] for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=day) for o in page.get("Contents", [])]
            if keys:
                body = self.client.get_object(Bucket=self.bucket, Key=max(keys))["Body"].read()
                return Digest.from_dict(json.loads(body))
        return None

    def close(self) -> None:
        pass
