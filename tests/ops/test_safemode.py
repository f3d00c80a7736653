"""Safe mode: a name node restarted under load refuses changes until the data nodes reported,
serves reads meanwhile, then serves everything with the block map it had."""
from __future__ import annotations

import threading
import time


from dfs_client.transport import NodeUnreachable
from tests.cluster import web
from tests.ops.helpers import HEARTBEAT, SMALL_BLOCKS, Reader, payload, write_files


class Writer(threading.Thread):
    """Writes new files until stopped; a refused connection (the name node down) is retried, any
    other error is a failure. Safe mode is waited out by the client itself."""

    def __init__(self, nn, directory: str) -> None:
        super().__init__(daemon=True)
        self.nn, self.directory = nn, directory
        self.stopping = threading.Event()
        self.written: dict[str, bytes] = {}
        self.failures: list[str] = []

    def run(self) -> None:
        index = 0
        while not self.stopping.is_set():
            path, data = f"{self.directory}/w{index:04d}", payload(1000 + index, 300_000)
            try:
                self.nn.tee(path, data)
                self.written[path] = data
                index += 1
            except NodeUnreachable:
                time.sleep(0.2)  # the name node is restarting: the same file again
            except Exception as error:  # noqa: BLE001
                self.failures.append(f"{path}: {type(error).__name__}: {error}")
                index += 1

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


def test_restart_under_load_passes_through_safe_mode(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT, env=SMALL_BLOCKS)
    nn = cluster.client(user="root")
    files = write_files(nn, "/before", 10, 400_000)
    assert cluster.status()["safemode"]["on"] is False
    nn.mkdirs("/during")
    writer = Writer(cluster.client(user="root"), "/during")
    writer.start()
    cluster.wait_for(lambda: len(writer.written) >= 3 or writer.failures, 30, message="the writer under way")
    assert writer.failures == []

    # data nodes silent for a moment (SIGSTOP) so the restarted name node has nothing reported yet
    for node in cluster.datanodes:
        node.pause()
    try:
        cluster.namenode.restart()
        status = cluster.status()
        assert status["safemode"]["on"] is True and status["safemode"]["manual"] is False
        assert status["safemode"]["blocks_total"] >= 20
        refused = web.put(f"{cluster.namenode_url}/webhdfs/v1/before/x?op=MKDIRS&user.name=root", timeout=5)
        assert refused.status_code == 503
        assert refused.json()["RemoteException"]["exception"] == "SafeModeException"
        listing = web.get(f"{cluster.namenode_url}/webhdfs/v1/before?op=LISTSTATUS", timeout=5)
        assert listing.status_code == 200 and len(listing.json()["FileStatuses"]["FileStatus"]) == 10
    finally:
        for node in cluster.datanodes:
            node.resume()
    cluster.wait_for(lambda: not cluster.status()["safemode"]["on"], 30, message="safe mode over")
    reader = Reader(cluster.client(), files)
    reader.start()
    count = len(writer.written)
    cluster.wait_for(lambda: len(writer.written) >= count + 3, 60, message="writes go on after safe mode")
    writer.stop()
    reader.stop()
    assert writer.failures == [] and reader.failures == []

    # the block map is what it was, and complete: every file whole, nothing missing
    everything = {**files, **writer.written}
    for path, data in everything.items():
        assert nn.cat(path) == data, path
    report = nn.fsck("/")
    assert report["missing"] == 0 and report["corrupt"] == 0, report
    cluster.wait_for(lambda: nn.fsck("/")["under_replicated"] == 0, 30, message="fully replicated")
    assert nn.fsck("/")["files"] == len(everything)


def test_operator_enters_and_leaves_safe_mode(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT)
    nn = cluster.client(user="root")
    nn.tee("/kept", b"kept")
    assert nn.safemode("enter")["on"] is True
    refused = web.put(f"{cluster.namenode_url}/webhdfs/v1/new?op=MKDIRS&user.name=root", timeout=5)
    assert refused.status_code == 503
    body = refused.json()["RemoteException"]
    assert body["exception"] == "SafeModeException" and body["automatic"] is False
    try:
        nn.mkdirs("/new")  # an operator's safe mode is not waited out: refused at once
        raise AssertionError("mkdirs in safe mode succeeded")
    except OSError as error:
        assert type(error).__name__ == "SafeMode"
    assert nn.cat("/kept") == b"kept"
    assert cluster.status()["safemode"]["on"] is True
    assert nn.safemode("leave")["on"] is False
    nn.mkdirs("/new")
