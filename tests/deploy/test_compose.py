"""Offline checks of deploy/compose.yaml: the Compose Specification schema (vendored in
deploy/schemas), start order and health checks, variables, and the nginx proxy config.
"""

from __future__ import annotations

import copy
import json
import re
from graphlib import TopologicalSorter

import jsonschema
import pytest

from ilea.settings import Settings
from tests.deploy.manifests import (
    COMPOSE_FILE,
    DEPLOY,
    ENV_EXAMPLE,
    compose_variables,
    env_file,
    interpolate,
)
from tests.deploy.targets import (
    COMPOSE,
    compose_ilea_services,
    compose_test_variables,
    image_env,
    settings_env_names,
    use_environment,
)

pytestmark = pytest.mark.deploy


# --- compose ----------------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_specification() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(schema, format_checker=validator.FORMAT_CHECKER).iter_errors(COMPOSE)
    ]
    assert not errors
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    assert list(validator(schema).iter_errors(broken)), "the schema should refuse an unknown condition"


def test_compose_start_order_and_health_checks() -> None:
    services = COMPOSE["services"]
    graph = {name: set(s.get("depends_on", {})) for name, s in services.items()}
    order = list(TopologicalSorter(graph).static_order())  # raises on a cycle
    assert order.index("migrate") < order.index("api") and order.index("temporal-bootstrap") < order.index("worker")
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            target = services[dependency]
            if how["condition"] == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dependency} to be healthy: it has no check"
            elif how["condition"] == "service_completed_successfully":
                assert target.get("restart", "no") == "no" or target["restart"].startswith("on-failure"), dependency
            else:
                pytest.fail(f"{name}: depends on {dependency} starting only ({how['condition']})")
    for name in ("api", "worker"):
        assert services[name]["deploy"]["replicas"] == 2
        assert {k for k, v in services[name]["depends_on"].items() if v["condition"].startswith("service_comp")} == {
            "migrate",
            "temporal-bootstrap",
        }
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"proxy", "temporal-ui"}, "only the proxy (and the UI on loopback) are published"
    assert all(p.startswith("127.0.0.1:") for p in services["temporal-ui"]["ports"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"


def test_compose_variables_are_documented_in_the_env_example() -> None:
    documented = env_file(ENV_EXAMPLE)
    variables = compose_variables(COMPOSE_FILE.read_text())
    for name, default in variables.items():
        assert name in documented, f"${{{name}}} is not in deploy/.env.example"
        if default is None:
            assert documented[name] == "", f"{name} must be left blank in the example (a secret)"
    # ILEA_* and TEMPORAL_* names belong to Settings: compose's own variables are named otherwise.
    names = settings_env_names()
    stray = sorted(n for n in {*documented, *variables} if n.startswith(("ILEA_", "TEMPORAL_")) and n not in names)
    assert stray == []


#: The tables' owner's password, as deploy/.env sets it: unlike every other secret of the test
#: values, found nowhere but where the owner's credentials belong.
OWNER_PASSWORD = "owner-only-" + "9f3c1e7a5b"


def test_only_the_migrate_service_sees_the_owners_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables' owner can rewrite the audit trail and the access log: its URL goes to the
    one-shot `migrate` service alone (and its password to PostgreSQL, which creates the role),
    never to the API, the worker or anything else; no service reads deploy/.env whole."""
    variables = {**compose_test_variables(), "PG_ILEA_PASSWORD": OWNER_PASSWORD}
    services = COMPOSE["services"]
    holders = set()
    for name, service in services.items():
        assert "env_file" not in service, f"{name}: an env_file would hand it every secret of deploy/.env"
        environment = interpolate(service.get("environment", {}), variables)
        if any(OWNER_PASSWORD in str(value) for value in environment.values()):
            holders.add(name)
    assert holders == {"postgres", "migrate"}
    assert "ILEA_MIGRATION_DATABASE_URL" not in interpolate(services["postgres"]["environment"], variables)
    for name, service in compose_ilea_services().items():
        env = {**image_env(), **interpolate(service["environment"], variables)}
        assert ("ILEA_MIGRATION_DATABASE_URL" in env) is (name == "migrate"), name
        use_environment(monkeypatch, env)
        settings = Settings()
        assert OWNER_PASSWORD not in (settings.database_url or ""), name
        if name == "migrate":
            assert settings.migration_database_url is not None and OWNER_PASSWORD in settings.migration_database_url
            assert settings.migration_database_url != settings.database_url


def test_nginx_routes_to_the_api_replicas() -> None:
    conf = (DEPLOY / "compose" / "nginx.conf").read_text()
    proxy = COMPOSE["services"]["proxy"]
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", conf, re.S)
    assert upstream
    servers = re.findall(r"server ([\w.-]+):(\d+)([^;]*);", upstream[2])
    assert servers == [("api", image_env()["ILEA_API_PORT"], servers[0][2])] and "resolve" in servers[0][2]
    assert f"proxy_pass http://{upstream[1]};" in conf
    listen = re.search(r"listen (\d+);", conf)
    assert listen and all(p.endswith(f":{listen[1]}") for p in proxy["ports"])
    # `resolve` in an upstream block needs nginx 1.27.3 or newer.
    version = re.fullmatch(r"nginx:(\d+)\.(\d+)\.(\d+)-alpine", proxy["image"])
    assert version and tuple(map(int, version.groups())) >= (1, 27, 3)
    size = re.search(r"client_max_body_size (\d+)k;", conf)
    assert size and int(size[1]) * 1024 == Settings.model_fields["max_body_bytes"].default
    assert "/nginx-health" in " ".join(proxy["healthcheck"]["test"])


def test_compose_exposes_no_metrics_and_no_docs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only nginx is published, and it reaches the API's port alone; metrics stay off (no
    scraper here) or at least unpublished, and /docs is off."""
    conf = (DEPLOY / "compose" / "nginx.conf").read_text()
    proxied = {int(port) for port in re.findall(r"server api:(\d+)", conf)}
    for name, service in compose_ilea_services().items():
        assert not service.get("ports") and not service.get("expose"), f"{name} publishes a port"
        use_environment(monkeypatch, {**image_env(), **interpolate(service["environment"], compose_test_variables())})
        settings = Settings()
        metrics = {p for p in (settings.api_metrics_port, settings.worker_metrics_port) if p}
        assert not metrics & proxied, f"{name}: nginx would route to a metrics port"
        if not metrics:
            assert settings.metrics_host == "127.0.0.1", f"{name}: nothing to bind 0.0.0.0 for"
        assert settings.docs_enabled is False, name
    assert proxied == {int(image_env()["ILEA_API_PORT"])}
