"""The HTTP face of storage policies, as WebHDFS spells it: SETSTORAGEPOLICY (PUT,
``storagepolicy=ONE_S3``), UNSETSTORAGEPOLICY (POST), GETSTORAGEPOLICY (GET, the effective one) and
GETALLSTORAGEPOLICY (GET; also answered as GETALLSTORAGEPOLICIES). A change makes the healer look
at every block below the path, so existing files move to where the new policy wants them."""
from __future__ import annotations

from werkzeug.wrappers import Response

from dfs_common.web import json_response

from .. import storagepolicy
from ..heal import Healer
from ..store import Store
from .call import Call, empty

STORAGE_POLICY_OPERATIONS: dict[str, str] = {
    "SETSTORAGEPOLICY": "PUT", "UNSETSTORAGEPOLICY": "POST", "GETSTORAGEPOLICY": "GET",
    "GETALLSTORAGEPOLICY": "GET", "GETALLSTORAGEPOLICIES": "GET",
}


class StoragePolicyOps:
    def __init__(self, store: Store, healer: Healer) -> None:
        self.store, self.healer = store, healer

    def op_setstoragepolicy(self, call: Call) -> Response:
        return self._change(call, call.params.required("storagepolicy"))

    def op_unsetstoragepolicy(self, call: Call) -> Response:
        return self._change(call, None)

    def op_getstoragepolicy(self, call: Call) -> Response:
        with self.store.read() as txn:
            policy = storagepolicy.get_policy(txn, call.path, call.caller)
        return json_response({"BlockStoragePolicy": policy.describe()})

    def op_getallstoragepolicy(self, call: Call) -> Response:
        return json_response({"BlockStoragePolicies": {"BlockStoragePolicy": [
            policy.describe() for policy in storagepolicy.POLICIES.values()]}})

    op_getallstoragepolicies = op_getallstoragepolicy

    def _change(self, call: Call, name: str | None) -> Response:
        with self.store.write() as txn:
            ino = storagepolicy.set_policy(txn, call.path, call.caller, name)
        with self.store.read() as txn:
            self.healer.suspect(list(storagepolicy.blocks_below(txn, ino)))
        return empty()
