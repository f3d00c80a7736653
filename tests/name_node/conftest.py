"""In-process fixtures: a NameNode on a temporary LMDB, driven with werkzeug's test Client."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from name_node import NameNode
from nn_helpers import NN, make_settings


@pytest.fixture
def nn(tmp_path: Any) -> Iterator[NN]:
    node = NameNode(make_settings(tmp_path))
    try:
        yield NN(node)
    finally:
        node.stop()
