"""The HTTP face of erasure coding policies, as HDFS spells it: SETERASURECODINGPOLICY (PUT,
``ecpolicy=RS-3-2``), GETERASURECODINGPOLICY (GET), UNSETERASURECODINGPOLICY (POST), on a directory
(GET also on a file: the policy it was created with). Each is one transaction (``erasure``)."""
from __future__ import annotations

from werkzeug.wrappers import Response

from dfs_common.web import json_response

from .. import erasure
from ..store import Store
from .call import Call

ERASURE_OPERATIONS: dict[str, str] = {
    "SETERASURECODINGPOLICY": "PUT", "GETERASURECODINGPOLICY": "GET", "UNSETERASURECODINGPOLICY": "POST",
}


class ErasureOps:
    def __init__(self, store: Store) -> None:
        self.store = store

    def op_seterasurecodingpolicy(self, call: Call) -> Response:
        name = call.params.required("ecpolicy")
        with self.store.write() as txn:
            erasure.set_policy(txn, call.path, call.caller, name)
        return Response(b"", status=200, content_type="application/octet-stream")

    def op_geterasurecodingpolicy(self, call: Call) -> Response:
        with self.store.read() as txn:
            name = erasure.get_policy(txn, call.path, call.caller)
        return json_response({"ErasureCodingPolicy": erasure.describe(name)})

    def op_unseterasurecodingpolicy(self, call: Call) -> Response:
        with self.store.write() as txn:
            erasure.unset_policy(txn, call.path, call.caller)
        return Response(b"", status=200, content_type="application/octet-stream")
