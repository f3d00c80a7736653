"""Forwarding a stored block to the next data node of a write pipeline.

Store-then-forward: a node forwards only what it has verified and made durable, streaming it
from its own root, so a corrupt hop never propagates. The failure that reaches the client names
the deepest node that failed (from a downstream 502), so the client can exclude exactly that node.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlparse

import requests

from dfs_common.blocks import CHECKSUM_HEADER, PIPELINE_HEADER
from dfs_common.errors import IllegalArgument, PipelineFailed

from .roots import CHUNK, StorageRoot

# More hops than any sane replication factor (settings cap it at 32): a longer header is garbage.
MAX_PIPELINE = 32


def parse_pipeline(header: str | None) -> list[str]:
    """The downstream URLs of an ``X-DFS-Pipeline`` header (empty or absent: none)."""
    if not header:
        return []
    urls = [part.strip().rstrip("/") for part in header.split(",") if part.strip()]
    if len(urls) > MAX_PIPELINE:
        raise IllegalArgument(f"{PIPELINE_HEADER} lists more than {MAX_PIPELINE} nodes")
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise IllegalArgument(f"Invalid {PIPELINE_HEADER} entry {url[:80]!r}")
    return urls


class _Body:
    """A block as a request body: a known length (so no chunked encoding) read in 1 MiB chunks."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file = file
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        left = self.length
        while left > 0:
            chunk = self.file.read(min(CHUNK, left))
            if not chunk:
                raise IOError("block file shorter than its recorded length")
            left -= len(chunk)
            yield chunk


class Forwarder:
    """PUTs blocks from a root to the next node of a pipeline."""

    # (connect, read) seconds; the read timeout covers the whole rest of the pipeline storing,
    # fsyncing and forwarding a block of up to DFS_MAX_BLOCK_SIZE.
    TIMEOUT = (5.0, 300.0)

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def forward(self, root: StorageRoot, block_id: str, pipeline: list[str]) -> list[str]:
        """Send the stored block to ``pipeline[0]`` with the rest as its pipeline; returns the
        node ids that then hold it downstream, or raises PipelineFailed naming the failed URL."""
        if not pipeline:
            return []
        info = root.info(block_id)
        if info is None:
            raise IllegalArgument(f"Block {block_id} is not stored here")
        target = pipeline[0]
        url = f"{target}/blocks/{block_id}"
        headers = {CHECKSUM_HEADER: info.checksum, PIPELINE_HEADER: ",".join(pipeline[1:]),
                   "Content-Type": "application/octet-stream"}
        file, length = root.open(block_id)
        try:
            response = self.session.put(url, data=_Body(file, length), headers=headers,
                                        timeout=self.TIMEOUT)
        except (requests.RequestException, OSError) as error:
            raise PipelineFailed(f"Pipeline node {target} failed: {type(error).__name__}: {error}",
                                 failed=target) from None
        finally:
            file.close()
        return _stored_or_raise(response, target)


def _stored_or_raise(response: requests.Response, target: str) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 201 and isinstance(body, dict) and isinstance(body.get("stored"), list):
        return [str(node) for node in body["stored"]]
    remote = body.get("RemoteException") if isinstance(body, dict) else None
    remote = remote if isinstance(remote, dict) else {}
    message = str(remote.get("message") or f"HTTP {response.status_code}")
    deeper = remote.get("failed")
    if response.status_code == 502 and isinstance(deeper, str) and deeper:
        raise PipelineFailed(f"Pipeline node {deeper} failed: {message}", failed=deeper)
    raise PipelineFailed(f"Pipeline node {target} answered {response.status_code}: {message}",
                         failed=target)
