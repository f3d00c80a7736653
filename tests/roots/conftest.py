"""One fixture per storage root backend, each behind the same ``Backend`` helper, so the contract
suite (test_root_contract.py) runs unchanged on a local folder, a Lustre root (on a plain folder:
the POSIX path is what Lustre runs) and an S3 prefix on a real SeaweedFS server."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from data_node.roots import StorageRoot, open_root
from data_node.roots.s3 import S3Root
from dfs_common.settings import Settings

# 5 MiB parts (S3's minimum) for the S3 fixture, so a multipart block stays small in the suite.
TEST_PART_SIZE = 5 * 1024 * 1024


class Backend:
    """What the contract needs beyond the interface: reopen the same location (a restart), and
    reach behind the root's back to damage it the way a disk, a crash or an operator would."""

    name = ""

    def __init__(self, open_root: Callable[[], StorageRoot]) -> None:
        self._open = open_root
        self.opened: list[StorageRoot] = []

    def open(self) -> StorageRoot:
        root = self._open()
        self.opened.append(root)
        return root

    def names(self) -> list[str]:
        """Every file or object the root keeps, relative to it."""
        raise NotImplementedError

    def corrupt(self, block_id: str) -> None:
        """Flip one byte of the block's stored bytes."""
        raise NotImplementedError

    def remove(self, block_id: str) -> None:
        """Delete the block's bytes (an operator's rm, a lifecycle rule)."""
        raise NotImplementedError

    def leave_half_written(self, block_id: str, data: bytes) -> None:
        """What a node killed in the middle of storing ``block_id`` leaves behind."""
        raise NotImplementedError


class PosixBackend(Backend):
    def __init__(self, path: Path, url: str) -> None:
        super().__init__(lambda: open_root(url, Settings()))
        self.path = path

    def names(self) -> list[str]:
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file())

    def _file(self, block_id: str) -> Path:
        return self.path / "blocks" / block_id[-2:] / block_id

    def corrupt(self, block_id: str) -> None:
        with open(self._file(block_id), "r+b") as file:
            first = file.read(1)
            file.seek(0)
            file.write(bytes([first[0] ^ 0x01]))

    def remove(self, block_id: str) -> None:
        self._file(block_id).unlink()

    def leave_half_written(self, block_id: str, data: bytes) -> None:
        bucket = self.path / "blocks" / block_id[-2:]
        bucket.mkdir(parents=True, exist_ok=True)
        (bucket / f".tmp-{block_id}-crashed").write_bytes(data[: len(data) // 2])


class S3Backend(Backend):
    def __init__(self, server: Any, bucket: str, prefix: str) -> None:
        super().__init__(lambda: S3Root(f"s3://{bucket}/{prefix}", quota=1 << 30,
                                        client=server.client(), probe_client=server.client(retries=1),
                                        part_size=TEST_PART_SIZE))
        self.s3 = server.client()
        self.bucket, self.prefix = bucket, prefix

    def names(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + "/")
        return sorted(item["Key"][len(self.prefix) + 1:] for page in pages for item in page.get("Contents", []))

    def uploads(self) -> list[str]:
        answer = self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix + "/")
        return [upload["Key"] for upload in answer.get("Uploads", [])]

    def corrupt(self, block_id: str) -> None:
        key = f"{self.prefix}/blocks/{block_id}"
        got = self.s3.get_object(Bucket=self.bucket, Key=key)
        data = bytearray(got["Body"].read())
        data[0] ^= 0x01
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(data), Metadata=got["Metadata"])

    def remove(self, block_id: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/blocks/{block_id}")

    def leave_half_written(self, block_id: str, data: bytes) -> None:
        key = f"{self.prefix}/blocks/{block_id}"
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                 Metadata={"dfs-checksum": "0" * 16})["UploadId"]
        self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=1,
                            Body=data[: len(data) // 2])
        self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/digests/{block_id}", Body=b"\0" * 8)


@pytest.fixture
def local_backend(tmp_path: Path) -> Backend:
    backend = PosixBackend(tmp_path / "root", str(tmp_path / "root"))
    backend.name = "local"
    return backend


@pytest.fixture
def lustre_backend(tmp_path: Path) -> Backend:
    backend = PosixBackend(tmp_path / "root", f"lustre://{tmp_path / 'root'}")
    backend.name = "lustre"
    return backend


@pytest.fixture(scope="session")
def roots_bucket(s3_server: Any) -> str:
    return s3_server.make_bucket("dfs-roots-contract")


@pytest.fixture
def s3_backend(s3_server: Any, roots_bucket: str) -> Backend:
    backend = S3Backend(s3_server, roots_bucket, f"node-{uuid.uuid4().hex[:10]}")
    backend.name = "s3"
    return backend


@pytest.fixture(params=["local", "lustre", "s3"])
def backend(request: pytest.FixtureRequest) -> Any:
    chosen = request.getfixturevalue(f"{request.param}_backend")
    yield chosen
    for root in chosen.opened:
        root.close()

