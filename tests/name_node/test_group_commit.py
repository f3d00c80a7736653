"""Group commit (name_node/groupcommit.py): concurrent write scopes share commits, each change
stays atomic on its own, and a writer returns only once its change is committed."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from name_node.store import Store

WRITERS, EACH = 8, 200


@pytest.mark.parametrize("mode", ["batch", "always"])
def test_concurrent_changes_share_commits_and_a_failed_one_is_undone_alone(tmp_path: Path, mode: str) -> None:
    store = Store(str(tmp_path / "db"), 1 << 30, sync=mode)
    seen_after_return: list[bool] = []

    def writer(index: int) -> None:
        for number in range(EACH):
            key = b"w%d-%d" % (index, number)
            try:
                with store.write() as txn:
                    txn.put("meta", key, b"half")
                    if number % 5 == 0:
                        raise KeyError("this change fails after writing")
                    txn.put("meta", key + b"-pair", b"whole")
            except KeyError:
                continue
            with store.read() as txn:  # committed before the scope returned
                seen_after_return.append(txn.txn.get(key, db=txn.db["meta"]) == b"half")

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.read() as txn:
        keys = {key for key, _ in txn.scan("meta", b"w")}
    kept = {b"w%d-%d" % (i, n) for i in range(WRITERS) for n in range(EACH) if n % 5}
    assert keys == kept | {key + b"-pair" for key in kept}  # every failed change left nothing
    assert all(seen_after_return) and len(seen_after_return) == len(kept)
    durability = store.durability()
    assert store.group.changes >= len(kept)
    assert store.group.batches < store.group.changes  # concurrent writers shared commits
    if mode == "always":
        assert durability["synced"] == durability["commits"]
    store.close()


def test_a_lone_writer_commits_at_once(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"), 1 << 30, sync="batch")
    before = store.group.batches
    with store.write() as txn:
        txn.put("meta", b"one", b"1")
    assert store.group.batches == before + 1
    with store.read() as txn:
        assert txn.txn.get(b"one", db=txn.db["meta"]) == b"1"
    store.close()
