"""``DFSConnector`` under ProxyStore: the Connector protocol's promises (``get`` of a missing key is
None, batches keep their order, ``exists``/``evict``), proxies that round-trip objects, and a
connector rebuilt from ``config()`` in another process reaching the same objects."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from proxystore.connectors.protocols import Connector, DeferrableConnector
from proxystore.proxy import Proxy, is_resolved
from proxystore.store import Store

from dfs_client.proxystore import DFSConnector, DFSKey
from dfs_common.errors import IllegalArgument
from tests.cluster import REPO, Cluster
from tests.ecosystem.conftest import client_options


@pytest.fixture
def connector(cluster: Cluster, unique_path: str) -> Any:
    with DFSConnector(cluster.namenode_url, unique_path + "/objects", **client_options(cluster)) as made:
        yield made


def test_connector_follows_the_protocol(connector: DFSConnector, cluster: Cluster) -> None:
    assert isinstance(connector, Connector) and isinstance(connector, DeferrableConnector)
    key = connector.put(b"payload")
    assert isinstance(key, DFSKey) and connector.exists(key)
    assert connector.get(key) == b"payload"
    assert cluster.client().cat(connector.directory + "/" + key.object_id) == b"payload"  # a plain DFS file
    connector.evict(key)
    assert not connector.exists(key) and connector.get(key) is None
    connector.evict(key)  # evicting twice is harmless
    missing = connector.new_key()
    assert connector.get(missing) is None and not connector.exists(missing)
    connector.set(missing, memoryview(b"deferred"))
    assert connector.get(missing) == b"deferred"

    blobs = [bytes([index]) * (index * 1000) for index in range(20)]  # the empty object too
    keys = connector.put_batch(blobs)
    assert len(set(keys)) == 20
    assert connector.get_batch(keys) == blobs
    connector.evict(keys[3])
    assert connector.get_batch([keys[2], keys[3], keys[4]]) == [blobs[2], None, blobs[4]]
    with pytest.raises(IllegalArgument):
        connector.get(DFSKey("../escape"))


def test_store_proxies_round_trip_objects(connector: DFSConnector) -> None:
    array = np.arange(300_000, dtype=np.float64).reshape(600, 500)
    # populate_target off: every proxy resolves by reading its object back from DFS
    with Store("dfs-roundtrip", connector, cache_size=0, populate_target=False) as store:
        proxy = store.proxy(array)
        assert isinstance(proxy, Proxy) and not is_resolved(proxy)
        assert float(proxy.sum()) == float(array.sum()) and is_resolved(proxy)
        np.testing.assert_array_equal(np.asarray(proxy), array)
        record = {"name": "run 7", "samples": list(range(1000)), "nested": {"ok": True}}
        proxies = store.proxy_batch([record, "text", 42])
        assert proxies[0]["nested"] == {"ok": True} and proxies[1].upper() == "TEXT" and proxies[2] + 1 == 43
        key = store.put(b"\x00" * 5_000_000)
        assert store.get(key) == b"\x00" * 5_000_000 and store.exists(key)
        store.evict(key)
        assert store.get(key) is None and not store.exists(key)


CHILD = """
import json, pickle, sys
from dfs_client.proxystore import DFSConnector, DFSKey
from dfs_common.errors import IllegalArgument
request = json.loads(sys.stdin.readline())
connector = DFSConnector.from_config(request["config"])
found = connector.get(DFSKey(request["key"]))
written = connector.put(b"from the child")
proxy = pickle.loads(bytes.fromhex(request["proxy"]))
print(json.dumps({"found": found.decode(), "written": written.object_id, "proxy": proxy["answer"]}))
connector.close()
"""


def test_from_config_in_another_process_reaches_the_same_objects(connector: DFSConnector) -> None:
    key = connector.put(b"from the parent")
    with Store("dfs-shared", connector, register=True) as store:
        proxy = store.proxy({"answer": 42})
        request = {"config": connector.config(), "key": key.object_id, "proxy": pickle.dumps(proxy).hex()}
        child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(request) + "\n", cwd=REPO,
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr
        answer = json.loads(child.stdout)
        assert answer["found"] == "from the parent" and answer["proxy"] == 42
        assert connector.get(DFSKey(answer["written"])) == b"from the child"
    assert DFSConnector.from_config(connector.config()).config() == connector.config()


def test_close_with_clear_removes_every_object(cluster: Cluster, unique_path: str) -> None:
    directory = unique_path + "/scratch"
    made = DFSConnector(cluster.namenode_url, directory, clear=True, **client_options(cluster))
    made.put_batch([b"a", b"b"])
    assert cluster.client().ls(unique_path) == ["scratch"]
    made.close()
    made.close()  # idempotent
    assert cluster.client().ls(unique_path) == []
