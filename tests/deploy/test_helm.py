"""deploy/helm/temporal-values.yaml rendered by real Helm with the official Temporal chart it
is written for (1.6.0), every object validated, and what ILEA needs asserted on the output.

Helm is Helm's own Go library, embedded in the ``helm-python-sdk`` wheel (no binary, no
cluster, no network). The chart is a copy of the released 1.6.0 chart, kept beside the
repository in ``../shared/vendor/temporal-helm-chart-1.6.0``. Where either is missing the
tests skip, unless ``ILEA_REQUIRE_HELM=1`` (``make deploy-check`` sets it) makes that a failure.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ilea import search_attributes
from tests.deploy.manifests import DEPLOY, ROOT, Doc, by_kind_name
from tests.deploy.targets import BOOTSTRAP_SCRIPT, COMPOSE, HELM_VALUES, K8S_VERSIONS, RENDERED

pytestmark = pytest.mark.deploy

CHART_VERSION = "1.6.0"
CHART = ROOT.parent / "shared" / "vendor" / f"temporal-helm-chart-{CHART_VERSION}"
#: `helm install temporal temporal/temporal -n temporal`, as deploy/README.md says.
RELEASE, NAMESPACE = "temporal", "temporal"
SERVICES = ("frontend", "history", "matching", "worker")

try:
    import helm_python as helm

    HELM_MISSING = ""
except ImportError:  # the dev extra installs it where a wheel exists
    HELM_MISSING = "helm-python-sdk is not installed"


def _unavailable() -> str | None:
    if HELM_MISSING:
        return HELM_MISSING
    if not (CHART / "Chart.yaml").is_file():
        return f"the Temporal chart is not at {CHART}"
    return None


if _unavailable():
    if os.environ.get("ILEA_REQUIRE_HELM") == "1":
        raise RuntimeError(f"ILEA_REQUIRE_HELM=1 but {_unavailable()}")
    pytest.skip(str(_unavailable()), allow_module_level=True)

VALUES: dict[str, Any] = yaml.safe_load(HELM_VALUES.read_text())
CHART_VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
TEMPLATES = "\n".join(p.read_text() for p in sorted((CHART / "templates").iterdir()))


def render(values: dict[str, Any]) -> list[Doc]:
    """Every object the chart renders for an install of release "temporal" in "temporal"."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs: list[Doc] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


DOCS = render(VALUES)
OBJECTS = by_kind_name(DOCS)


def server_deployment(service: str) -> Doc:
    return OBJECTS["Deployment", f"{RELEASE}-{service}"]


def server_config() -> dict[str, Any]:
    """The server's config file as the chart writes it, with the sprig calls the server
    evaluates at start-up (``{{ env "..." }}``) replaced by their names."""
    text = OBJECTS["ConfigMap", f"{RELEASE}-config"]["data"]["config_template.yaml"]
    return yaml.safe_load(re.sub(r"\{\{\s*env \"(\w+)\" \| quote\s*\}\}", r'"$\1"', text))


def test_the_chart_is_the_pinned_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["name"], chart["version"]) == ("temporal", CHART_VERSION)
    for doc in (HELM_VALUES.read_text(), (DEPLOY / "README.md").read_text()):
        assert f"--version {CHART_VERSION}" in doc, "the install command pins the chart version"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_rendered_object_validates(version: str) -> None:
    for doc in DOCS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {err.message}")
    assert {kind for kind, _ in OBJECTS} >= {"Deployment", "Service", "ConfigMap", "Job", "PodDisruptionBudget"}


def test_postgresql_persistence_and_visibility_reach_the_server() -> None:
    config = server_config()
    persistence = config["persistence"]
    stores = {persistence["defaultStore"]: "temporal", persistence["visibilityStore"]: "temporal_visibility"}
    for store, database in stores.items():
        sql = persistence["datastores"][store]["sql"]
        assert (sql["pluginName"], sql["databaseName"]) == ("postgres12", database)
        assert sql["password"].startswith("$TEMPORAL_"), "the password comes from a Secret, at start-up"
    assert persistence["numHistoryShards"] == 128
    assert str(persistence["numHistoryShards"]) == COMPOSE["services"]["temporal"]["environment"]["NUM_HISTORY_SHARDS"]
    assert not [d for d in DOCS if d["kind"] == "Secret"], "the database password Secret is made out of band"
    for service in SERVICES:
        pod = server_deployment(service)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        # The server reads this file only because the path is set: without it the image falls
        # back to its built-in configuration.
        path = env["TEMPORAL_SERVER_CONFIG_FILE_PATH"]["value"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == path]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert volume["configMap"]["name"] == f"{RELEASE}-config" and mount["subPath"] == "config_template.yaml"
        for variable in ("TEMPORAL_DEFAULT_STORE_PASSWORD", "TEMPORAL_VISIBILITY_STORE_PASSWORD"):
            assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "temporal-db", "key": "password"}


def test_the_schema_job_sets_up_both_schemas_in_existing_databases() -> None:
    job = OBJECTS["Job", f"{RELEASE}-schema"]["spec"]["template"]["spec"]
    names = [c["name"] for c in job["initContainers"]]
    assert names == ["manage-schema-default-store", "manage-schema-visibility-store"]
    for container in job["initContainers"]:
        assert "postgresql/v12" in container["args"][0]


def test_the_ilea_namespace_and_its_search_attributes_are_created() -> None:
    ilea_config = by_kind_name(RENDERED["base"])["ConfigMap", "ilea-config"]["data"]
    namespace = ilea_config["TEMPORAL_NAMESPACE"]
    ns_job = OBJECTS["Job", f"{RELEASE}-namespace"]
    (create,) = ns_job["spec"]["template"]["spec"]["initContainers"]
    assert create["args"] == [
        f"temporal operator namespace describe -n {namespace} || "
        f"temporal operator namespace create -n {namespace} --retention 30d"
    ]
    compose = COMPOSE["services"]["temporal-bootstrap"]["environment"]
    assert (compose["TEMPORAL_NAMESPACE"], compose["NAMESPACE_RETENTION"]) == (namespace, "30d")

    sa_job = OBJECTS["Job", f"{RELEASE}-ilea-search-attributes"]
    (register,) = sa_job["spec"]["template"]["spec"]["containers"]
    args = dict(a.removeprefix("--").split("=", 1) for a in register["args"] if a.startswith("--namespace"))
    pairs = [a.split("=", 1)[1] for a in register["args"] if a.startswith(("--name=", "--type="))]
    assert args == {"namespace": namespace}
    assert dict(zip(pairs[::2], pairs[1::2], strict=True)) == search_attributes.cli_types()
    assert register["command"] == ["temporal", "operator", "search-attribute", "create"]
    env = {e["name"]: e["value"] for e in register["env"]}
    frontend = OBJECTS["Service", f"{RELEASE}-frontend"]
    assert env["TEMPORAL_ADDRESS"] == f"{frontend['metadata']['name']}:{frontend['spec']['ports'][0]['port']}"
    # After the namespace exists: the same Helm hook, a higher weight.
    hooks = [j["metadata"]["annotations"] for j in (ns_job, sa_job)]
    assert hooks[0]["helm.sh/hook"] == hooks[1]["helm.sh/hook"] == "post-install,post-upgrade"
    assert int(hooks[0]["helm.sh/hook-weight"]) < int(hooks[1]["helm.sh/hook-weight"])
    # Compose registers the same list with the same command.
    assert dict(re.findall(r"--name (\w+) --type (\w+)", BOOTSTRAP_SCRIPT.read_text())) == search_attributes.cli_types()


def test_every_server_service_has_a_disruption_budget_it_can_keep() -> None:
    for service in SERVICES:
        deployment = server_deployment(service)
        pdb = OBJECTS["PodDisruptionBudget", f"{RELEASE}-{service}-pdb"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), service
        assert 0 < pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"], (
            f"{service}: a drain could never proceed"
        )


def test_update_is_enabled_in_dynamic_config() -> None:
    """Every user action is a workflow Update: the frontend must accept them."""
    rendered = yaml.safe_load(OBJECTS["ConfigMap", f"{RELEASE}-dynamic-config"]["data"]["dynamic_config.yaml"])
    compose = yaml.safe_load((DEPLOY / "compose" / "temporal-dynamicconfig.yaml").read_text())
    for dynamic in (rendered, compose):
        assert dynamic["frontend.enableUpdateWorkflowExecution"] == [{"value": True}]


def test_ilea_points_at_the_frontend_service() -> None:
    frontend = OBJECTS["Service", f"{RELEASE}-frontend"]
    port = next(p["port"] for p in frontend["spec"]["ports"] if p["targetPort"] == "rpc")
    address = by_kind_name(RENDERED["base"])["ConfigMap", "ilea-config"]["data"]["TEMPORAL_ADDRESS"]
    assert address == f"{frontend['metadata']['name']}.{NAMESPACE}.svc.cluster.local:{port}"


def test_one_temporal_version_everywhere() -> None:
    services = COMPOSE["services"]
    rendered = {
        "server": {
            c["image"] for s in SERVICES for c in server_deployment(s)["spec"]["template"]["spec"]["containers"]
        },
        "admin-tools": {
            OBJECTS["Deployment", f"{RELEASE}-admintools"]["spec"]["template"]["spec"]["containers"][0]["image"]
        },
        "ui": {OBJECTS["Deployment", f"{RELEASE}-web"]["spec"]["template"]["spec"]["containers"][0]["image"]},
    }
    compose = {
        "server": {services["temporal"]["image"]},
        "admin-tools": {services["temporal-schema"]["image"], services["temporal-bootstrap"]["image"]},
        "ui": {services["temporal-ui"]["image"]},
    }
    assert rendered == compose


# --- the values themselves: every key one the chart reads ---------------------------------------

#: Maps whose keys are the user's own (store names, dynamic-config keys, Kubernetes fields).
FREE_FORM = {"datastores", "dynamicConfig", "podDisruptionBudget", "resources", "namespace", "extraObjects"}


def unknown_keys(values: Any, defaults: Any, path: str = "") -> list[str]:
    """Paths of ``values`` that the chart neither has in its values.yaml nor reads in a
    template (Helm silently ignores a misspelt key)."""
    if not isinstance(values, dict) or not isinstance(defaults, dict):
        return []
    found = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            if not re.search(rf"\.{re.escape(key)}\b", TEMPLATES):
                found.append(where)
        elif key not in FREE_FORM:
            found += unknown_keys(value, defaults[key], where)
    return found


def test_every_values_key_is_one_the_chart_reads() -> None:
    assert unknown_keys(VALUES, CHART_VALUES) == []
    misspelt = copy.deepcopy(VALUES)
    misspelt["server"]["config"]["persistance"] = misspelt["server"]["config"].pop("persistence")
    assert unknown_keys(misspelt, CHART_VALUES) == ["server.config.persistance"]


def test_the_chart_refuses_the_layout_of_its_0x_versions() -> None:
    """The control that the render is real: 1.6.0 refuses what the 0.x values said."""
    old = copy.deepcopy(VALUES) | {"cassandra": {"enabled": False}}
    with pytest.raises(helm.HelmRenderError, match="'cassandra' is no longer a supported top-level key"):
        render(old)
