"""A write that did not arrive whole never replaces what was there (issue 8, items 1 and 2).

Real processes throughout: WebHDFS uploads cut off on a raw socket (short of their Content-Length,
chunked without the last chunk), ``HttpNameNode.open("wb")`` writers killed with ``kill -9`` or
failing on a cluster without data nodes. In every case the old content (sha256) or the absence of
the file stays; a writer that finishes replaces the file in one commit.
"""
from __future__ import annotations

import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
from typing import Any
from urllib.parse import urlsplit

import pytest

from dfs_common.errors import AlreadyExists, NotFound
from tests.cluster import REPO, Cluster, web
from tests.integration.payload import MiB, Pattern

BLOCK = MiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def step_one(cluster: Cluster, path: str, op: str, **params: str) -> str:
    """The data node URL the name node redirects a CREATE/APPEND to."""
    method = "PUT" if op == "CREATE" else "POST"
    first = web.request(method, f"{cluster.namenode_url}/webhdfs/v1{path}",
                             params={"op": op, "user.name": "root", **params},
                             allow_redirects=False, timeout=30)
    assert first.status_code == 307, first.text
    return str(first.headers["Location"])


def send_cut_off(location: str, method: str, head: dict[str, str], body: list[bytes]) -> int:
    """Send the request line, ``head`` and the ``body`` pieces on a raw socket, then shut our
    sending side as a dropped client would; answer the status the data node replies with once it
    has dealt with the broken body (so the checks after it see the end of the request)."""
    parts = urlsplit(location)
    with socket.create_connection((parts.hostname, parts.port), timeout=120) as sock:
        target = parts.path + ("?" + parts.query if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close",
                 *(f"{name}: {value}" for name, value in head.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for piece in body:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            ready, _, _ = select.select([sock], [], [], 120)
            assert ready, "the data node never answered the cut-off upload"
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1."), reply[:200]
    return int(reply.split(b" ", 2)[1])


def chunked(pieces: list[bytes]) -> list[bytes]:
    return [b"%x\r\n" % len(piece) + piece + b"\r\n" for piece in pieces]


def write_old(cluster: Cluster, path: str, size: int = 3 * MiB + 5, seed: int = 1) -> bytes:
    old = Pattern(size, chunk=MiB, seed=seed).bytes()
    with cluster.client("root").open(path, "wb", block_size=BLOCK) as file:
        file.write(old)
    return old


def exists(cluster: Cluster, path: str) -> bool:
    try:
        cluster.client("root").get_status(path)
    except NotFound:
        return False
    return True


# -- WebHDFS CREATE / APPEND cut off -----------------------------------------------------------

@pytest.mark.timeout(300)
def test_create_cut_short_of_its_content_length_leaves_no_file(cluster: Cluster, unique_path: str) -> None:
    cluster.client("root").mkdirs(unique_path)
    path = unique_path + "/new.bin"
    location = step_one(cluster, path, "CREATE", blocksize=str(BLOCK))
    status = send_cut_off(location, "PUT", {"Content-Length": str(6 * MiB)},
                          [Pattern(5 * MiB // 2, chunk=MiB, seed=2).bytes()])
    assert status == 400
    assert not exists(cluster, path)


@pytest.mark.timeout(300)
def test_overwrite_cut_short_of_its_content_length_keeps_the_old_content(cluster: Cluster,
                                                                           unique_path: str) -> None:
    cluster.client("root").mkdirs(unique_path)
    path = unique_path + "/old.bin"
    old = write_old(cluster, path)
    location = step_one(cluster, path, "CREATE", overwrite="true")
    status = send_cut_off(location, "PUT", {"Content-Length": str(8 * MiB)},
                          [Pattern(5 * MiB // 2, chunk=MiB, seed=3).bytes()])
    assert status == 400
    assert sha(cluster.client("root").cat(path)) == sha(old)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cut", ["inside a chunk", "between chunks", "after the zero chunk"])
def test_chunked_create_without_its_last_chunk_is_not_committed(cluster: Cluster, unique_path: str,
                                                                 cut: str) -> None:
    cluster.client("root").mkdirs(unique_path)
    old_path, new_path = unique_path + "/old.bin", unique_path + "/new.bin"
    old = write_old(cluster, old_path)
    pieces = chunked([Pattern(700_000, chunk=MiB, seed=4 + n).bytes() for n in range(4)])
    if cut == "inside a chunk":
        pieces[-1] = pieces[-1][:300_000]
    elif cut == "after the zero chunk":
        pieces.append(b"0\r\n")  # the trailer section's final CRLF never comes
    head = {"Transfer-Encoding": "chunked"}
    for path, params in ((old_path, {"overwrite": "true"}), (new_path, {})):
        location = step_one(cluster, path, "CREATE", blocksize=str(BLOCK), **params)
        assert send_cut_off(location, "PUT", head, pieces) == 400
    assert sha(cluster.client("root").cat(old_path)) == sha(old)
    assert not exists(cluster, new_path)


@pytest.mark.timeout(300)
def test_append_cut_off_leaves_the_file_as_it_was(cluster: Cluster, unique_path: str) -> None:
    cluster.client("root").mkdirs(unique_path)
    path = unique_path + "/log.bin"
    old = write_old(cluster, path, size=3 * MiB // 2)
    before = cluster.client("root").get_status(path)
    location = step_one(cluster, path, "APPEND")
    status = send_cut_off(location, "POST", {"Content-Length": str(8 * MiB)},
                          [Pattern(2 * MiB + 7, chunk=MiB, seed=5).bytes()])
    assert status == 400
    assert cluster.client("root").get_status(path)["length"] == before["length"]
    assert sha(cluster.client("root").cat(path)) == sha(old)


@pytest.mark.timeout(300)
def test_create_without_overwrite_at_the_data_node_is_refused_before_the_body(cluster: Cluster,
                                                                              unique_path: str) -> None:
    """Step 2 checks at open (FileExistsError → 403) what the commit would refuse anyway: here
    the file was made between the two steps (a redirect is signed for its path: it cannot be
    pointed at an existing file instead)."""
    cluster.client("root").mkdirs(unique_path)
    path = unique_path + "/taken.bin"
    location = step_one(cluster, path, "CREATE")
    old = write_old(cluster, path, size=1000)
    answer = web.put(location, data=b"x" * 5000, timeout=60)
    assert answer.status_code == 403 and "FileAlreadyExists" in answer.text
    assert cluster.client("root").cat(path) == old


# -- HttpNameNode.open("wb"/"xb") --------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from dfs_client import HttpNameNode
    nn = HttpNameNode({url!r}, user="root", token={token!r})
    file = nn.open({path!r}, "wb")
    for n in range(5):
        file.write(bytes([n]) * {block})
    time.sleep(1)
    print("written", flush=True)
    time.sleep(600)
""")


@pytest.mark.timeout(300)
def test_wb_over_a_file_whose_writer_is_killed_keeps_the_old_content(cluster: Cluster,
                                                                      unique_path: str) -> None:
    client = cluster.client("root")
    client.mkdirs(unique_path)
    path = unique_path + "/precious.bin"
    old = write_old(cluster, path)
    script = WRITER.format(repo=str(REPO), url=cluster.namenode_url, path=path, block=BLOCK, token=cluster.token)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
        # five blocks shipped, not committed: every other reader still sees the old file
        assert sha(client.cat(path)) == sha(old)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=60)
    assert sha(client.cat(path)) == sha(old)
    assert client.get_status(path)["length"] == len(old)


@pytest.mark.timeout(300)
def test_wb_whose_blocks_cannot_be_stored_keeps_the_old_content(make_cluster: Any) -> None:
    cluster = make_cluster(datanodes=1, env={"DFS_BLOCK_SIZE": str(BLOCK), "DFS_REPLICATION": "1"})
    client = cluster.client("root")
    old = write_old(cluster, "/precious.bin")
    cluster.datanodes[0].kill()
    cluster.wait_for(lambda: not cluster.alive_ids(), timeout=60, message="the data node to be dead")
    with pytest.raises(OSError):
        with client.open("/precious.bin", "wb") as file:
            for _ in range(3):
                file.write(os.urandom(BLOCK))
    with pytest.raises(OSError):
        client.tee("/never.bin", os.urandom(BLOCK + 1))
    assert client.get_status("/precious.bin")["length"] == len(old)
    assert not exists(cluster, "/never.bin")
    cluster.datanodes[0].restart()
    cluster.wait_ready()
    assert sha(client.cat("/precious.bin")) == sha(old)


@pytest.mark.timeout(300)
def test_a_failed_write_is_never_committed_by_a_later_close(make_cluster: Any) -> None:
    """The ship error stays: a flush that failed is not turned into a commit of what was left by
    a retry once the cluster is back (the caller was told the write failed)."""
    cluster = make_cluster(datanodes=1, env={"DFS_BLOCK_SIZE": str(BLOCK), "DFS_REPLICATION": "1"})
    client = cluster.client("root")
    old = write_old(cluster, "/precious.bin")
    file = client.open("/precious.bin", "wb")
    file.write(os.urandom(BLOCK // 2))
    cluster.datanodes[0].kill()
    cluster.wait_for(lambda: not cluster.alive_ids(), timeout=60, message="the data node to be dead")
    with pytest.raises(OSError):
        file.flush()
    cluster.datanodes[0].restart()
    cluster.wait_ready()
    with pytest.raises(OSError):
        file.close()
    assert file.closed
    assert sha(client.cat("/precious.bin")) == sha(old)


@pytest.mark.timeout(300)
def test_wb_replaces_the_file_only_at_its_commit(cluster: Cluster, unique_path: str) -> None:
    client = cluster.client("root")
    client.mkdirs(unique_path)
    path, fresh = unique_path + "/f.bin", unique_path + "/fresh.bin"
    old = write_old(cluster, path)
    new = Pattern(2 * MiB + 3, chunk=MiB, seed=9).bytes()
    with client.open(path, "w+b") as file:
        assert file.size == 0 and file.read() == b""  # truncated for this handle at once
        file.write(new)
        assert sha(client.cat(path)) == sha(old)  # for everyone else: the old file until the commit
    assert sha(client.cat(path)) == sha(new)
    with client.open(fresh, "wb") as file:
        file.write(b"abc")
        assert not exists(cluster, fresh)  # a new file appears at its first commit
    assert client.cat(fresh) == b"abc"
    with client.open(path, "wb"):
        pass
    assert client.get_status(path)["length"] == 0  # a closed empty "wb" still truncates
    with client.open(unique_path + "/empty", "xb"):
        pass
    assert client.get_status(unique_path + "/empty")["length"] == 0  # and creates


@pytest.mark.timeout(300)
def test_wb_checks_at_open_what_its_commit_would_refuse(cluster: Cluster, unique_path: str) -> None:
    client = cluster.client("root")
    client.mkdirs(unique_path + "/dir")
    client.tee(unique_path + "/file", b"1")
    with pytest.raises(FileNotFoundError):
        client.open(unique_path + "/missing/f", "wb")
    with pytest.raises(NotADirectoryError):
        client.open(unique_path + "/file/f", "wb")
    with pytest.raises(IsADirectoryError):
        client.open(unique_path + "/dir", "wb")
    with pytest.raises(FileExistsError):
        client.open(unique_path + "/file", "xb")
    with pytest.raises(FileExistsError):
        client.open(unique_path + "/file", "wb", overwrite=False)
    client.set_permission(unique_path + "/dir", 0o755)
    with pytest.raises(PermissionError):
        cluster.client("nobody").open(unique_path + "/dir/f", "wb")
    with pytest.raises(PermissionError):
        cluster.client("nobody").open(unique_path + "/file", "wb")
    assert client.cat(unique_path + "/file") == b"1"


@pytest.mark.timeout(300)
def test_xb_stays_exclusive_until_its_commit(cluster: Cluster, unique_path: str) -> None:
    client, other = cluster.client("root"), cluster.client("root")
    client.mkdirs(unique_path)
    path = unique_path + "/race"
    file = client.open(path, "xb")
    other.tee(path, b"theirs")
    file.write(b"mine")
    with pytest.raises(AlreadyExists):
        file.close()
    assert client.cat(path) == b"theirs"
