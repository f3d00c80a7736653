"""The name node still answers every golden WebHDFS conversation (``tests/webhdfs/golden/``) as
recorded: status, the headers that matter, the JSON body. A deliberate change of an answer is
recorded again with ``python -m tests.webhdfs.golden`` and reviewed as a diff of the files."""
from __future__ import annotations

import difflib
from collections.abc import Callable

from tests.cluster import Cluster
from tests.webhdfs.cases import CASES
from tests.webhdfs.golden import ENV, GOLDEN, dump, path_of, replay


def test_every_case_has_its_golden_file_and_no_file_is_stale() -> None:
    assert sorted(p.name for p in GOLDEN.glob("*.json")) == sorted(path_of(i, c).name for i, c in enumerate(CASES))


def test_the_name_node_answers_as_the_golden_files_say(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(env=ENV)
    cluster.client("root").mkdirs("/golden")
    differences = []
    for index, case in enumerate(CASES):
        golden = path_of(index, case)
        expected = golden.read_text() if golden.exists() else ""
        actual = dump(replay(cluster, case))
        if actual != expected:
            differences += difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                                f"golden/{golden.name}", "answered now", lineterm="")
    assert not differences, "\n".join(differences)
