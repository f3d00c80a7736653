"""``HttpNameNode`` and the memory client both satisfy ``NameNodeAPI`` (mypy checks the signatures,
this test that every method exists at run time)."""
from __future__ import annotations

from dfs_client import HttpNameNode
from dfs_client.api import FileHandle, NameNodeAPI
from memory_client import MemoryNameNode


def test_both_clients_satisfy_the_name_node_api() -> None:
    http: NameNodeAPI = HttpNameNode("http://127.0.0.1:9")
    memory: NameNodeAPI = MemoryNameNode()
    assert isinstance(http, NameNodeAPI) and isinstance(memory, NameNodeAPI)
    http.close()  # type: ignore[attr-defined]


def test_memory_files_satisfy_the_file_handle() -> None:
    memory = MemoryNameNode()
    with_file: FileHandle = memory.open("/f", "wb")
    assert isinstance(with_file, FileHandle)
    assert with_file.pwrite(b"abc", 0) == 3
    with_file.flush()
    assert memory.get_status("/f")["length"] == 3
