"""docker-compose.yml: valid for plain `docker compose up` and for `docker stack deploy`.

`docker-compose config` (v1) validates and interpolates the file without an engine; `docker stack
config` is the swarm stack loader itself (schema included) and also runs without an engine.
"""
from __future__ import annotations

import shutil

import yaml

from .conftest import DEPLOY_SECRETS, REPO, base_env, require_tool, run

COMPOSE_FILE = REPO / "docker-compose.yml"


def compose_config(**env: str) -> dict:
    docker_compose = require_tool("docker-compose")
    result = run([docker_compose, "-f", str(COMPOSE_FILE), "config"], env=base_env(**env), cwd=REPO)
    return yaml.safe_load(result.stdout)


def test_plain_config_is_valid_without_data_host() -> None:
    config = compose_config()
    assert set(config["services"]) == {"name", "data"}
    # one host, no DATA_HOST: clients on the same host reach the data node on loopback
    assert config["services"]["data"]["environment"]["DFS_PUBLIC_URL"] == "http://127.0.0.1:8181"


def test_data_host_becomes_the_data_nodes_public_url() -> None:
    config = compose_config(DATA_HOST="192.0.2.10")
    data = config["services"]["data"]["environment"]
    assert data["DFS_PUBLIC_URL"] == "http://192.0.2.10:8181"
    assert data["DFS_NAMENODE_URL"] == "http://name:8180"
    assert data["DFS_NODE_CLASS"] == "data_node.DataNode"
    assert config["services"]["name"]["environment"]["DFS_NODE_CLASS"] == "name_node.NameNode"


def test_swarm_template_survives_interpolation() -> None:
    # DATA_HOST='{{.Node.Hostname}}' is expanded by swarm per node, so compose must leave it alone
    config = compose_config(DATA_HOST="{{.Node.Hostname}}")
    assert config["services"]["data"]["environment"]["DFS_PUBLIC_URL"] == "http://{{.Node.Hostname}}:8181"


def test_swarm_deploy_sections_survive() -> None:
    config = compose_config(DATA_HOST="192.0.2.10")
    name, data = config["services"]["name"], config["services"]["data"]
    assert str(config["version"]).startswith("3")
    assert data["deploy"]["mode"] == "global"
    assert name["deploy"]["replicas"] == 1
    assert "node.role == manager" in name["deploy"]["placement"]["constraints"]
    for service in (name, data):
        assert service["deploy"]["restart_policy"]["condition"] == "any"
        assert service["restart"] == "unless-stopped"


def test_ports_volumes_healthchecks_and_image() -> None:
    config = compose_config(DATA_HOST="192.0.2.10")
    name, data = config["services"]["name"], config["services"]["data"]
    assert [(p["target"], p["published"]) for p in name["ports"]] == [(8180, 8180)]
    # host mode: every swarm node answers for its own data node on its own address
    assert [(p["target"], p["published"], p["mode"]) for p in data["ports"]] == [(8181, 8181, "host")]
    assert set(config["volumes"]) == {"name-db", "blocks"}
    assert any(str(v).startswith("name-db:/data") for v in name["volumes"])
    assert any(str(v).startswith("blocks:/data") for v in data["volumes"])
    for service, port in ((name, 8180), (data, 8181)):
        test = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/ping_alive" in test
        assert service["build"]["context"] == str(REPO)
        assert service["image"] == "dfs:latest"


def test_image_name_is_configurable() -> None:
    config = compose_config(DATA_HOST="192.0.2.10", DFS_IMAGE="registry.example.org/dfs:1.2")
    assert {s["image"] for s in config["services"].values()} == {"registry.example.org/dfs:1.2"}


def test_swarm_stack_loader_accepts_the_config(tmp_path) -> None:
    docker_compose = require_tool("docker-compose")
    stack_file = tmp_path / "stack.yml"
    result = run([docker_compose, "-f", str(COMPOSE_FILE), "config"], env=base_env(DATA_HOST="192.0.2.10"), cwd=REPO)
    stack_file.write_text(result.stdout)
    if shutil.which("docker") is None:  # the stack loader ships with the docker CLI only
        return
    stack = yaml.safe_load(run(["docker", "stack", "config", "-c", str(stack_file)], env=base_env()).stdout)
    assert stack["services"]["data"]["deploy"]["mode"] == "global"
    assert stack["services"]["data"]["environment"]["DFS_PUBLIC_URL"] == "http://192.0.2.10:8181"


def test_both_node_kinds_get_the_cluster_secret_and_the_name_node_the_admin_token() -> None:
    config = compose_config(DATA_HOST="192.0.2.10")
    name, data = config["services"]["name"]["environment"], config["services"]["data"]["environment"]
    assert name["DFS_SECRET"] == data["DFS_SECRET"] == DEPLOY_SECRETS["DFS_SECRET"]
    assert name["DFS_ADMIN_TOKEN"] == DEPLOY_SECRETS["DFS_ADMIN_TOKEN"]
    assert "DFS_ADMIN_TOKEN" not in data, "data nodes never hold a user's token"


def test_config_without_a_secret_is_one_clear_error() -> None:
    docker_compose = require_tool("docker-compose")
    for missing in ("DFS_SECRET", "DFS_ADMIN_TOKEN"):
        env = base_env(DATA_HOST="192.0.2.10")
        del env[missing]
        result = run([docker_compose, "-f", str(COMPOSE_FILE), "config"], env=env, cwd=REPO, check=False)
        assert result.returncode != 0 and f"{missing} is not set" in result.stderr, result.stderr
