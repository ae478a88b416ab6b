"""The one object-store URL parser (``gatekeeper.audit._objurl``) as each store reads it: the same
parameters, defaults and errors for ``s3://``, ``gs://`` and ``azblob://``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatekeeper.audit._azblob import AzureBlobLocation, parse_azblob_url
from gatekeeper.audit._gcs import GCSLocation, parse_gcs_url
from gatekeeper.audit._objurl import ObjectLocation
from gatekeeper.audit._s3 import S3Location, parse_s3_url
from gatekeeper.errors import AuditError

PARSERS: dict[str, Any] = {"s3": parse_s3_url, "gs": parse_gcs_url, "azblob": parse_azblob_url}


@pytest.mark.parametrize(("url", "message"), [
    ("s3:///p", "not an s3://BUCKET/PREFIX URL: 's3:///p'"),
    ("gs:///p", "not a gs://BUCKET/PREFIX URL: 'gs:///p'"),
    ("azblob://acct", "not an azblob://ACCOUNT/CONTAINER/PREFIX URL: 'azblob://acct'"),
    ("s3://b/p?project=x", "unknown parameter(s) project in audit URL 's3://b/p?project=x'; expected endpoint_url, "
                           "immutability, max_unshipped_seconds, region, spool"),
    ("gs://b/p?region=x", "unknown parameter(s) region in audit URL 'gs://b/p?region=x'; expected endpoint_url, "
                          "immutability, max_unshipped_seconds, project, spool"),
    ("azblob://a/c?region=x", "unknown parameter(s) region in audit URL 'azblob://a/c?region=x'; expected "
                              "endpoint_url, immutability, max_unshipped_seconds, spool"),
    ("gs://b?immutability=maybe", "immutability must be one of require, warn, off"),
    ("azblob://a/c?max_unshipped_seconds=-1", "max_unshipped_seconds must be a positive number of seconds"),
])
def test_bad_urls_are_named(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(AuditError) as caught:
        PARSERS[url.split(":")[0]](url, tmp_path)
    assert message in str(caught.value)


def test_every_store_shares_the_location_fields(tmp_path: Path) -> None:
    query = "endpoint_url=http://127.0.0.1:9&immutability=off&max_unshipped_seconds=30&spool=sp"
    s3 = parse_s3_url(f"s3://b/x/y/?{query}&region=eu-west-1", tmp_path)
    gs = parse_gcs_url(f"gs://b/x/y?{query}&project=p", tmp_path)
    az = parse_azblob_url(f"azblob://a/c/x/y?{query}", tmp_path)
    for loc in (s3, gs, az):
        assert isinstance(loc, ObjectLocation)
        assert (loc.prefix, loc.spool, loc.endpoint_url, loc.immutability, loc.max_unshipped_seconds) == (
            "x/y", tmp_path / "sp", "http://127.0.0.1:9", "off", 30.0)
        assert loc.key("keys/k.pem") == "x/y/keys/k.pem"
    assert isinstance(s3, S3Location) and (s3.bucket, s3.region) == ("b", "eu-west-1")
    assert isinstance(gs, GCSLocation) and (gs.bucket, gs.project) == ("b", "p")
    assert isinstance(az, AzureBlobLocation) and (az.account, az.container) == ("a", "c")
    assert az.account_url == "http://127.0.0.1:9"
    bare = parse_gcs_url("gs://b", tmp_path)
    assert (bare.prefix, bare.project, bare.endpoint_url, bare.immutability, bare.max_unshipped_seconds) == (
        "", None, None, "warn", None)
    assert bare.spool == tmp_path / ".gatekeeper/audit-spool/b" and bare.key("x") == "x"
