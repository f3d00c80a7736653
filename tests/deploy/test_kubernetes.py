"""deploy/kubernetes: every manifest parsed (all documents) and checked for the objects and wiring
the guide promises; `kubectl kustomize` builds the whole set when kubectl is present."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, run

K8S = REPO / "deploy" / "kubernetes"


def load_documents() -> list[dict]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    found: dict[tuple[str, str], dict] = {}
    for document in load_documents():
        key = (document["kind"], document["metadata"]["name"])
        assert key not in found, f"{key} defined twice"
        found[key] = document
    return found


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def check_probes(container: dict, port: int) -> None:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/ping_alive"
        assert ports.get(get["port"], get["port"]) == port


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
    assert kustomization["kind"] == "Kustomization"


def test_name_node_statefulset(objects: dict) -> None:
    sts = objects[("StatefulSet", "dfs-name")]
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["serviceName"] in {name for kind, name in objects if kind == "Service"}
    claim = spec["volumeClaimTemplates"][0]
    (container,) = spec["template"]["spec"]["containers"]
    assert claim["metadata"]["name"] in {m["name"] for m in container["volumeMounts"]}
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/data"}
    env = env_of(container)
    assert env["DFS_NODE_CLASS"]["value"] == "name_node.NameNode"
    assert env["DFS_DB_PATH"]["value"].startswith("/data/")
    check_probes(container, 8180)
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_name_node_service(objects: dict) -> None:
    service = objects[("Service", "dfs-name")]
    sts = objects[("StatefulSet", "dfs-name")]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["port"] for p in service["spec"]["ports"]] == [8180]
    assert service["spec"].get("clusterIP") != "None"


def test_data_nodes_statefulset(objects: dict) -> None:
    sts = objects[("StatefulSet", "dfs-data")]
    spec = sts["spec"]
    assert spec["replicas"] >= 3  # replication 3 needs three nodes
    assert spec["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]
    (container,) = spec["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["DFS_NODE_CLASS"]["value"] == "data_node.DataNode"
    assert env["DFS_FS_ROOT"]["value"].startswith("/data/")
    assert env["DFS_NAMENODE_URL"]["value"].startswith("http://dfs-name.")
    assert env["DFS_NAMENODE_URL"]["value"].endswith(":8180")
    # downward API: the pod's IP and name feed the advertised and public addresses
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["DFS_ADVERTISE_HOST"]["value"] == "$(POD_IP)"
    assert env["DFS_PUBLIC_URL"]["value"].startswith(f"http://$(POD_NAME).{spec['serviceName']}.")
    # $(VAR) references only work for variables defined earlier in the list
    names = [e["name"] for e in container["env"]]
    for variable in ("POD_IP", "POD_NAME", "POD_NAMESPACE"):
        assert names.index(variable) < names.index("DFS_PUBLIC_URL")
    check_probes(container, 8181)


def test_data_nodes_headless_service(objects: dict) -> None:
    sts = objects[("StatefulSet", "dfs-data")]
    service = objects[("Service", sts["spec"]["serviceName"])]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert [p["port"] for p in service["spec"]["ports"]] == [8181]


def test_selectors_match_templates(objects: dict) -> None:
    for (kind, name), document in objects.items():
        if kind == "StatefulSet":
            selector = document["spec"]["selector"]["matchLabels"]
            assert selector.items() <= document["spec"]["template"]["metadata"]["labels"].items(), name


def test_containers_run_as_the_image_user(objects: dict) -> None:
    for name in ("dfs-name", "dfs-data"):
        pod = objects[("StatefulSet", name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's dfs user
        assert pod["securityContext"]["fsGroup"] == 10001  # fresh volumes become writable by it


def test_kustomize_builds(tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    built = [d for d in yaml.safe_load_all(run(["kubectl", "kustomize", str(K8S)]).stdout) if d]
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in built)
    assert kinds == sorted([("Namespace", "dfs"), ("Service", "dfs-name"), ("Service", "dfs-name-headless"),
                            ("StatefulSet", "dfs-name"), ("Service", "dfs-data"), ("StatefulSet", "dfs-data")])
    assert all(d["metadata"].get("namespace") == "dfs" for d in built if d["kind"] != "Namespace")


def test_env_references_point_to_earlier_variables(objects: dict) -> None:
    """Kubernetes expands $(NAME) only for variables defined earlier in the same list."""
    import re

    for (kind, name), document in objects.items():
        if kind != "StatefulSet":
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            seen: set[str] = set()
            for entry in container.get("env", []):
                for reference in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
                    assert reference in seen, f"{name}: {entry['name']} uses $({reference}) before it is defined"
                seen.add(entry["name"])


def test_both_statefulsets_take_the_cluster_secret_from_one_secret(objects: dict) -> None:
    refs = {}
    for name in ("dfs-name", "dfs-data"):
        (container,) = objects[("StatefulSet", name)]["spec"]["template"]["spec"]["containers"]
        env = env_of(container)
        refs[name] = {key: env[key]["valueFrom"]["secretKeyRef"] for key in env
                      if "secretKeyRef" in env[key].get("valueFrom", {})}
        assert "value" not in env["DFS_SECRET"], "no secret value in a manifest"
    assert refs["dfs-name"]["DFS_SECRET"] == refs["dfs-data"]["DFS_SECRET"] == {"name": "dfs-secret", "key": "secret"}
    assert refs["dfs-name"]["DFS_ADMIN_TOKEN"] == {"name": "dfs-secret", "key": "admin-token"}
    assert "DFS_ADMIN_TOKEN" not in refs["dfs-data"]
    assert "create secret generic dfs-secret" in (K8S / "README.md").read_text()
