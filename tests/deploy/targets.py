"""Where the deploy files run the ILEA image, with which environment and which command:
the rendered Kubernetes overlays, the compose services and the Dockerfile's runtime stage,
read once for the tests of this folder.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices

from ilea.settings import Settings
from tests.deploy.manifests import (
    COMPOSE_FILE,
    DEPLOY,
    DOCKERFILE,
    K8S,
    KUSTOMIZATIONS,
    Doc,
    by_kind_name,
    compose_variables,
    env_assignments,
    image_name,
    interpolate,
    parse_dockerfile,
    pod_spec,
    render_kustomization,
)

#: Oldest Kubernetes minor the manifests must suit, and the newest the schemas know.
K8S_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]
#: Settings with a default that production must override all the same: the database URL
#: (unset means "`ilea dev` embeds PostgreSQL") and the signing key (the development key is
#: refused when ILEA_ENV=production).
REQUIRED_IN_PRODUCTION = {"database_url", "jwt_secret"}
#: Values the tests put in for compose's ${VARIABLES} and the Secrets made out of band.
TEST_SECRET = "t" * 40
#: What an operator puts in deploy/.env for the required variables that are no secret.
COMPOSE_TEST_VALUES = {
    "PUBLIC_URL": "https://ilea.agency.gov",
    "ILEA_OIDC_ISSUER": "https://idp.int.identitysandbox.gov",
    "ILEA_OIDC_CLIENT_ID": "urn:gov:gsa:openidconnect.profiles:sp:sso:state:ilea",
    "ILEA_JWT_JWKS_URL": "https://agency.okta.com/oauth2/default/v1/keys",
    "ILEA_JWT_ISSUER": "https://agency.okta.com/oauth2/default",
}
TEST_DATABASE_URL = "postgresql://ilea_api:" + TEST_SECRET + "@postgres.internal:5432/ilea"
#: The tables' owner, as the Secret of the migrate step holds it.
TEST_OWNER_URL = "postgresql://ilea:" + TEST_SECRET + "@postgres.internal:5432/ilea"
BOOTSTRAP_SCRIPT = DEPLOY / "compose" / "temporal-bootstrap.sh"
HELM_VALUES = DEPLOY / "helm" / "temporal-values.yaml"
#: The keys of the Secret `ilea-secrets`, which the manifests reference and never ship.
SECRETS_EXAMPLE = K8S / "ilea-secrets.env.example"
#: The Secret only the `migrate` init containers read: the tables' owner.
MIGRATION_SECRET = "ilea-migration-secrets"
MIGRATION_SECRETS_EXAMPLE = K8S / "ilea-migration-secrets.env.example"
RENDERED = {k.relative_to(K8S).as_posix(): render_kustomization(k) for k in KUSTOMIZATIONS}
COMPOSE: Doc = yaml.safe_load(COMPOSE_FILE.read_text())
DOCKER = parse_dockerfile(DOCKERFILE.read_text())
RUNTIME = DOCKER[max(i for i, ins in enumerate(DOCKER) if ins.keyword == "FROM") :]


def settings_env_names() -> dict[str, str]:
    """Environment variable -> Settings field, as pydantic-settings reads them."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update({str(choice).upper(): name for choice in alias.choices})
        else:
            names[(alias if isinstance(alias, str) else prefix + name).upper()] = name
    return names


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in RUNTIME:
        if ins.keyword == "ENV":
            env.update(env_assignments(ins.value))
    return env


def image_exec(keyword: str) -> list[str]:
    return next(json.loads(ins.value) for ins in RUNTIME if ins.keyword == keyword)


# --- where the ILEA image runs, with what environment and command --------------------------


def is_ilea_image(reference: str) -> bool:
    return image_name(reference).rsplit("/", 1)[-1] == "ilea"


def k8s_ilea_containers() -> list[tuple[str, Doc, Doc, list[Doc]]]:
    """(overlay, workload, container, all docs) for every (init) container of the ILEA image."""
    found = []
    for target, docs in RENDERED.items():
        for doc in docs:
            spec = pod_spec(doc) or {}
            for container in spec.get("initContainers", []) + spec.get("containers", []):
                if is_ilea_image(container["image"]):
                    found.append((target, doc, container, docs))
    assert found
    return found


def required_secret_keys(example: Path = SECRETS_EXAMPLE) -> list[str]:
    """The keys a Secret must have (``ilea-secrets`` by default): the uncommented lines of its example file."""
    lines = example.read_text().splitlines()
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#") and "=" in line]


def optional_secret_keys() -> list[str]:
    """Keys ``ilea-secrets`` may have: the commented-out ``# NAME=`` lines of the example file."""
    return re.findall(r"^# ([A-Z][A-Z0-9_]*)=", SECRETS_EXAMPLE.read_text(), re.M)


def external_secret(name: str) -> dict[str, str]:
    """Test values for a Secret made out of band, with the keys the docs say it has."""
    if name == MIGRATION_SECRET:
        return {key: TEST_OWNER_URL for key in required_secret_keys(MIGRATION_SECRETS_EXAMPLE)}
    assert name == "ilea-secrets", f"{name}: only ilea-secrets and {MIGRATION_SECRET} are read into the environment"
    return {key: TEST_DATABASE_URL if key.endswith("_URL") else TEST_SECRET for key in required_secret_keys()}


def k8s_env(container: Doc, docs: list[Doc]) -> dict[str, str]:
    """The container's environment: image ENV, then envFrom, then env, as the kubelet does."""
    objects = by_kind_name(docs)
    env = image_env()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(objects["ConfigMap", source["configMapRef"]["name"]]["data"])
        else:
            env.update(external_secret(source["secretRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "configMapKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = objects["ConfigMap", ref["name"]]["data"][ref["key"]]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = external_secret(ref["name"])[ref["key"]]
    return env


def compose_ilea_services() -> dict[str, Doc]:
    services = {n: s for n, s in COMPOSE["services"].items() if s.get("build", {}).get("dockerfile")}
    assert set(services) == {"migrate", "api", "worker"}
    assert all(is_ilea_image(interpolate(s["image"], {})) for s in services.values())
    return services


def compose_test_variables() -> dict[str, str]:
    """deploy/.env as an operator fills it in: every required variable set (the secrets to
    :data:`TEST_SECRET`), the optional ones left to their defaults."""
    variables = compose_variables(COMPOSE_FILE.read_text())
    return {name: COMPOSE_TEST_VALUES.get(name, TEST_SECRET) for name, default in variables.items() if default is None}


def deploy_environments() -> list[tuple[str, dict[str, str]]]:
    envs = [
        (f"k8s {target} {doc['metadata']['name']}/{c['name']}", k8s_env(c, docs))
        for target, doc, c, docs in k8s_ilea_containers()
    ]
    variables = compose_test_variables()
    for name, service in compose_ilea_services().items():
        envs.append((f"compose {name}", {**image_env(), **interpolate(service["environment"], variables)}))
    return envs


def ilea_commands() -> list[tuple[str, list[str]]]:
    """Every command line the deploy files run in the ILEA image."""
    entrypoint, cmd = image_exec("ENTRYPOINT"), image_exec("CMD")
    commands = [("Dockerfile", entrypoint + cmd)]
    for target, doc, c, _ in k8s_ilea_containers():
        where = f"k8s {target} {doc['metadata']['name']}/{c['name']}"
        commands.append((where, c.get("command", entrypoint) + c.get("args", [] if "command" in c else cmd)))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if "exec" in c.get(probe, {}):
                commands.append((f"{where} {probe}", c[probe]["exec"]["command"]))
        if "exec" in c.get("lifecycle", {}).get("preStop", {}):
            commands.append((f"{where} preStop", c["lifecycle"]["preStop"]["exec"]["command"]))
    for name, service in compose_ilea_services().items():
        commands.append((f"compose {name}", service.get("entrypoint", entrypoint) + service.get("command", cmd)))
        test = service.get("healthcheck", {}).get("test")
        if test:
            assert test[0] == "CMD", f"compose {name}: exec-form health check expected"
            commands.append((f"compose {name} healthcheck", test[1:]))
    return commands


def use_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("ILEA_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
