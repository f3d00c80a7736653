"""The file system as a whole: GETSTATUS, GETSERVERDEFAULTS, GETHOMEDIRECTORY, GETTRASHROOT, SYNC."""
from __future__ import annotations

from werkzeug.wrappers import Response

from dfs_common.settings import Settings
from dfs_common.web import json_response

from ..members import Members
from ..store import Store
from .call import Call


class ServerOps:
    """Answers that depend on the cluster or the caller, not on a path."""

    def __init__(self, members: Members, settings: Settings, store: Store) -> None:
        self.members = members
        self.settings = settings
        self.store = store

    def op_sync(self, call: Call) -> Response:
        """Extension: return once every namespace change acknowledged so far is on disk (the
        name node's half of a client's fsync when it has nothing left to COMMIT)."""
        self.store.sync()
        return json_response({"boolean": True})

    def op_gethomedirectory(self, call: Call) -> Response:
        return json_response({"Path": f"/user/{call.caller.user}"})

    def op_gettrashroot(self, call: Call) -> Response:
        return json_response({"Path": f"/user/{call.caller.user}/.Trash"})

    def op_getstatus(self, call: Call) -> Response:
        totals = self.members.totals()
        return json_response({"FsStatus": {k: totals[k] for k in ("used", "remaining", "capacity")}})

    def op_getserverdefaults(self, call: Call) -> Response:
        s = self.settings
        return json_response({"FsServerDefaults": {
            "replication": s.replication, "blockSize": s.block_size, "bytesPerChecksum": 512,
            "writePacketSize": 65536, "fileBufferSize": 4096, "checksumType": 2, "trashInterval": 0,
            "encryptDataTransfer": False, "keyProviderUri": "", "defaultStoragePolicyId": 7}})
