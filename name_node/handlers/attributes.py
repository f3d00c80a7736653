"""What an inode carries: permission, owner, times, replication, extended attributes, access.

The rules are ``name_node.attributes``; these handlers parse the call, run one rule in one
transaction and answer as WebHDFS does.
"""
from __future__ import annotations

import json
import time

from werkzeug.wrappers import Response

from dfs_common.errors import AclDisabled
from dfs_common.web import json_response

from .. import attributes, namespace
from ..heal import Healer
from ..permissions import check, parse_fsaction
from ..store import Store
from .call import Call, boolean, empty, replication_param, time_ns


ACL_OPERATIONS: dict[str, str] = {
    "SETACL": "PUT", "MODIFYACLENTRIES": "PUT", "REMOVEACLENTRIES": "PUT", "REMOVEDEFAULTACL": "PUT",
    "REMOVEACL": "PUT",
}
ACLS_DISABLED = ("The ACL operation has been rejected.  Support for ACLs has been disabled by setting "
                 "dfs.namenode.acls.enabled to false.")


class AttributeOps:
    """SETPERMISSION, SETOWNER, SETTIMES, SETREPLICATION, the xattr calls, CHECKACCESS, GETACLSTATUS;
    the ACL changes are refused as by an HDFS with ACLs disabled: DFS has permission bits only
    (GETACLSTATUS answers them, with no entries, as HDFS does for a path that has no ACL)."""

    def __init__(self, store: Store, healer: Healer) -> None:
        self.store = store
        self.healer = healer

    def op_setpermission(self, call: Call) -> Response:
        mode = call.params.permission(default=0o755)
        with self.store.write() as txn:
            attributes.set_mode(txn, call.path, call.caller, mode, time.time_ns())
        return empty()

    def op_setowner(self, call: Call) -> Response:
        owner = call.params.user("owner")
        group = call.params.user("group")
        with self.store.write() as txn:
            attributes.set_owner(txn, call.path, call.caller, owner, group, time.time_ns())
        return empty()

    def op_settimes(self, call: Call) -> Response:
        mtime = time_ns(call, "modificationtime")
        atime = time_ns(call, "accesstime")
        with self.store.write() as txn:
            attributes.set_times(txn, call.path, call.caller, mtime, atime, time.time_ns())
        return empty()

    def op_setreplication(self, call: Call) -> Response:
        replication = replication_param(call, required=True)
        with self.store.write() as txn:
            numbers = attributes.set_replication(txn, call.path, call.caller, replication,  # type: ignore[arg-type]
                                                 time.time_ns())
        if numbers is None:
            return boolean(False)
        self.healer.suspect(numbers)
        return boolean(True)

    def op_getxattrs(self, call: Call) -> Response:
        wanted = [attributes.check_xattr_name(n) for n in call.request.args.getlist("xattr.name")]
        encoding = call.params.text("encoding")
        attributes.encode_xattr_value(b"", encoding)  # an unknown encoding is a 400 even with no values
        with call.read(self.store) as txn:
            values = attributes.get_xattrs(txn, call.path, call.caller, wanted)
        return json_response({"XAttrs": [{"name": n, "value": attributes.encode_xattr_value(v, encoding)}
                                         for n, v in values]})

    def op_listxattrs(self, call: Call) -> Response:
        with call.read(self.store) as txn:
            names = attributes.list_xattrs(txn, call.path, call.caller)
        return json_response({"XAttrNames": json.dumps(names)})

    def op_setxattr(self, call: Call) -> Response:
        name = attributes.check_xattr_name(call.params.text("xattr.name"))
        value = attributes.decode_xattr_value(call.params.text("xattr.value"))
        flags = {f.strip().upper() for f in (call.params.text("flag") or "").split(",") if f.strip()}
        with self.store.write() as txn:
            attributes.set_xattr(txn, call.path, call.caller, name, value, flags, time.time_ns())
        return empty()

    def op_removexattr(self, call: Call) -> Response:
        name = attributes.check_xattr_name(call.params.text("xattr.name"))
        with self.store.write() as txn:
            attributes.remove_xattr(txn, call.path, call.caller, name, time.time_ns())
        return empty()

    def op_checkaccess(self, call: Call) -> Response:
        want = parse_fsaction(call.params.required("fsaction"))
        with call.read(self.store) as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            check(call.caller, inode, want, call.path)
        return empty()

    def op_setacl(self, call: Call) -> Response:
        raise AclDisabled(ACLS_DISABLED)

    op_modifyaclentries = op_removeaclentries = op_removedefaultacl = op_removeacl = op_setacl

    def op_getaclstatus(self, call: Call) -> Response:
        with call.read(self.store) as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller)
        return json_response({"AclStatus": {"entries": [], "group": inode.group, "owner": inode.owner,
                                            "permission": format(inode.mode & 0o7777, "o"),
                                            "stickyBit": bool(inode.mode & 0o1000)}})
