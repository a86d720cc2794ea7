"""Offline checks of the Kubernetes manifests (deploy/k8s): every overlay rendered, valid
against the Kubernetes API schemas bundled by ``kubernetes-validate``, and coherent
(probes, resources, selectors, references, disruption budgets, placeholder secrets).
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from api.routes import health
from ilea.settings import Settings
from tests.deploy.manifests import (
    DEPLOY,
    K8S,
    KUSTOMIZATIONS,
    by_kind_name,
    pod_spec,
    render_kustomization,
)
from tests.deploy.targets import (
    K8S_VERSIONS,
    MIGRATION_SECRET,
    MIGRATION_SECRETS_EXAMPLE,
    RENDERED,
    RUNTIME,
    SECRETS_EXAMPLE,
    TEST_OWNER_URL,
    is_ilea_image,
    k8s_env,
    k8s_ilea_containers,
    required_secret_keys,
    use_environment,
)

pytestmark = pytest.mark.deploy


# --- Kubernetes -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", sorted(RENDERED))
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(target: str, version: str) -> None:
    for doc in RENDERED[target]:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            pytest.fail(f"{target}: {doc['kind']}/{doc['metadata']['name']} at {path}: {err.message}")
        except kubernetes_validate.utils.SchemaNotFoundError as err:
            pytest.fail(f"{target}: no schema: {err.message}")


def test_schema_validation_rejects_a_broken_manifest() -> None:
    """The validator in use does reject what a cluster would (control for the test above)."""
    deployment = copy.deepcopy(by_kind_name(RENDERED["base"])["Deployment", "ilea-api"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    deployment = copy.deepcopy(by_kind_name(RENDERED["base"])["Deployment", "ilea-api"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.relative_to(K8S).as_posix())
def test_rendering_matches_kubectl_kustomize(kustomization: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(kustomization)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    expected = by_kind_name([d for d in yaml.safe_load_all(out) if d])
    assert by_kind_name(render_kustomization(kustomization)) == expected


def _quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(value)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_pods_are_bounded_and_unprivileged(target: str) -> None:
    for doc in RENDERED[target]:
        spec = pod_spec(doc)
        if spec is None:
            continue
        where = f"{target} {doc['kind']}/{doc['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec.get("automountServiceAccountToken") is False, where
        for c in spec.get("initContainers", []) + spec["containers"]:
            for resource in ("cpu", "memory"):
                request, limit = c["resources"]["requests"][resource], c["resources"]["limits"][resource]
                assert _quantity(request) <= _quantity(limit), f"{where} {resource}"
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, where
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            if target != "base" or not is_ilea_image(c["image"]):
                name, _, tag = c["image"].rpartition(":")
                assert name and tag not in {"", "latest"}, f"{where}: pin the image {c['image']}"
        if any(is_ilea_image(c["image"]) for c in spec["containers"]):
            image_user = next(ins.value for ins in RUNTIME if ins.keyword == "USER")
            assert f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}" == image_user


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_probes_use_the_real_health_endpoints(target: str) -> None:
    routes = {getattr(route, "path", None) for route in health.router.routes}
    workloads = by_kind_name(RENDERED[target])
    api = workloads["Deployment", "ilea-api"]["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz" and "/readyz" in routes
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz" and "/healthz" in routes
    env = k8s_env(api, RENDERED[target])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert ports[api[probe]["httpGet"]["port"]] == int(env["ILEA_API_PORT"])
    worker = workloads["Deployment", "ilea-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["readinessProbe"]["exec"]["command"][-1] == "ready"
    assert worker["livenessProbe"]["exec"]["command"][-1] == "live"


def _references(node: Any) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod spec refers to."""
    found: set[tuple[str, str]] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in {"configMapRef", "configMapKeyRef", "configMap"}:
                found.add(("ConfigMap", value["name"]))
            elif key in {"secretRef", "secretKeyRef"}:
                found.add(("Secret", value["name"]))
            elif key == "secret" and isinstance(value, dict) and "secretName" in value:
                found.add(("Secret", value["secretName"]))
            else:
                found |= _references(value)
    return found


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_selectors_references_and_budgets_agree(target: str) -> None:
    docs = RENDERED[target]
    objects = by_kind_name(docs)
    deployments = {n: d for (k, n), d in objects.items() if k == "Deployment"}
    pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "HorizontalPodAutoscaler"}

    def selected(selector: dict[str, str]) -> set[str]:
        return {n for n, labels in pods.items() if selector.items() <= labels.items()}

    for doc in docs:
        where = f"{target} {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Deployment":
            assert doc["spec"]["selector"]["matchLabels"].items() <= pods[doc["metadata"]["name"]].items()
            # The HPA owns the count of what it scales; a fixed replicas would fight it.
            assert ("replicas" in doc["spec"]) != (doc["metadata"]["name"] in hpas), where
        if doc["kind"] == "PodDisruptionBudget":
            (name,) = selected(doc["spec"]["selector"]["matchLabels"])
            floor = hpas[name]["spec"]["minReplicas"] if name in hpas else deployments[name]["spec"]["replicas"]
            assert doc["spec"]["minAvailable"] < floor, f"{where}: a node drain could never proceed"
        if doc["kind"] == "HorizontalPodAutoscaler":
            assert doc["spec"]["scaleTargetRef"]["name"] in deployments
            assert 2 <= doc["spec"]["minReplicas"] <= doc["spec"]["maxReplicas"]
        if doc["kind"] == "Service":
            (name,) = selected(doc["spec"]["selector"])
            containers = deployments[name]["spec"]["template"]["spec"]["containers"]
            port_names = {p.get("name") for c in containers for p in c.get("ports", [])}
            assert {p["targetPort"] for p in doc["spec"]["ports"]} <= port_names, where
        if doc["kind"] == "Ingress":
            for rule in doc["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    service = objects["Service", path["backend"]["service"]["name"]]
                    assert path["backend"]["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
        spec = pod_spec(doc)
        if spec is None:
            continue
        missing = _references(spec) - set(objects) - MADE_OUT_OF_BAND
        assert not missing, f"{where}: refers to what the build lacks: {sorted(missing)}"
        if doc["kind"] == "Job":
            assert spec["restartPolicy"] == "Never" and "backoffLimit" in doc["spec"], where


#: Secrets the pods read that no kustomization ships: created once, out of band, so that
#: no `kubectl apply -k` can overwrite them (deploy/README.md says how).
MADE_OUT_OF_BAND = {
    ("Secret", "ilea-secrets"),
    ("Secret", MIGRATION_SECRET),
    ("Secret", "ilea-temporal-client"),
    ("Secret", "ilea-oidc-key"),
}
#: What a value left for a person to fill in looks like.
PLACEHOLDER = re.compile(r"REPLACE|CHANGE_?ME|TODO|FIXME|example|^$|<[^>]*>|xxx", re.IGNORECASE)


def placeholder_secrets(docs: list[dict[str, Any]]) -> list[str]:
    """``name.key`` of every Secret value in ``docs`` that is a placeholder."""
    found = []
    for doc in docs:
        if doc["kind"] != "Secret":
            continue
        values = dict(doc.get("stringData", {}))
        values |= {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
        found += [f"{doc['metadata']['name']}.{k}" for k, v in values.items() if PLACEHOLDER.search(v)]
    return found


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_no_build_carries_a_secret_placeholder(target: str) -> None:
    """An apply can never replace a real Secret with a placeholder: the builds ship none."""
    assert placeholder_secrets(RENDERED[target]) == []
    assert not {(d["kind"], d["metadata"]["name"]) for d in RENDERED[target]} & MADE_OUT_OF_BAND


def test_the_placeholder_check_catches_a_placeholder() -> None:
    """Control for the test above, with what the base used to ship."""
    shipped = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ilea-secrets"}}
    assert placeholder_secrets([shipped | {"stringData": {"ILEA_JWT_SECRET": "REPLACE_ME"}}]) == [
        "ilea-secrets.ILEA_JWT_SECRET"
    ]
    encoded = base64.b64encode(b"postgresql://ilea:CHANGEME@db/ilea").decode()
    assert placeholder_secrets([shipped | {"data": {"ILEA_DATABASE_URL": encoded}}])
    assert placeholder_secrets([shipped | {"stringData": {"ILEA_JWT_SECRET": "9f" * 32}}]) == []


def test_the_secrets_made_out_of_band_are_documented() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for _, name in sorted(MADE_OUT_OF_BAND):
        assert re.search(rf"kubectl -n ilea create secret \w+ {name}\b", readme), f"how to create {name}"
    # The example lists what Settings needs from the Secret; blank, it is refused in production.
    keys = required_secret_keys()
    assert {"ILEA_DATABASE_URL", "ILEA_JWT_SECRET"} <= set(keys)
    assert "--from-env-file=ilea-secrets.env" in SECRETS_EXAMPLE.read_text()
    assert "--from-env-file=ilea-migration-secrets.env" in MIGRATION_SECRETS_EXAMPLE.read_text()


def test_a_secret_left_blank_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key missing from the Secret stops the API and the worker instead of signing with it."""
    (_, _, api, docs) = next(c for c in k8s_ilea_containers() if c[2]["name"] == "api")
    use_environment(monkeypatch, k8s_env(api, docs) | {"ILEA_JWT_SECRET": ""})
    with pytest.raises(ValidationError, match="ILEA_JWT_SECRET"):
        Settings()


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_every_pod_applies_the_migrations_before_its_app_starts(target: str) -> None:
    """No reliance on hook order (Argo CD, Helm): each pod of the ILEA image runs
    `ilea migrate --wait` first, under the migrations' advisory lock."""
    for doc in RENDERED[target]:
        assert not any(
            k.startswith(("argocd.argoproj.io/", "helm.sh/")) for k in doc["metadata"].get("annotations", {})
        )
        assert doc["kind"] != "Job", "a Job's pod template cannot change: an apply with a new image would fail"
        spec = pod_spec(doc)
        if spec is None or not any(is_ilea_image(c["image"]) for c in spec["containers"]):
            continue
        (init,) = spec["initContainers"]
        (app,) = spec["containers"]
        owner = {"secretRef": {"name": MIGRATION_SECRET}}
        assert init["image"] == app["image"] and init["envFrom"] == [*app["envFrom"], owner], doc["metadata"]["name"]
        assert init["args"][:2] == ["migrate", "--wait"] and int(init["args"][2]) > 0


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_only_the_migrate_step_sees_the_owners_credentials(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables' owner can rewrite the audit trail and the access log: its URL is in a Secret
    of its own, read by the `migrate` init container alone, never by the API or the worker."""
    for _, doc, container, docs in (c for c in k8s_ilea_containers() if c[0] == target):
        where = f"{target} {doc['metadata']['name']}/{container['name']}"
        env = k8s_env(container, docs)
        is_migrate = container["args"][0] == "migrate"
        assert ("ILEA_MIGRATION_DATABASE_URL" in env) is is_migrate, where
        assert (("Secret", MIGRATION_SECRET) in _references(container)) is is_migrate, where
        if is_migrate:
            use_environment(monkeypatch, env)
            settings = Settings()
            assert settings.migration_database_url == TEST_OWNER_URL != settings.database_url, where
    assert "ILEA_MIGRATION_DATABASE_URL" not in required_secret_keys()


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_metrics_are_on_their_own_ports_and_never_routed(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prometheus scrapes the pods directly; no Service (so no Ingress) reaches a metrics port,
    and /docs and /openapi.json are off."""
    docs = RENDERED[target]
    objects = by_kind_name(docs)
    metrics_ports: set[int] = set()
    pods = {name: objects["Deployment", f"ilea-{name}"]["spec"]["template"] for name in ("api", "worker")}
    for name, field in (("api", "api_metrics_port"), ("worker", "worker_metrics_port")):
        (container,) = pods[name]["spec"]["containers"]
        use_environment(monkeypatch, k8s_env(container, docs))
        settings = Settings()
        port = getattr(settings, field)
        assert port and port != settings.api_port, f"{name}: metrics need a port of their own"
        declared = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert declared["metrics"] == port == int(pods[name]["metadata"]["annotations"]["prometheus.io/port"])
        assert settings.docs_enabled is False, f"{name}: /docs and /openapi.json are off in production"
        metrics_ports.add(port)
    (api,) = pods["api"]["spec"]["containers"]
    api_port = int(k8s_env(api, docs)["ILEA_API_PORT"])
    named = {p["name"]: p["containerPort"] for p in api["ports"]}
    routed = set()
    for doc in docs:
        if doc["kind"] == "Service":
            targets = {named.get(p["targetPort"], p["targetPort"]) for p in doc["spec"]["ports"]}
            assert not targets & metrics_ports, f"Service {doc['metadata']['name']} exposes metrics"
        if doc["kind"] == "Ingress":
            for rule in doc["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    service = objects["Service", backend["name"]]
                    routed |= {
                        named[p["targetPort"]] for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]
                    }
    assert routed <= {api_port}, f"the Ingress routes to {routed}, not only the API's port {api_port}"
