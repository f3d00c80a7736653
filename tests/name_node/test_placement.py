"""Placement over sites, racks and kinds of root, storage policies, and the healer keeping both
(in-process name node; the data nodes are heartbeats and block confirmations)."""
from __future__ import annotations

from typing import Any

import pytest

from dfs_client.blockio import replica_order
from nn_helpers import NN

PLACES = {"a1": ("A", "r1"), "a2": ("A", "r2"), "b1": ("B", "r1"), "b2": ("B", "r2")}


def join(nn: NN, nodes: dict[str, tuple[str, str]], roots: dict[str, str] | None = None) -> None:
    for node, (site, rack) in nodes.items():
        nn.heartbeat(node, site=site, rack=rack, root=(roots or {}).get(node, "local"))


def pipeline(nn: NN, path: str, **params: Any) -> list[str]:
    return [n["id"] for n in nn.ok("POST", path, "ADDBLOCK", **params)["Block"]["pipeline"]]


def confirm(nn: NN, node: str, block: dict[str, Any]) -> None:
    status, body = nn.post("/internal/block_received", {"id": node, "blocks": [block]})
    assert status == 200 and not body.get("rejected"), body


def commands(nn: NN, node: str, op: str) -> list[dict[str, Any]]:
    member = nn.node.members.get(node)
    assert member is not None
    place = {"site": member.site, "rack": member.rack, "root": member.root}  # as it joined
    return [c for c in nn.heartbeat(node, **place)["commands"] if c["op"] == op]


def test_replicas_span_both_sites_then_racks(nn: NN) -> None:
    join(nn, PLACES)
    for _ in range(40):
        two = pipeline(nn, "/f", replication=2)
        assert {PLACES[n][0] for n in two} == {"A", "B"}, two
        four = pipeline(nn, "/f", replication=4)
        assert sorted(four) == sorted(PLACES)
        three = pipeline(nn, "/f", replication=3)
        assert {PLACES[n][0] for n in three} == {"A", "B"}
        assert len({PLACES[n] for n in three}) == 3


def test_within_one_site_replicas_span_its_racks(nn: NN) -> None:
    join(nn, {"x1": ("", "r1"), "x2": ("", "r1"), "x3": ("", "r1"), "y1": ("", "r2")})
    for _ in range(40):
        assert "y1" in pipeline(nn, "/f", replication=2)


def test_locations_name_the_site_rack_and_storage_type(nn: NN) -> None:
    join(nn, {"a1": ("A", "r1"), "s3a": ("", "")}, roots={"s3a": "s3"})
    block = nn.write_block("/f", nodes=("a1", "s3a"))
    assert nn.commit("/f", [block], create=True, replication=2)[0] == 200
    location = nn.ok("GET", "/f", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"][0]
    paths = dict(zip([n["id"] for n in location["dataNodes"]], location["topologyPaths"]))
    assert paths == {"a1": "/A/r1/a1:8181", "s3a": "/default-rack/s3a:8181"}
    types = dict(zip([n["id"] for n in location["dataNodes"]], location["storageTypes"]))
    assert types == {"a1": "DISK", "s3a": "ARCHIVE"}
    assert {(n["id"], n["site"]) for n in location["dataNodes"]} == {("a1", "A"), ("s3a", "")}


def test_storage_policies_are_set_inherited_listed_and_unset(nn: NN) -> None:
    nn.ok("PUT", "/data/raw", "MKDIRS")
    assert nn.ok("GET", "/data/raw", "GETSTORAGEPOLICY")["BlockStoragePolicy"]["name"] == "HOT"
    nn.ok("PUT", "/data", "SETSTORAGEPOLICY", storagepolicy="one_s3")
    assert nn.ok("GET", "/data/raw", "GETSTORAGEPOLICY")["BlockStoragePolicy"]["name"] == "ONE_S3"
    nn.ok("PUT", "/data/raw", "SETSTORAGEPOLICY", storagepolicy="ALL_LOCAL")
    policy = nn.ok("GET", "/data/raw", "GETSTORAGEPOLICY")["BlockStoragePolicy"]
    assert policy == {"id": 20, "name": "ALL_LOCAL", "storageTypes": ["DISK"], "creationFallbacks": [],
                      "replicationFallbacks": [], "copyOnCreateFile": False}
    nn.ok("POST", "/data/raw", "UNSETSTORAGEPOLICY")
    assert nn.ok("GET", "/data/raw", "GETSTORAGEPOLICY")["BlockStoragePolicy"]["name"] == "ONE_S3"
    listed = nn.ok("GET", "/", "GETALLSTORAGEPOLICY")["BlockStoragePolicies"]["BlockStoragePolicy"]
    assert [p["name"] for p in listed] == ["HOT", "ALL_LOCAL", "ONE_S3"]
    status, body, _ = nn.call("PUT", "/data", "SETSTORAGEPOLICY", storagepolicy="LAZY_PERSIST")
    assert status == 400 and body["RemoteException"]["exception"] == "IllegalArgumentException"
    status, body, _ = nn.call("PUT", "/data", "SETSTORAGEPOLICY", user="mallory", storagepolicy="HOT")
    assert status == 403, body
    status, _, _ = nn.call("GET", "/nowhere", "GETSTORAGEPOLICY")
    assert status == 404


def test_a_file_follows_its_directory_unless_it_has_its_own_policy(nn: NN) -> None:
    nn.ok("PUT", "/d/sub", "MKDIRS")
    for name in ("/d/sub/old", "/d/sub/own"):
        assert nn.commit(name, [], create=True)[0] == 200

    def policy(path: str) -> str:
        return nn.ok("GET", path, "GETSTORAGEPOLICY")["BlockStoragePolicy"]["name"]
    nn.ok("PUT", "/d/sub/own", "SETSTORAGEPOLICY", storagepolicy="ALL_LOCAL")
    nn.ok("PUT", "/d", "SETSTORAGEPOLICY", storagepolicy="ONE_S3")
    assert nn.commit("/d/sub/new", [], create=True)[0] == 200
    assert (policy("/d/sub/old"), policy("/d/sub/new"), policy("/d/sub/own")) == ("ONE_S3", "ONE_S3", "ALL_LOCAL")
    nn.ok("POST", "/d/sub/own", "UNSETSTORAGEPOLICY")
    assert policy("/d/sub/own") == "ONE_S3"
    nn.ok("POST", "/d", "UNSETSTORAGEPOLICY")
    assert {policy(f"/d/sub/{n}") for n in ("old", "new", "own")} == {"HOT"}


def test_all_local_never_places_in_a_bucket(nn: NN) -> None:
    join(nn, {"a1": ("", ""), "a2": ("", ""), "s3a": ("", "")}, roots={"s3a": "s3"})
    nn.ok("PUT", "/local", "MKDIRS")
    nn.ok("PUT", "/local", "SETSTORAGEPOLICY", storagepolicy="ALL_LOCAL")
    for _ in range(20):
        assert sorted(pipeline(nn, "/local/f", replication=3)) == ["a1", "a2"]
    assert "s3a" in pipeline(nn, "/elsewhere", replication=3)  # HOT: any root


def test_all_local_without_a_disk_node_finds_no_room(nn: NN) -> None:
    join(nn, {"s3a": ("", "")}, roots={"s3a": "s3"})
    nn.ok("PUT", "/local", "MKDIRS")
    nn.ok("PUT", "/local", "SETSTORAGEPOLICY", storagepolicy="ALL_LOCAL")
    status, body, _ = nn.call("POST", "/local/f", "ADDBLOCK")
    assert status == 507 and "ALL_LOCAL" in body["RemoteException"]["message"]


def test_one_s3_puts_exactly_one_copy_in_the_bucket_last_in_the_pipeline(nn: NN) -> None:
    join(nn, {"a1": ("", ""), "a2": ("", ""), "a3": ("", ""), "s3a": ("", ""), "s3b": ("", "")},
         roots={"s3a": "s3", "s3b": "s3"})
    nn.ok("PUT", "/cold", "MKDIRS")
    nn.ok("PUT", "/cold", "SETSTORAGEPOLICY", storagepolicy="ONE_S3")
    for _ in range(20):
        nodes = pipeline(nn, "/cold/f", replication=3)
        assert len(nodes) == 3 and sum(n.startswith("s3") for n in nodes) == 1 and nodes[-1].startswith("s3")
    # the first block of a new file, handed out by the COMMIT check, follows the policy too
    answer = nn.ok("POST", "/cold/g", "COMMIT", body={"check": True, "create": True, "addBlock": True,
                                                        "replication": 2, "blocks": []})
    assert answer["storagePolicy"] == "ONE_S3"
    assert sum(n["id"].startswith("s3") for n in answer["Block"]["pipeline"]) == 1


def test_one_s3_falls_back_to_disks_while_no_bucket_node_is_up(nn: NN) -> None:
    join(nn, {"a1": ("", ""), "a2": ("", "")})
    nn.ok("PUT", "/cold", "MKDIRS")
    nn.ok("PUT", "/cold", "SETSTORAGEPOLICY", storagepolicy="ONE_S3")
    assert sorted(pipeline(nn, "/cold/f", replication=2)) == ["a1", "a2"]


def test_the_healer_moves_a_copy_when_a_policy_changes(nn: NN) -> None:
    join(nn, {"a1": ("", ""), "a2": ("", ""), "a3": ("", ""), "s3a": ("", "")}, roots={"s3a": "s3"})
    nn.ok("PUT", "/cold", "MKDIRS")
    block = nn.write_block("/cold/f", nodes=("a1", "a2"))
    assert nn.commit("/cold/f", [block], create=True, replication=2)[0] == 200
    nn.node.healer.tick()
    assert not any(commands(nn, n, "replicate") for n in ("a1", "a2"))  # HOT: placed well enough
    nn.ok("PUT", "/cold", "SETSTORAGEPOLICY", storagepolicy="ONE_S3")
    nn.node.healer.tick()
    sent = [c for n in ("a1", "a2") for c in commands(nn, n, "replicate")]
    assert [c["targets"] for c in sent] == [["http://s3a:8181"]]
    confirm(nn, "s3a", block)
    nn.node.healer.tick()
    verifies = {n: commands(nn, n, "verify") for n in ("a1", "a2", "s3a")}
    keepers = sorted(n for n, found in verifies.items() if found)
    assert len(keepers) == 2 and "s3a" in keepers
    for node in keepers:
        confirm(nn, node, block)
    nn.node.healer.tick()
    deletes = {n for n in ("a1", "a2") if commands(nn, n, "delete")}
    assert deletes == {"a1", "a2"} - set(keepers)
    location = nn.ok("GET", "/cold/f", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"][0]
    assert sorted(n["id"] for n in location["dataNodes"]) == keepers
    nn.node.healer.tick()  # settled: nothing more moves
    assert not any(commands(nn, n, op) for n in ("a1", "a2", "a3", "s3a") for op in ("replicate", "delete"))


def test_the_healer_spreads_a_block_written_while_a_site_was_away(nn: NN) -> None:
    join(nn, {"a1": PLACES["a1"], "a2": PLACES["a2"]})
    block = nn.write_block("/f", nodes=("a1", "a2"))
    assert nn.commit("/f", [block], create=True, replication=2)[0] == 200
    join(nn, {"b1": PLACES["b1"]})  # site B comes (back): the full scan finds the block
    nn.node.healer.full_scan()
    nn.node.healer.tick()
    sent = [c for n in ("a1", "a2") for c in commands(nn, n, "replicate")]
    assert [c["targets"] for c in sent] == [["http://b1:8181"]]


def test_a_surplus_copy_is_trimmed_where_the_rest_stays_spread(nn: NN) -> None:
    placement = nn.node.placement
    join(nn, PLACES)
    assert placement.surplus(["a1", "a2", "b1"], 1, _hot()) in (["a1"], ["a2"])
    assert placement.surplus(["a1", "b1", "b2"], 1, _hot()) in (["b1"], ["b2"])
    assert placement.keeps(["a1", "b1"], "a1", "a2", _hot())
    assert not placement.keeps(["a1", "b1"], "b1", "a2", _hot())


def _hot() -> Any:
    from name_node.storagepolicy import HOT
    return HOT


@pytest.mark.parametrize("site, first", [("A", "a1"), ("B", "b1")])
def test_a_reader_naming_its_site_reads_there_first(site: str, first: str) -> None:
    nodes = [{"id": "a1", "url": "http://10.9.0.1:1", "site": "A"}, {"id": "b1", "url": "http://10.9.0.2:1", "site": "B"}]
    for _ in range(20):
        assert replica_order(nodes, set(), {}, site)[0]["id"] == first
    assert {replica_order(nodes, set(), {}, "")[0]["id"] for _ in range(200)} == {"a1", "b1"}
    assert replica_order(nodes, {first}, {}, site)[0]["id"] != first  # a suspect still goes last
