"""fsspec's own contract tests (``fsspec.tests.abstract``) run against ``DFSFileSystem`` on a real
cluster: copy, get, put, open and pipe, every scenario fsspec's maintainers pin for a backend."""
from __future__ import annotations

import posixpath
from collections.abc import Iterator

import fsspec
import pytest
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.copy import AbstractCopyTests
from fsspec.tests.abstract.get import AbstractGetTests
from fsspec.tests.abstract.open import AbstractOpenTests
from fsspec.tests.abstract.pipe import AbstractPipeTests
from fsspec.tests.abstract.put import AbstractPutTests

from tests.cluster import Cluster
from tests.ecosystem.conftest import client_options


class DFSFixtures(AbstractFixtures):
    @pytest.fixture
    def fs(self, cluster: Cluster) -> fsspec.AbstractFileSystem:
        # Through the registry, as a user gets it: the entry point names the class.
        return fsspec.filesystem("dfs", host="127.0.0.1", port=cluster.namenode_port,
                                 **client_options(cluster))

    @pytest.fixture
    def fs_join(self):  # noqa: ANN201 - fsspec's fixture signature
        return posixpath.join

    @pytest.fixture
    def fs_path(self, fs: fsspec.AbstractFileSystem, unique_path: str) -> Iterator[str]:
        fs.makedirs(unique_path)
        yield unique_path
        fs.rm(unique_path, recursive=True)


class TestDFSCopy(AbstractCopyTests, DFSFixtures):
    pass


class TestDFSGet(AbstractGetTests, DFSFixtures):
    pass


class TestDFSPut(AbstractPutTests, DFSFixtures):
    pass


class TestDFSOpen(AbstractOpenTests, DFSFixtures):
    pass


class TestDFSPipe(AbstractPipeTests, DFSFixtures):
    pass
