"""The WebHDFS conversations the golden files hold, in the order they run against one fresh cluster:
every operation the name node answers and every error class it can raise, each as a request a
client would send and the answer HDFS clients depend on (status, the headers that matter, the JSON).

A case is ``(name, method, path, params, body)``; ``body`` of a two-step operation (CREATE, APPEND,
OPEN) goes to the data node the 307 names. ``tests/webhdfs/golden.py`` replays and records them.
"""
from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    name: str
    method: str
    path: str
    params: dict[str, str]
    body: bytes | None = None
    anonymous: bool = False  # sent without the token (the 401 cases)
    follow: bool = False  # a two-step operation: also send ``body`` to the 307's Location


D = "/golden"
CASES: list[Case] = [
    # -- the tree --------------------------------------------------------------------------------
    Case("mkdirs", "PUT", f"{D}/dir", {"op": "MKDIRS", "permission": "755"}),
    Case("mkdirs-existing-is-true", "PUT", f"{D}/dir", {"op": "MKDIRS"}),
    Case("create-step1", "PUT", f"{D}/dir/file.txt", {"op": "CREATE", "replication": "2"}),
    Case("create", "PUT", f"{D}/dir/file.txt", {"op": "CREATE", "replication": "2"}, b"hello golden\n",
         follow=True),
    Case("create-exists-no-overwrite", "PUT", f"{D}/dir/file.txt", {"op": "CREATE", "overwrite": "false"},
         b"again", follow=True),
    Case("append", "POST", f"{D}/dir/file.txt", {"op": "APPEND"}, b"appended\n", follow=True),
    Case("open", "GET", f"{D}/dir/file.txt", {"op": "OPEN"}, follow=True),
    Case("open-range", "GET", f"{D}/dir/file.txt", {"op": "OPEN", "offset": "6", "length": "6"}, follow=True),
    Case("open-at-end-reads-nothing", "GET", f"{D}/dir/file.txt", {"op": "OPEN", "offset": "22"}, follow=True),
    Case("open-missing", "GET", f"{D}/dir/none", {"op": "OPEN"}),
    Case("open-directory", "GET", f"{D}/dir", {"op": "OPEN"}),
    Case("getfilestatus", "GET", f"{D}/dir/file.txt", {"op": "GETFILESTATUS"}),
    Case("getfilestatus-directory", "GET", f"{D}/dir", {"op": "GETFILESTATUS"}),
    Case("getfilestatus-missing", "GET", f"{D}/missing", {"op": "GETFILESTATUS"}),
    Case("liststatus", "GET", f"{D}/dir", {"op": "LISTSTATUS"}),
    Case("liststatus-of-a-file", "GET", f"{D}/dir/file.txt", {"op": "LISTSTATUS"}),
    Case("liststatus-batch", "GET", f"{D}/dir", {"op": "LISTSTATUS_BATCH"}),
    Case("getcontentsummary", "GET", D, {"op": "GETCONTENTSUMMARY"}),
    Case("getquotausage", "GET", D, {"op": "GETQUOTAUSAGE"}),
    Case("getfilechecksum", "GET", f"{D}/dir/file.txt", {"op": "GETFILECHECKSUM"}, follow=True),
    Case("gethomedirectory", "GET", "/", {"op": "GETHOMEDIRECTORY"}),
    Case("gettrashroot", "GET", "/", {"op": "GETTRASHROOT"}),
    Case("getserverdefaults", "GET", "/", {"op": "GETSERVERDEFAULTS"}),
    # -- attributes ------------------------------------------------------------------------------
    Case("setpermission", "PUT", f"{D}/dir/file.txt", {"op": "SETPERMISSION", "permission": "640"}),
    Case("setpermission-bad-octal", "PUT", f"{D}/dir/file.txt", {"op": "SETPERMISSION", "permission": "999"}),
    Case("setowner", "PUT", f"{D}/dir/file.txt", {"op": "SETOWNER", "owner": "alice", "group": "lab"}),
    Case("setreplication", "PUT", f"{D}/dir/file.txt", {"op": "SETREPLICATION", "replication": "3"}),
    Case("setreplication-of-a-directory", "PUT", f"{D}/dir", {"op": "SETREPLICATION", "replication": "3"}),
    Case("settimes", "PUT", f"{D}/dir/file.txt", {"op": "SETTIMES", "modificationtime": "1000000",
                                                   "accesstime": "2000000"}),
    Case("getfilestatus-after-attributes", "GET", f"{D}/dir/file.txt", {"op": "GETFILESTATUS"}),
    Case("setxattr", "PUT", f"{D}/dir/file.txt", {"op": "SETXATTR", "xattr.name": "user.run",
                                                   "xattr.value": "\"o4\"", "flag": "CREATE"}),
    Case("setxattr-create-existing", "PUT", f"{D}/dir/file.txt", {"op": "SETXATTR", "xattr.name": "user.run",
                                                                   "xattr.value": "\"o5\"", "flag": "CREATE"}),
    Case("getxattrs", "GET", f"{D}/dir/file.txt", {"op": "GETXATTRS", "encoding": "text"}),
    Case("getxattrs-hex", "GET", f"{D}/dir/file.txt", {"op": "GETXATTRS", "xattr.name": "user.run",
                                                        "encoding": "hex"}),
    Case("getxattrs-missing-name", "GET", f"{D}/dir/file.txt", {"op": "GETXATTRS", "xattr.name": "user.none"}),
    Case("listxattrs", "GET", f"{D}/dir/file.txt", {"op": "LISTXATTRS"}),
    Case("removexattr", "PUT", f"{D}/dir/file.txt", {"op": "REMOVEXATTR", "xattr.name": "user.run"}),
    Case("setxattr-bad-namespace", "PUT", f"{D}/dir/file.txt", {"op": "SETXATTR", "xattr.name": "bogus.x",
                                                                 "xattr.value": "1", "flag": "CREATE"}),
    Case("checkaccess", "GET", f"{D}/dir/file.txt", {"op": "CHECKACCESS", "fsaction": "rw-"}),
    Case("checkaccess-bad-action", "GET", f"{D}/dir/file.txt", {"op": "CHECKACCESS", "fsaction": "rwz"}),
    Case("getaclstatus", "GET", f"{D}/dir/file.txt", {"op": "GETACLSTATUS"}),
    Case("setacl-refused", "PUT", f"{D}/dir/file.txt", {"op": "SETACL", "aclspec": "user:bob:rw-"}),
    # -- changes of the tree ----------------------------------------------------------------------
    Case("createsymlink", "PUT", f"{D}/link", {"op": "CREATESYMLINK", "destination": f"{D}/dir/file.txt"}),
    Case("getfilelinkstatus", "GET", f"{D}/link", {"op": "GETFILELINKSTATUS"}),
    Case("getlinktarget", "GET", f"{D}/link", {"op": "GETLINKTARGET"}),
    Case("create-small-a", "PUT", f"{D}/cat/a", {"op": "CREATE"}, b"AAAA", follow=True),
    Case("create-small-b", "PUT", f"{D}/cat/b", {"op": "CREATE"}, b"BB", follow=True),
    Case("concat", "POST", f"{D}/cat/a", {"op": "CONCAT", "sources": f"{D}/cat/b"}),
    Case("concat-missing-source", "POST", f"{D}/cat/a", {"op": "CONCAT", "sources": f"{D}/cat/nothing"}),
    Case("truncate", "POST", f"{D}/cat/a", {"op": "TRUNCATE", "newlength": "3"}),
    Case("truncate-longer", "POST", f"{D}/cat/a", {"op": "TRUNCATE", "newlength": "100"}),
    Case("rename", "PUT", f"{D}/cat/a", {"op": "RENAME", "destination": f"{D}/cat/renamed"}),
    Case("rename-onto-existing", "PUT", f"{D}/cat/renamed", {"op": "RENAME", "destination": f"{D}/dir/file.txt"}),
    Case("rename-missing-source", "PUT", f"{D}/cat/none", {"op": "RENAME", "destination": f"{D}/cat/x"}),
    Case("mkdirs-under-a-file", "PUT", f"{D}/dir/file.txt/sub", {"op": "MKDIRS"}),
    Case("delete-not-empty", "DELETE", f"{D}/cat", {"op": "DELETE", "recursive": "false"}),
    Case("delete", "DELETE", f"{D}/cat/renamed", {"op": "DELETE"}),
    Case("delete-missing-is-false", "DELETE", f"{D}/cat/renamed", {"op": "DELETE"}),
    Case("delete-recursive", "DELETE", f"{D}/cat", {"op": "DELETE", "recursive": "true"}),
    # -- erasure coding and ingest buffers (DFS's additions, in WebHDFS's shape) --------------------
    Case("mkdirs-coded", "PUT", f"{D}/coded", {"op": "MKDIRS"}),
    Case("seterasurecodingpolicy", "PUT", f"{D}/coded", {"op": "SETERASURECODINGPOLICY", "ecpolicy": "RS-2-1"}),
    Case("geterasurecodingpolicy", "GET", f"{D}/coded", {"op": "GETERASURECODINGPOLICY"}),
    Case("seterasurecodingpolicy-unknown", "PUT", f"{D}/coded", {"op": "SETERASURECODINGPOLICY",
                                                                  "ecpolicy": "XOR-9"}),
    Case("unseterasurecodingpolicy", "POST", f"{D}/coded", {"op": "UNSETERASURECODINGPOLICY"}),
    Case("createbuffer", "PUT", f"{D}/buf", {"op": "CREATEBUFFER", "maxbytes": "4"}),
    Case("getbufferstatus", "GET", f"{D}/buf", {"op": "GETBUFFERSTATUS"}),
    Case("freezebuffer-below-threshold", "PUT", f"{D}/buf", {"op": "FREEZEBUFFER"}),
    Case("getbufferstatus-of-a-directory", "GET", f"{D}/dir", {"op": "GETBUFFERSTATUS"}),
    # -- delegation tokens -----------------------------------------------------------------------
    Case("getdelegationtoken", "GET", "/", {"op": "GETDELEGATIONTOKEN", "renewer": "root"}),
    Case("renewdelegationtoken-unknown", "PUT", "/", {"op": "RENEWDELEGATIONTOKEN", "token": "nonsense"}),
    # -- requests that are wrong in themselves ---------------------------------------------------
    Case("no-op", "GET", f"{D}/dir", {}),
    Case("unknown-op", "GET", f"{D}/dir", {"op": "FROBNICATE"}),
    Case("op-on-the-wrong-method", "GET", f"{D}/dir", {"op": "MKDIRS"}),
    Case("bad-integer", "GET", f"{D}/dir/file.txt", {"op": "OPEN", "offset": "ten"}),
    Case("negative-offset", "GET", f"{D}/dir/file.txt", {"op": "OPEN", "offset": "-1"}),
    Case("anonymous", "GET", f"{D}/dir", {"op": "LISTSTATUS"}, anonymous=True),
    Case("user-name-alone", "GET", f"{D}/dir", {"op": "LISTSTATUS", "user.name": "root"}, anonymous=True),
    # -- snapshots (after the rest: the numbering of the cases above stays) ------------------------
    Case("createsnapshot-not-snapshottable", "PUT", f"{D}/dir", {"op": "CREATESNAPSHOT", "snapshotname": "s1"}),
    Case("allowsnapshot", "PUT", f"{D}/dir", {"op": "ALLOWSNAPSHOT"}),
    Case("createsnapshot", "PUT", f"{D}/dir", {"op": "CREATESNAPSHOT", "snapshotname": "s1"}),
    Case("createsnapshot-taken-name", "PUT", f"{D}/dir", {"op": "CREATESNAPSHOT", "snapshotname": "s1"}),
    Case("delete-under-snapshot", "DELETE", f"{D}/dir/file.txt", {"op": "DELETE"}),
    Case("liststatus-dot-snapshot", "GET", f"{D}/dir/.snapshot", {"op": "LISTSTATUS"}),
    Case("getfilestatus-in-snapshot", "GET", f"{D}/dir/.snapshot/s1/file.txt", {"op": "GETFILESTATUS"}),
    Case("open-in-snapshot", "GET", f"{D}/dir/.snapshot/s1/file.txt", {"op": "OPEN"}, follow=True),
    Case("write-in-snapshot-refused", "PUT", f"{D}/dir/.snapshot/s1/new", {"op": "MKDIRS"}),
    Case("getsnapshotdiff", "GET", f"{D}/dir", {"op": "GETSNAPSHOTDIFF", "oldsnapshotname": "s1",
                                                "snapshotname": ""}),
    Case("getsnapshottabledirectorylist", "GET", "/", {"op": "GETSNAPSHOTTABLEDIRECTORYLIST"}),
    Case("getsnapshotlist", "GET", f"{D}/dir", {"op": "GETSNAPSHOTLIST"}),
    Case("renamesnapshot", "PUT", f"{D}/dir", {"op": "RENAMESNAPSHOT", "oldsnapshotname": "s1",
                                               "snapshotname": "s2"}),
    Case("disallowsnapshot-with-snapshots", "PUT", f"{D}/dir", {"op": "DISALLOWSNAPSHOT"}),
    Case("deletesnapshot", "DELETE", f"{D}/dir", {"op": "DELETESNAPSHOT", "snapshotname": "s2"}),
    Case("deletesnapshot-missing", "DELETE", f"{D}/dir", {"op": "DELETESNAPSHOT", "snapshotname": "s2"}),
    Case("disallowsnapshot", "PUT", f"{D}/dir", {"op": "DISALLOWSNAPSHOT"}),
    # -- storage policies ------------------------------------------------------------------------
    Case("setstoragepolicy", "PUT", f"{D}/dir", {"op": "SETSTORAGEPOLICY", "storagepolicy": "ONE_S3"}),
    Case("mkdirs-below-a-policy", "PUT", f"{D}/dir/cold", {"op": "MKDIRS"}),
    Case("getstoragepolicy-inherited", "GET", f"{D}/dir/cold", {"op": "GETSTORAGEPOLICY"}),
    Case("setstoragepolicy-unknown", "PUT", f"{D}/dir", {"op": "SETSTORAGEPOLICY", "storagepolicy": "WARM"}),
    Case("getallstoragepolicy", "GET", "/", {"op": "GETALLSTORAGEPOLICY"}),
    Case("unsetstoragepolicy", "POST", f"{D}/dir", {"op": "UNSETSTORAGEPOLICY"}),
    Case("getstoragepolicy-default", "GET", f"{D}/dir", {"op": "GETSTORAGEPOLICY"}),
    # -- GETFILECHECKSUM's COMPOSITE-CRC form (after the rest, so the earlier files keep their numbers)
    Case("create-for-checksums", "PUT", f"{D}/crc.txt", {"op": "CREATE"}, b"123456789", follow=True),
    Case("getfilechecksum-composite-crc", "GET", f"{D}/crc.txt",
         {"op": "GETFILECHECKSUM", "checksum.combine.mode": "COMPOSITE_CRC"}, follow=True),
    Case("getfilechecksum-bad-combine-mode", "GET", f"{D}/crc.txt",
         {"op": "GETFILECHECKSUM", "checksum.combine.mode": "CRC32"}),
]
