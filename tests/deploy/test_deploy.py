"""Offline checks that deploy/ agrees with the code: the environment every deploy target
gives the ILEA image is what Settings reads, every command it runs exists, the Temporal
search attributes are the code's, and the Temporal Helm values match the rest.

The other checks of this folder: test_k8s.py (Kubernetes schemas and coherence),
test_compose.py (Compose schema, start order), test_image.py (Dockerfile, build context,
shell scripts), test_worker_probe.py (the worker's probe). Nothing needs a network, a
container engine or a cluster.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import cast

import click
import pytest
import typer
import yaml

from cli import main as cli
from ilea import search_attributes
from ilea.settings import Settings
from tests.deploy.manifests import (
    DEPLOY,
    ROOT,
    by_kind_name,
)
from tests.deploy.targets import (
    BOOTSTRAP_SCRIPT,
    COMPOSE,
    HELM_VALUES,
    RENDERED,
    REQUIRED_IN_PRODUCTION,
    RUNTIME,
    TEST_SECRET,
    compose_ilea_services,
    deploy_environments,
    ilea_commands,
    image_env,
    k8s_env,
    k8s_ilea_containers,
    settings_env_names,
    use_environment,
)

pytestmark = pytest.mark.deploy


# --- Temporal: search attributes, Helm values, versions -----------------------------------------


def _bootstrap_attributes() -> dict[str, str]:
    return dict(re.findall(r"--name (\w+) --type (\w+)", BOOTSTRAP_SCRIPT.read_text()))


def test_search_attributes_registered_are_the_ones_the_code_uses() -> None:
    assert _bootstrap_attributes() == search_attributes.cli_types()
    job = by_kind_name(RENDERED["base"])["Job", "ilea-temporal-bootstrap"]["spec"]["template"]["spec"]
    script = by_kind_name(RENDERED["base"])["ConfigMap", job["volumes"][0]["configMap"]["name"]]["data"]
    assert script == {BOOTSTRAP_SCRIPT.name: BOOTSTRAP_SCRIPT.read_text()}
    assert job["containers"][0]["command"] == ["/bin/sh", f"/scripts/{BOOTSTRAP_SCRIPT.name}"]
    compose = COMPOSE["services"]["temporal-bootstrap"]
    assert f"./k8s/base/{BOOTSTRAP_SCRIPT.name}:/scripts/{BOOTSTRAP_SCRIPT.name}:ro" in compose["volumes"]


def test_helm_values_use_postgresql_and_agree_with_the_rest() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    server = values["server"]
    for store in ("default", "visibility"):
        persistence = server["config"]["persistence"][store]
        assert persistence["driver"] == "sql" and persistence["sql"]["driver"] == "postgres12"
        assert persistence["sql"]["existingSecret"] and "password" not in persistence["sql"]
    databases = [server["config"]["persistence"][s]["sql"]["database"] for s in ("default", "visibility")]
    assert databases == ["temporal", "temporal_visibility"]
    for bundled in ("cassandra", "mysql", "postgresql", "elasticsearch", "prometheus", "grafana"):
        assert values[bundled]["enabled"] is False, bundled
    shards = server["config"]["numHistoryShards"]
    assert shards & (shards - 1) == 0, "history shards: a power of two"
    assert str(shards) == COMPOSE["services"]["temporal"]["environment"]["NUM_HISTORY_SHARDS"]

    config = by_kind_name(RENDERED["base"])["ConfigMap", "ilea-config"]["data"]
    namespaces = {n["name"]: n["retention"] for n in server["config"]["namespaces"]["namespace"]}
    bootstrap_env = {
        e["name"]: e.get("value")
        for e in by_kind_name(RENDERED["base"])["Job", "ilea-temporal-bootstrap"]["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    compose_bootstrap = COMPOSE["services"]["temporal-bootstrap"]["environment"]
    assert server["config"]["namespaces"]["create"] is True
    assert namespaces == {config["TEMPORAL_NAMESPACE"]: bootstrap_env["NAMESPACE_RETENTION"]}
    assert compose_bootstrap["TEMPORAL_NAMESPACE"] == config["TEMPORAL_NAMESPACE"]
    assert compose_bootstrap["NAMESPACE_RETENTION"] == bootstrap_env["NAMESPACE_RETENTION"]
    # `helm install temporal ... -n temporal` names the frontend Service this way.
    assert "helm install temporal temporal/temporal -n temporal" in HELM_VALUES.read_text()
    assert config["TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc.cluster.local:7233"

    tags = {
        "server": {server["image"]["tag"], COMPOSE["services"]["temporal"]["image"].rpartition(":")[2]},
        "admin-tools": {
            values["admintools"]["image"]["tag"],
            COMPOSE["services"]["temporal-schema"]["image"].rpartition(":")[2],
            COMPOSE["services"]["temporal-bootstrap"]["image"].rpartition(":")[2],
            by_kind_name(RENDERED["base"])["Job", "ilea-temporal-bootstrap"]["spec"]["template"]["spec"]["containers"][
                0
            ]["image"].rpartition(":")[2],
        },
        "ui": {values["web"]["image"]["tag"], COMPOSE["services"]["temporal-ui"]["image"].rpartition(":")[2]},
    }
    assert all(len(t) == 1 for t in tags.values()), f"one Temporal version everywhere: {tags}"
    # Every user action is a workflow Update: the frontend must accept them.
    compose_dynamic = yaml.safe_load((DEPLOY / "compose" / "temporal-dynamicconfig.yaml").read_text())
    for dynamic in (server["dynamicConfig"], compose_dynamic):
        assert dynamic["frontend.enableUpdateWorkflowExecution"] == [{"value": True}]


# --- agreement with the code: Settings and entry points ---------------------------------------


@pytest.mark.parametrize(("where", "env"), deploy_environments(), ids=lambda v: v if isinstance(v, str) else None)
def test_environment_is_what_settings_reads(where: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    names = settings_env_names()
    unknown = sorted(n for n in env if n.upper().startswith(("ILEA_", "TEMPORAL_")) and n.upper() not in names)
    assert unknown == [], f"{where}: not Settings fields (typo, or a field that was removed): {unknown}"
    required = {n for n, f in Settings.model_fields.items() if f.is_required()} | REQUIRED_IN_PRODUCTION
    set_fields = {names[n.upper()] for n in env if n.upper() in names}
    assert required <= set_fields, f"{where}: not set: {sorted(required - set_fields)}"

    use_environment(monkeypatch, {k: TEST_SECRET if "REPLACE_ME" in v and "SECRET" in k else v for k, v in env.items()})
    settings = Settings()
    assert settings.env == "production" and settings.api_host == "0.0.0.0"
    assert settings.database_url and settings.database_url.startswith("postgresql://")


def test_compose_and_kubernetes_pass_the_same_settings() -> None:
    compose = {k for k in compose_ilea_services()["api"]["environment"] if k.startswith(("ILEA_", "TEMPORAL_"))}
    (_, _, api, docs) = next(c for c in k8s_ilea_containers() if c[0] == "base" and c[2]["name"] == "api")
    k8s = {k for k in k8s_env(api, docs) if k.startswith(("ILEA_", "TEMPORAL_"))} - set(image_env())
    assert compose - set(image_env()) <= k8s


def _cli() -> click.Group:
    """The `ilea` command as click sees it (typer builds a click group)."""
    return cast(click.Group, typer.main.get_command(cli.app))


@pytest.mark.parametrize(("where", "argv"), ilea_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_commands_exist_in_the_image(where: str, argv: list[str]) -> None:
    program, *args = argv
    if program == "ilea":
        commands = _cli().commands
        assert args and args[0] in commands, f"{where}: `ilea {' '.join(args)}` is no command"
        commands[args[0]].make_context(args[0], list(args[1:]))  # parses the options, runs nothing
    elif program == "python":
        if args[0] == "-c":
            ast.parse(args[1])
            return
        script = Path(args[0])
        copied = {ins.value.split()[-1]: ins.value.split()[-2] for ins in RUNTIME if ins.keyword == "COPY"}
        source = ROOT / copied[str(script)] if script.is_absolute() else ROOT / script
        assert source.is_file(), f"{where}: {script} is not in the image"
        if source.name == "worker_probe.py":
            assert args[1] in {"ready", "live"}
    else:
        assert program == "sleep", f"{where}: {program} is not known to be in the image"


def test_the_cli_entry_points_named_in_the_brief_exist() -> None:
    assert {"migrate", "api", "worker"} <= set(_cli().commands)
    assert (ROOT / "worker.py").is_file()
