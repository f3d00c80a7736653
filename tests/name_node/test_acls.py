"""ACLs: DFS has permission bits only and answers the ACL changes as an HDFS with
``dfs.namenode.acls.enabled=false`` does; GETACLSTATUS answers the bits with no entries."""
from __future__ import annotations

from nn_helpers import NN


def test_acl_changes_are_refused_as_by_an_hdfs_with_acls_disabled(nn: NN) -> None:
    nn.ok("PUT", "/d", "MKDIRS", permission="1750")
    for op, params in [("SETACL", {"aclspec": "user::rwx,group::r-x,other::---"}),
                       ("MODIFYACLENTRIES", {"aclspec": "user:carla:rw-"}),
                       ("REMOVEACLENTRIES", {"aclspec": "user:carla"}), ("REMOVEDEFAULTACL", {}),
                       ("REMOVEACL", {})]:
        status, body, _ = nn.call("PUT", "/d", op, **params)
        assert status == 403, (op, body)
        remote = body["RemoteException"]
        assert remote["exception"] == "AclException"
        assert remote["javaClassName"] == "org.apache.hadoop.hdfs.protocol.AclException"
        assert "dfs.namenode.acls.enabled" in remote["message"] and remote["errno"] == "ENOTSUP"
        assert nn.call("GET", "/d", op)[0] == 400  # a PUT op, as in HDFS
    group = nn.ok("GET", "/d", "GETFILESTATUS")["FileStatus"]["group"]
    assert nn.ok("GET", "/d", "GETACLSTATUS") == {"AclStatus": {
        "entries": [], "group": group, "owner": "root", "permission": "1750", "stickyBit": True}}
