"""Requests per operation through ``HttpNameNode`` against a real cluster, counted at the
transport (every name-node call and every block PUT passes through it). The liveness poller's
``GET /liveness`` (a background thread, once a heartbeat while a transfer is in flight, never
waited for) is not a round trip of the operation and is left out."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster import Cluster


@pytest.fixture
def counted(cluster: Cluster) -> Iterator[tuple[Any, Counter[str]]]:
    nn = cluster.client()
    seen: Counter[str] = Counter()
    transport = nn.transport
    call, put_block = transport.call, transport.put_block

    def counted_call(method: str, url: str, query: str = "", *args: Any, **kwargs: Any) -> Any:
        op = next((part[3:] for part in query.split("&") if part.startswith("op=")), url.rsplit("/", 1)[-1])
        if op != "liveness":
            seen[op] += 1
        return call(method, url, query, *args, **kwargs)

    def counted_put(*args: Any, **kwargs: Any) -> Any:
        seen["PUT block"] += 1
        return put_block(*args, **kwargs)

    transport.call, transport.put_block = counted_call, counted_put  # type: ignore[method-assign]
    yield nn, seen


def test_a_small_file_costs_a_create_check_with_its_block_and_a_pipeline_that_commits_it(
        counted: tuple[Any, Counter[str]], unique_path: str) -> None:
    nn, seen = counted
    nn.mkdir(unique_path)
    seen.clear()
    nn.tee(f"{unique_path}/small", b"x" * 65536)
    # the check at open (with the first block); at close the block's PUT carries the COMMIT
    assert seen == {"COMMIT": 1, "PUT block": 1}
    assert nn.cat(f"{unique_path}/small") == b"x" * 65536


def test_rename_is_one_request_and_rm_rmdir_two(counted: tuple[Any, Counter[str]], unique_path: str) -> None:
    nn, seen = counted
    nn.mkdir(f"{unique_path}/d")
    nn.touch(f"{unique_path}/f")
    seen.clear()
    nn.mv(f"{unique_path}/f", f"{unique_path}/g")
    nn.rm(f"{unique_path}/g")
    nn.rmdir(f"{unique_path}/d")
    assert seen == {"RENAME": 1, "GETFILESTATUS": 2, "DELETE": 2}  # rm/rmdir check the type first
    assert nn.ls(unique_path) == []
    with pytest.raises(IsADirectoryError):
        nn.mkdir(f"{unique_path}/e") or nn.rm(f"{unique_path}/e")
    with pytest.raises(NotADirectoryError):
        nn.touch(f"{unique_path}/h") or nn.rmdir(f"{unique_path}/h")
    with pytest.raises(FileNotFoundError):
        nn.rm(f"{unique_path}/missing")
