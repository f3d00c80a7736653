"""``HttpNameNode``'s snapshot commands (WebHDFS's ALLOWSNAPSHOT … GETSNAPSHOTDIFF).

A snapshot of a directory is read at ``<dir>/.snapshot/<name>/…`` with the ordinary read calls
(``get_status``, ``list_status``, ``open(path, "rb")``); writes there are ``SnapshotReadOnly``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any


class SnapshotCommands:
    """Mixin: the snapshot operations of ``HttpNameNode`` (``name_node/snapshots.py``)."""

    # Supplied by HttpNameNode (its declared operations, the Operation descriptors).
    if TYPE_CHECKING:
        def _allow_snapshot(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _disallow_snapshot(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _create_snapshot(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _rename_snapshot(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _delete_snapshot(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _get_snapshot_diff(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _get_snapshottable_directories(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _get_snapshot_list(self, path: str, json_body: Any = None, **params: Any) -> Any: ...

    def allow_snapshot(self, path: str) -> None:
        """Make a directory snapshottable (the superuser only, as in HDFS)."""
        self._allow_snapshot(path)

    def disallow_snapshot(self, path: str) -> None:
        self._disallow_snapshot(path)

    def create_snapshot(self, path: str, name: str | None = None) -> str:
        """Freeze the directory's subtree; answers the snapshot's path (``<dir>/.snapshot/<name>``)."""
        return str(self._create_snapshot(path, snapshotname=name))

    def rename_snapshot(self, path: str, old: str, new: str) -> None:
        self._rename_snapshot(path, oldsnapshotname=old, snapshotname=new)

    def delete_snapshot(self, path: str, name: str) -> None:
        """Drop a snapshot; the blocks only it kept are deleted from the data nodes."""
        self._delete_snapshot(path, snapshotname=name)

    def snapshot_diff(self, path: str, old: str, new: str = "") -> list[dict[str, str]]:
        """What changed from snapshot ``old`` to ``new`` ("" is the live tree): entries with
        ``type`` (CREATE, DELETE, MODIFY, RENAME), ``sourcePath`` and for a RENAME ``targetPath``."""
        return list(self._get_snapshot_diff(path, oldsnapshotname=old, snapshotname=new)["diffList"])

    def snapshottable_directories(self) -> list[dict[str, Any]]:
        return list(self._get_snapshottable_directories("/"))

    def snapshots(self, path: str) -> list[dict[str, Any]]:
        """A directory's snapshots: ``fullPath``, ``snapshotID``, ``dirStatus``, ``exclusiveBytes``."""
        return list(self._get_snapshot_list(path))
