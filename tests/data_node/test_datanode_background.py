"""Reporter (heartbeats, block reports, commands) and scrubber."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from werkzeug.test import Client

from dfs_common.blocks import checksum

BLOCK = "00000000000000d4"
OTHER = "00000000000000e5"
DATA = b"scrub me " * 1000


def store(node: Any, block_id: str = BLOCK, data: bytes = DATA) -> None:
    response = Client(node).put(f"/blocks/{block_id}", data=data, headers={"X-DFS-Checksum": checksum(data)})
    assert response.status_code == 201, response.get_data()


def flip_a_byte(node: Any, block_id: str = BLOCK, at: int = 100) -> None:
    path = Path(node.settings.fs_root) / "blocks" / block_id[-2:] / block_id
    with open(path, "r+b") as file:
        file.seek(at)
        byte = file.read(1)
        file.seek(at)
        file.write(bytes([byte[0] ^ 0x01]))


def test_first_tick_heartbeats_then_reports_every_block(make_node: Any, namenode: Any) -> None:
    node = make_node()
    store(node)
    assert node.reporter.tick()
    beat = namenode.heartbeats[-1]
    assert beat["id"] == node.node_id and beat["blocks"] == 1
    assert beat["url"] == node.settings.node_url and beat["public_url"] == node.settings.client_url
    assert beat["capacity"] >= beat["remaining"] > 0 and beat["used"] == len(DATA)
    assert namenode.reports[-1] == {"id": node.node_id, "blocks": [[BLOCK, len(DATA), checksum(DATA)]]}
    node.reporter.tick()
    assert len(namenode.reports) == 1  # not again until asked or due
    namenode.ask_report = True
    node.reporter.tick()
    assert len(namenode.reports) == 2


def test_block_report_answer_deletes_unreferenced_blocks(make_node: Any, namenode: Any) -> None:
    node = make_node()
    store(node)
    store(node, OTHER, b"keep")
    namenode.delete_on_report = [BLOCK, "../../node-id"]
    node.reporter.tick()
    assert not node.root.exists(BLOCK) and node.root.exists(OTHER)
    assert os.path.exists(Path(node.settings.fs_root) / "node-id")


def test_delete_replicate_and_verify_commands(live_nodes: Any, namenode: Any) -> None:
    (a, sa), (b, sb) = live_nodes(2)
    store(a)
    store(a, OTHER, b"doomed")
    flip_a_byte(a, OTHER, 0)
    a.reporter.tick()
    namenode.commands += [{"op": "delete", "blocks": [BLOCK + "x"]},
                          {"op": "replicate", "blockId": BLOCK, "targets": [sb.url]},
                          {"op": "verify", "blockId": OTHER},
                          {"op": "no-such-op"}]
    a.reporter.tick()
    deadline = time.monotonic() + 10
    while (b.node_id not in namenode.holders(BLOCK) or not namenode.bad_blocks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.root.info(BLOCK).checksum == checksum(DATA)
    assert b.node_id in namenode.holders(BLOCK)
    assert namenode.bad_blocks[0]["id"] == a.node_id and namenode.bad_blocks[0]["blockId"] == OTHER
    assert not a.root.exists(OTHER)
    namenode.commands.append({"op": "delete", "blocks": [BLOCK]})
    a.reporter.tick()
    assert not a.root.exists(BLOCK)


def block_file(node: Any, block_id: str = BLOCK) -> Path:
    return Path(node.settings.fs_root) / "blocks" / block_id[-2:] / block_id


def wait_until(predicate: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_block_file_deleted_behind_our_back_is_not_reported_again(make_node: Any, namenode: Any) -> None:
    node = make_node()
    store(node)
    store(node, OTHER, b"kept")
    assert node.reporter.tick()
    assert len(namenode.reports[-1]["blocks"]) == 2
    block_file(node).unlink()  # the data file only; its sidecar stays
    namenode.ask_report = True
    node.reporter.tick()
    assert namenode.reports[-1]["blocks"] == [[OTHER, 4, checksum(b"kept")]]
    assert not node.root.exists(BLOCK) and node.root.count() == 1
    assert node.root.usage().used == 4
    assert not block_file(node).with_name(BLOCK + ".meta").exists()


def test_reading_a_vanished_block_forgets_it(make_node: Any, namenode: Any) -> None:
    node = make_node()
    store(node)
    block_file(node).unlink()
    assert Client(node).get(f"/blocks/{BLOCK}").status_code == 404
    assert not node.root.exists(BLOCK)
    node.reporter.tick()
    assert namenode.reports[-1]["blocks"] == []


def test_verify_confirms_a_good_copy_and_reports_a_vanished_one(live_nodes: Any, namenode: Any) -> None:
    (a, _), = live_nodes(1)
    store(a)
    store(a, OTHER, b"gone")
    block_file(a, OTHER).unlink()
    a.reporter.tick()
    confirmed_before = len(namenode.received)
    namenode.commands += [{"op": "verify", "blockId": BLOCK}, {"op": "verify", "blockId": OTHER},
                          {"op": "replicate", "blockId": OTHER, "targets": ["http://127.0.0.1:9"]}]
    a.reporter.tick()
    wait_until(lambda: len(namenode.received) > confirmed_before and len(namenode.bad_blocks) >= 2)
    confirmations = [b for r in namenode.received[confirmed_before:] for b in r["blocks"]]
    assert confirmations == [{"blockId": BLOCK, "length": len(DATA), "checksum": checksum(DATA)}]
    assert {(b["blockId"], b["reason"]) for b in namenode.bad_blocks} == {(OTHER, "missing on this data node")}
    assert not a.root.exists(OTHER) and a.root.exists(BLOCK)


def test_scrubber_visits_the_least_recently_verified_block_first(make_node: Any, namenode: Any) -> None:
    node = make_node()
    store(node)
    store(node, OTHER, b"second")
    assert [i.block_id for i in node.root.list()] == [BLOCK, OTHER]
    assert node.scrubber.verify(BLOCK)
    assert [i.block_id for i in node.root.list()] == [OTHER, BLOCK]


def test_name_node_down_is_survived_and_logged_once(make_node: Any, caplog: Any) -> None:
    node = make_node(namenode_url="http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING, logger="dfs.data_node.reporter"):
        assert node.reporter.tick() is False
        assert node.reporter.tick() is False
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


def test_background_thread_heartbeats_until_stopped(make_node: Any, namenode: Any) -> None:
    node = make_node().start()
    deadline = time.monotonic() + 5
    while len(namenode.heartbeats) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    node.stop()
    count = len(namenode.heartbeats)
    assert count >= 3 and namenode.reports
    time.sleep(0.3)
    assert len(namenode.heartbeats) == count


def test_scrubber_catches_a_flipped_byte_and_it_is_never_served(make_node: Any, namenode: Any) -> None:
    node = make_node()
    store(node)
    store(node, OTHER, b"healthy")
    assert node.scrubber.scrub_once() == []
    flip_a_byte(node)
    assert node.scrubber.scrub_once() == [BLOCK]
    assert Client(node).get(f"/blocks/{BLOCK}").status_code == 404
    assert Client(node).get(f"/blocks/{OTHER}").get_data() == b"healthy"
    assert [b["blockId"] for b in namenode.bad_blocks] == [BLOCK]
    assert "mismatch" in namenode.bad_blocks[0]["reason"]
    quarantined = os.listdir(Path(node.settings.fs_root) / "quarantine")
    assert any(name.startswith(BLOCK) for name in quarantined)
    node.reporter.tick()
    assert namenode.reports[-1]["blocks"] == [[OTHER, 7, checksum(b"healthy")]]


def test_a_truncated_block_is_caught_too(make_node: Any, namenode: Any) -> None:
    node = make_node()
    store(node)
    os.truncate(Path(node.settings.fs_root) / "blocks" / BLOCK[-2:] / BLOCK, 10)
    assert node.scrubber.scrub_once() == [BLOCK]
    assert not node.root.exists(BLOCK)


def test_scrubber_survives_the_name_node_being_down(make_node: Any) -> None:
    node = make_node(namenode_url="http://127.0.0.1:9")
    node.root.store(BLOCK, open(__file__, "rb"), 1 << 20, None)
    flip_a_byte(node)
    assert node.scrubber.scrub_once() == [BLOCK]
    assert not node.root.exists(BLOCK)
