"""The ``azblob://ACCOUNT/CONTAINER/PREFIX`` backend: a local spool log shipped to Azure Blob Storage.

How the spool and the shipping work is ``_shipper``'s (shared with S3 and Google Cloud Storage);
this module is the Azure side: the URL, the credentials and four calls through azure-storage-blob.

URL: ``azblob://ACCOUNT/CONTAINER/PREFIX?endpoint_url=URL&spool=DIR&immutability=warn`` (parameters
optional). ``endpoint_url`` replaces ``https://ACCOUNT.blob.core.windows.net`` (Azurite:
``http://127.0.0.1:10000/devstoreaccount1``). Credentials, first found: the environment variable
``AZURE_STORAGE_CONNECTION_STRING``; ``AZURE_STORAGE_KEY`` (the account key); else azure-identity's
``DefaultAzureCredential`` (managed identity, workload identity, Azure CLI ...), which needs the
role *Storage Blob Data Contributor* on the container.

Immutability is the container's: version-level WORM (immutable storage with versioning) or a
container-level time-based retention policy, or a legal hold; checked at start-up (``require``
refuses a container with none, ``warn`` (the default) logs it, ``off`` does not look). Blobs are
written once and never overwritten: a retried upload that finds the blob compares the content.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.audit._objurl import ObjectLocation, parse_object_url
from gatekeeper.audit._shipper import object_store_opener
from gatekeeper.errors import AuditError

TIMEOUTS: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 30, "retry_total": 2}


@dataclass(frozen=True, kw_only=True)
class AzureBlobLocation(ObjectLocation):
    account: str
    container: str

    @property
    def account_url(self) -> str:
        return self.endpoint_url or f"https://{self.account}.blob.core.windows.net"


def parse_azblob_url(url: str, base_dir: Path) -> AzureBlobLocation:
    u = parse_object_url(url, base_dir, scheme="azblob", shape="an azblob://ACCOUNT/CONTAINER/PREFIX", container=True)
    return AzureBlobLocation(**u.common(), account=u.host, container=u.container)


def _container_client(location: AzureBlobLocation) -> Any:
    from azure.storage.blob import ContainerClient

    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        return ContainerClient.from_connection_string(conn, location.container, **TIMEOUTS)
    key = os.environ.get("AZURE_STORAGE_KEY")
    credential: Any
    if key:
        credential = {"account_name": location.account, "account_key": key}
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return ContainerClient(location.account_url, location.container, credential=credential, **TIMEOUTS)


class AzureBlobSink:
    """Puts the files of a log directory to a blob container, and gets them back (an ``ObjectSink``)."""

    def __init__(self, location: AzureBlobLocation, client: Any | None = None) -> None:
        self.location = location
        self.client = client if client is not None else _container_client(location)

    @property
    def where(self) -> str:
        loc = self.location
        return f"azblob://{loc.account}/{loc.container}/{loc.prefix}"

    def put(self, path: Path, name: str) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import ContentSettings

        data = path.read_bytes()
        kind = "application/x-ndjson" if name.endswith(".jsonl") else "application/json"
        try:
            self.client.upload_blob(self.location.key(name), data, overwrite=False,
                                    content_settings=ContentSettings(content_type=kind))
        except ResourceExistsError:
            # A retry after a partial upload: fine when it is the same bytes; never overwritten.
            if self.client.download_blob(self.location.key(name)).readall() != data:
                raise AuditError(f"{self.where}/{name} exists with other content; not overwritten") from None

    def names(self) -> Iterator[str]:
        start = self.location.key("")
        for blob in self.client.list_blobs(name_starts_with=start):
            yield str(blob.name)[len(start):]

    def get(self, name: str, dest: Path) -> None:
        with open(dest, "wb") as f:
            self.client.download_blob(self.location.key(name)).readinto(f)

    def immutability(self) -> str | None:
        props = self.client.get_container_properties()
        if (props.immutable_storage_with_versioning_enabled or props.has_immutability_policy
                or props.has_legal_hold):
            return None
        return (f"container {self.location.container} has no immutability (version-level WORM, "
                f"a time-based retention policy or a legal hold)")


open_azblob_log = object_store_opener(parse_azblob_url, AzureBlobSink)
