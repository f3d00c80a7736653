"""COMMIT validation, the deletion queue, data node endpoints, healing and redirects."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

from nn_helpers import NN


def test_commit_rejects_unconfirmed_block(nn: NN) -> None:
    nn.heartbeat("dn1")
    block = nn.ok("POST", "/f", "ADDBLOCK")["Block"]
    status, body = nn.commit("/f", [{"blockId": block["blockId"], "length": 10, "checksum": "00000000000000aa"}],
                             create=True)
    assert status == 400 and "confirmed" in body["RemoteException"]["message"]
    assert nn.call("GET", "/f", "GETFILESTATUS")[0] == 404


def test_commit_rejects_mismatch_and_unknown(nn: NN) -> None:
    nn.heartbeat("dn1")
    block = nn.write_block("/f", 100)
    assert nn.commit("/f", [dict(block, length=99)], create=True)[0] == 400
    assert nn.commit("/f", [dict(block, checksum="00000000000000bb")], create=True)[0] == 400
    assert nn.commit("/f", [dict(block, blockId="00000000000000ff")], create=True)[0] == 400


def test_commit_accepts_confirmed_blocks_and_holes(nn: NN) -> None:
    nn.heartbeat("dn1")
    block = nn.write_block("/f", 100)
    status, body = nn.commit("/f", [block, {"blockId": None, "length": 50}], create=True)
    assert status == 200 and body["FileStatus"]["length"] == 150
    located = nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")
    locations = located["BlockLocations"]["BlockLocation"]
    assert [(loc["blockId"], loc["offset"], loc["length"]) for loc in locations] == [(block["blockId"], 0, 100), (None, 100, 50)]
    # the file's FileStatus rides along, so a reader's open needs no GETFILESTATUS
    assert located["FileStatus"] == nn.ok("GET", "/f", "GETFILESTATUS")["FileStatus"]


def test_commit_create_without_overwrite_on_existing(nn: NN) -> None:
    nn.commit("/f", [], create=True)
    status, body = nn.commit("/f", [], create=True)
    assert status == 403 and body["RemoteException"]["exception"] == "FileAlreadyExistsException"
    file_id = nn.ok("GET", "/f", "GETFILESTATUS")["FileStatus"]["fileId"]
    assert nn.commit("/f", [], fileId=file_id)[0] == 200
    assert nn.commit("/f", [], fileId=file_id + 100)[0] == 409


def test_overwrite_and_recursive_delete_queue_blocks(nn: NN) -> None:
    nn.heartbeat("dn1")
    nn.heartbeat("dn2")
    nn.ok("PUT", "/d", "MKDIRS")
    first = nn.write_block("/d/f", nodes=("dn1", "dn2"))
    nn.commit("/d/f", [first], create=True)
    second = nn.write_block("/d/f", nodes=("dn1",))
    nn.commit("/d/f", [second], overwrite=True)
    assert nn.heartbeat("dn2")["commands"] == [{"op": "delete", "blocks": [first["blockId"]], "gone": True}]
    assert nn.heartbeat("dn1")["commands"] == [{"op": "delete", "blocks": [first["blockId"]], "gone": True}]
    nn.ok("DELETE", "/d", "DELETE", recursive=True)
    assert nn.heartbeat("dn1")["commands"] == [{"op": "delete", "blocks": [second["blockId"]], "gone": True}]


def test_truncate_shrinks_to_prefix_and_grows_with_hole(nn: NN) -> None:
    nn.heartbeat("dn1")
    block = nn.write_block("/f", 100)
    nn.commit("/f", [block], create=True)
    assert nn.ok("POST", "/f", "TRUNCATE", newlength=40) == {"boolean": True}
    assert nn.ok("POST", "/f", "TRUNCATE", newlength=1000) == {"boolean": True}
    body = nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")
    locations = body["BlockLocations"]["BlockLocation"]
    assert body["fileLength"] == 1000
    assert [(loc["blockId"], loc["length"]) for loc in locations] == [(block["blockId"], 40), (None, 960)]
    assert locations[0]["blockLength"] == 100


def test_block_report_reconciles(nn: NN) -> None:
    nn.heartbeat("dn1")
    block = nn.write_block("/f", 100)
    nn.commit("/f", [block], create=True)
    status, body = nn.post("/internal/block_report", {"id": "dn1", "blocks": [
        ["00000000000000ee", 5, "00000000000000aa"]]})
    assert status == 200 and body == {"delete": ["00000000000000ee"]}
    dns = nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"][0]["dataNodes"]
    assert dns == []
    nn.post("/internal/block_report", {"id": "dn1", "blocks": [[block["blockId"], 100, block["checksum"]]]})
    dns = nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"][0]["dataNodes"]
    assert [d["id"] for d in dns] == ["dn1"]


def test_block_received_rejects_unknown(nn: NN) -> None:
    nn.heartbeat("dn1")
    status, body = nn.post("/internal/block_received", {"id": "dn1", "blocks": [
        {"blockId": "00000000000000ee", "length": 1, "checksum": "00000000000000aa"}]})
    assert status == 200 and body == {"rejected": ["00000000000000ee"]}


def test_block_received_naming_only_unknown_holders_is_rejected_not_a_500(nn: NN) -> None:
    """Found by the endpoint fuzzer: every holder filtered out as unknown left nothing to land."""
    nn.heartbeat("dn1")
    block = nn.ok("POST", "/f", "ADDBLOCK")["Block"]
    status, body = nn.post("/internal/block_received", {"id": "dn1", "blocks": [
        {"blockId": block["blockId"], "length": 1, "checksum": "00000000000000aa", "holders": ["nobody"]}]})
    assert status == 200 and body == {"rejected": [block["blockId"]]}
    status, body = nn.post("/internal/block_received", {"id": "dn1", "blocks": [  # a real holder still can
        {"blockId": block["blockId"], "length": 1, "checksum": "00000000000000aa"}]})
    assert status == 200 and body == {}


def test_healer_replicates_and_trims(nn: NN) -> None:
    for node in ("dn1", "dn2", "dn3"):
        nn.heartbeat(node)
    block = nn.write_block("/f", nodes=("dn1",))
    nn.commit("/f", [block], create=True, replication=2)
    nn.node.healer.tick()
    commands = nn.heartbeat("dn1")["commands"]
    assert commands[0]["op"] == "replicate" and commands[0]["blockId"] == block["blockId"]
    assert len(commands[0]["targets"]) == 1
    for node in ("dn2", "dn3"):
        nn.post("/internal/block_received", {"id": node, "blocks": [block]})
    nn.node.healer.tick()
    # three copies for a replication of 2: the two it keeps are verified before the third goes
    verifies = {n: [c for c in nn.heartbeat(n)["commands"] if c["op"] == "verify"] for n in ("dn1", "dn2", "dn3")}
    keepers = [n for n, commands in verifies.items() if commands]
    assert len(keepers) == 2 and all(c == [{"op": "verify", "blockId": block["blockId"]}]
                                     for c in verifies.values() if c)
    nn.post("/internal/block_received", {"id": keepers[0], "blocks": [block]})
    nn.node.healer.tick()
    assert not [c for n in ("dn1", "dn2", "dn3") for c in nn.heartbeat(n)["commands"] if c["op"] == "delete"]
    nn.post("/internal/block_received", {"id": keepers[1], "blocks": [block]})
    nn.node.healer.tick()
    deletes = {n: c for n in ("dn1", "dn2", "dn3") for c in nn.heartbeat(n)["commands"] if c["op"] == "delete"}
    assert list(deletes.values()) == [{"op": "delete", "blocks": [block["blockId"]]}]
    assert set(deletes) | set(keepers) == {"dn1", "dn2", "dn3"}
    assert len(nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"][0]["dataNodes"]) == 2


def test_trim_never_removes_a_real_copy_while_a_kept_one_is_bad(nn: NN) -> None:
    for node in ("dn1", "dn2", "dn3"):
        nn.heartbeat(node)
    block = nn.write_block("/g", nodes=("dn1", "dn2", "dn3"))
    nn.commit("/g", [block], create=True, replication=2)
    nn.node.healer.tick()
    keepers = [n for n in ("dn1", "dn2", "dn3") if any(c["op"] == "verify" for c in nn.heartbeat(n)["commands"])]
    assert len(keepers) == 2
    # one kept copy is a phantom: its node answers the verify with a bad-block report
    nn.post("/internal/block_received", {"id": keepers[0], "blocks": [block]})
    nn.post("/internal/bad_block", {"id": keepers[1], "blockId": block["blockId"], "reason": "missing"})
    for _ in range(3):
        nn.node.healer.tick()
    assert not [c for n in ("dn1", "dn2", "dn3") for c in nn.heartbeat(n)["commands"] if c["op"] == "delete"]
    dns = nn.ok("GET", "/g", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"][0]["dataNodes"]
    assert {d["id"] for d in dns} == {"dn1", "dn2", "dn3"} - {keepers[1]}


def test_bad_block_and_client_report(nn: NN) -> None:
    nn.heartbeat("dn1")
    nn.heartbeat("dn2")
    block = nn.write_block("/f", nodes=("dn1", "dn2"))
    nn.commit("/f", [block], create=True, replication=2)
    nn.ok("POST", "/", "REPORTBADBLOCK", blockid=block["blockId"], datanode="dn1")
    assert {"op": "verify", "blockId": block["blockId"]} in nn.heartbeat("dn1")["commands"]
    assert nn.post("/internal/bad_block", {"id": "dn1", "blockId": block["blockId"], "reason": "x"})[0] == 200
    assert nn.node.healer.under_replicated >= 1


def test_a_copy_re_replicated_to_the_node_that_reported_it_bad_is_kept(nn: NN) -> None:
    """The node quarantined its bad copy itself: no deletion may be queued that would later
    remove the good copy the healer sends back to the same node."""
    for node in ("dn1", "dn2"):
        nn.heartbeat(node)
    block = nn.write_block("/f", nodes=("dn1", "dn2"))
    nn.commit("/f", [block], create=True, replication=2)
    assert nn.post("/internal/bad_block", {"id": "dn1", "blockId": block["blockId"], "reason": "x"})[0] == 200
    nn.node.healer.tick()
    replicate = [c for c in nn.heartbeat("dn2")["commands"] if c["op"] == "replicate"]
    assert replicate and replicate[0]["blockId"] == block["blockId"]
    assert nn.post("/internal/block_received", {"id": "dn1", "blocks": [block]}) == (200, {})
    assert not [c for c in nn.heartbeat("dn1")["commands"] if c["op"] == "delete"]
    holders = nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"][0]["dataNodes"]
    assert {holder["id"] for holder in holders} == {"dn1", "dn2"}


def test_receiving_a_block_cancels_its_queued_deletion_on_that_node(nn: NN) -> None:
    for node in ("dn1", "dn2", "dn3"):
        nn.heartbeat(node)
    block = nn.write_block("/f", nodes=("dn1", "dn2", "dn3"))
    nn.commit("/f", [block], create=True, replication=2)
    nn.node.healer.suspect([int(block["blockId"], 16)])
    nn.node.healer.tick()  # asks the two copies it keeps to verify themselves
    for keeper in ("dn1", "dn2", "dn3"):
        if any(c["op"] == "verify" for c in nn.heartbeat(keeper)["commands"]):
            nn.post("/internal/block_received", {"id": keeper, "blocks": [block]})
    nn.node.healer.tick()  # trims the third copy and queues its deletion
    trimmed = {"dn1", "dn2", "dn3"} - {h["id"] for h in nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")[
        "BlockLocations"]["BlockLocation"][0]["dataNodes"]}
    assert len(trimmed) == 1
    node = trimmed.pop()
    nn.post("/internal/block_received", {"id": node, "blocks": [block]})  # sent back before it heard
    assert not [c for c in nn.heartbeat(node)["commands"] if c["op"] == "delete"]


class _CommitDuringSnapshot:
    """The healer's store, except that its next read scope runs ``action`` in another thread
    right after the snapshot is taken: an event the healer's evaluation cannot have seen."""

    def __init__(self, store: Any, action: Callable[[], None]) -> None:
        self.store, self.action = store, action

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.store.read() as txn:
            action, self.action = self.action, lambda: None
            thread = threading.Thread(target=action)
            thread.start()
            thread.join()
            yield txn

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_a_commit_landing_while_the_healer_evaluates_its_block_is_not_forgotten(nn: NN) -> None:
    """A pipeline's confirmation makes its pending block a suspect; a COMMIT that lands short
    while the healer judges that suspect on an older snapshot (still pending: nothing to heal)
    must keep it a suspect, or the block stays short until the next full scan, 15 minutes on."""
    for node in ("dn1", "dn2", "dn3", "dn4"):
        nn.heartbeat(node)
    block = nn.write_block("/f", nodes=("dn1", "dn2"))  # the healer suspects it, still pending
    healer = nn.node.healer
    store = healer.store

    def commit() -> None:
        assert nn.commit("/f", [block], create=True, replication=3)[0] == 200

    healer.store = _CommitDuringSnapshot(store, commit)  # type: ignore[assignment]
    try:
        healer.tick()
    finally:
        healer.store = store
    assert healer.under_replicated == 1
    healer.tick()
    commands = [c for n in ("dn1", "dn2") for c in nn.heartbeat(n)["commands"] if c["op"] == "replicate"]
    assert [c["blockId"] for c in commands] == [block["blockId"]]
    assert len(commands[0]["targets"]) == 1


def test_dead_node_gets_no_blocks(nn: NN) -> None:
    nn.heartbeat("dn1")
    nn.heartbeat("dn2")
    nn.node.members.get("dn2").seen_at -= 100  # type: ignore[union-attr]
    pipeline = nn.ok("POST", "/f", "ADDBLOCK")["Block"]["pipeline"]
    assert [p["id"] for p in pipeline] == ["dn1"]
    nn.node.members.get("dn1").seen_at -= 100  # type: ignore[union-attr]
    status, body, _ = nn.call("POST", "/f", "ADDBLOCK")
    assert status == 507
    assert nn.client.get("/df").json["datanodes_dead"] == 2


def test_create_redirect_echoes_params(nn: NN) -> None:
    nn.heartbeat("dn1")
    status, _, headers = nn.call("PUT", "/new file", "CREATE", overwrite=False, replication=2, blocksize=8192)
    assert status == 307
    url = urlparse(headers["Location"])
    query = parse_qs(url.query)
    assert url.netloc == "dn1:8181" and url.path == "/webhdfs/v1/new%20file"
    assert query["op"] == ["CREATE"] and query["replication"] == ["2"] and query["user.name"] == ["root"]
    assert "namenoderpcaddress" in query
    body = nn.ok("PUT", "/new file", "CREATE", noredirect=True)
    assert body["Location"].startswith("http://dn1:8181/webhdfs/v1/")
    nn.commit("/new file", [], create=True)
    status, body, _ = nn.call("PUT", "/new file", "CREATE")
    assert status == 403 and body["RemoteException"]["exception"] == "FileAlreadyExistsException"


def test_pending_blocks_expire(nn: NN) -> None:
    from name_node import blockmap
    nn.heartbeat("dn1")
    block = nn.write_block("/f")
    with nn.node.store.write() as txn:
        assert blockmap.expire_pending(txn, time.time_ns() + blockmap.PENDING_LIFETIME_NS + 10**9) == 1
    assert nn.heartbeat("dn1")["commands"] == [{"op": "delete", "blocks": [block["blockId"]], "gone": True}]


def test_renewed_pending_blocks_outlive_the_lifetime_and_others_do_not(nn: NN) -> None:
    """A live writer's shipped blocks wait for its COMMIT, which may come hours later."""
    from name_node import blockmap
    nn.heartbeat("dn1")
    held, abandoned, committed = nn.write_block("/f"), nn.write_block("/f"), nn.write_block("/g")
    nn.commit("/g", [committed], create=True)
    hour = blockmap.PENDING_LIFETIME_NS
    assert nn.ok("POST", "/", "RENEWBLOCKS", body={"blocks": [held["blockId"], committed["blockId"]]}) \
        == {"renewed": 1}  # the committed block is no longer pending
    with nn.node.store.write() as txn:  # the renewal 50 minutes later
        assert blockmap.renew(txn, [int(held["blockId"], 16)], time.time_ns() + hour * 5 // 6) == 1
    with nn.node.store.write() as txn:  # seventy minutes after they were handed out
        assert blockmap.expire_pending(txn, time.time_ns() + hour * 7 // 6) == 1
    assert nn.heartbeat("dn1")["commands"] == [{"op": "delete", "blocks": [abandoned["blockId"]], "gone": True}]
    assert nn.commit("/f", [held], create=True)[0] == 200
    for bad in ({"blocks": "x"}, {"blocks": ["not-a-block"]}, {"blocks": ["0" * 16] * 10_001}, ["x"]):
        assert nn.call("POST", "/", "RENEWBLOCKS", body=bad)[0] == 400


def test_abandoned_pending_blocks_are_deleted_now_and_committed_ones_stay(nn: NN) -> None:
    nn.heartbeat("dn1")
    given_up, committed = nn.write_block("/f"), nn.write_block("/g")
    nn.commit("/g", [committed], create=True)
    assert nn.ok("POST", "/", "ABANDONBLOCKS", body={"blocks": [given_up["blockId"], committed["blockId"]]}) \
        == {"abandoned": 1}
    assert nn.heartbeat("dn1")["commands"] == [{"op": "delete", "blocks": [given_up["blockId"]], "gone": True}]
    assert nn.commit("/f", [given_up], create=True)[0] == 400  # gone: it can no longer be committed
    assert nn.ok("GET", "/g", "GETFILESTATUS")["FileStatus"]["length"] == committed["length"]
    assert nn.call("POST", "/", "ABANDONBLOCKS", body={"blocks": ["../x"]})[0] == 400


def test_an_abandoned_block_is_deleted_on_every_node_it_was_sent_to(nn: NN) -> None:
    """A node that stored a block while its pipeline failed never confirmed it: the abandon
    reaches it anyway, marked gone (a copy landing later is refused)."""
    for node in ("dn1", "dn2", "dn3"):
        nn.heartbeat(node)
    block = nn.ok("POST", "/f", "ADDBLOCK")["Block"]
    placed = [node["id"] for node in block["pipeline"]]
    assert len(placed) == 3
    nn.ok("POST", "/", "ABANDONBLOCKS", body={"blocks": [block["blockId"]]})
    for node in placed:
        assert {"op": "delete", "blocks": [block["blockId"]], "gone": True} in nn.heartbeat(node)["commands"]


def test_a_confirmed_block_counts_its_length_not_the_block_size(nn: NN) -> None:
    """Space placed on a node is a reservation of the block size until the block is confirmed,
    then its real length until the next heartbeat reports it (or nothing, once abandoned)."""
    nn.heartbeat("dn1", remaining=10 << 20)
    member = nn.node.members.get("dn1")
    block = nn.write_block("/f", data_len=1000)
    assert (member.reserved, member.landed) == (0, 1000)
    pending = nn.ok("POST", "/f", "ADDBLOCK")["Block"]
    assert member.reserved == nn.node.settings.block_size
    nn.ok("POST", "/", "ABANDONBLOCKS", body={"blocks": [pending["blockId"]]})
    assert member.reserved == 0
    nn.heartbeat("dn1", remaining=10 << 20)
    assert (member.reserved, member.landed) == (0, 0)
    assert block["blockId"] != pending["blockId"]


def test_the_crc32c_a_data_node_confirms_is_kept_and_located(nn: NN) -> None:
    """The CRC32C behind WebHDFS's COMPOSITE-CRC checksum: kept from the first confirmation that
    carries one, never replaced, a garbled one ignored; absent for a block confirmed without."""
    nn.heartbeat("dn1")
    nn.heartbeat("dn2")
    kept = nn.ok("POST", "/f", "ADDBLOCK")["Block"]["blockId"]
    for node, value in (("dn1", "zz"), ("dn1", "0badc0de"), ("dn2", "12345678")):
        status, body = nn.post("/internal/block_received", {"id": node, "blocks": [
            {"blockId": kept, "length": 100, "checksum": "00000000000000aa", "crc32c": value}]})
        assert status == 200 and not body.get("rejected"), body
    older = nn.write_block("/f", 50)  # a data node that sends none (or a block from before)
    assert nn.commit("/f", [{"blockId": kept, "length": 100, "checksum": "00000000000000aa"}, older],
                     create=True)[0] == 200
    locations = nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"]
    assert locations[0]["crc32c"] == "0badc0de" and "crc32c" not in locations[1]


def test_block_records_without_a_crc32c_decode_as_before() -> None:
    import marshal

    from name_node.store import BlockRecord

    old = marshal.dumps((100, "00000000000000aa", ["dn1"], 7, 0))  # as written before the CRC was kept
    assert BlockRecord.decode(old) == BlockRecord(100, "00000000000000aa", ["dn1"], 7, 0, -1)
    assert marshal.loads(BlockRecord(100, "00000000000000aa", ["dn1"], 7, 0).encode()) == marshal.loads(old)
    record = BlockRecord(100, "00000000000000aa", ["dn1"], 7, 0, 0xFFFFFFFF)
    assert BlockRecord.decode(record.encode()) == record
