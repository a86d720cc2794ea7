"""Offline checks that Compose and Kubernetes configure sign-in at the agencies' OpenID provider
(issue 18): every API gets a complete provider configuration that Settings accepts, the private
key for ``private_key_jwt`` reaches the API as a mounted secret file, roles come from grants, and
no secret value (client secret, key, signing key, passwords) is in any shipped file.
"""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest

from ilea.settings import Settings
from tests.deploy.manifests import DEPLOY, ENV_EXAMPLE, ROOT, Doc, compose_variables, env_file, interpolate, pod_spec
from tests.deploy.targets import (
    COMPOSE,
    RENDERED,
    SECRETS_EXAMPLE,
    compose_ilea_services,
    compose_test_variables,
    image_env,
    k8s_env,
    k8s_ilea_containers,
    settings_env_names,
    use_environment,
)
from tests.deploy.test_k8s import MADE_OUT_OF_BAND

pytestmark = pytest.mark.deploy

#: Environment variables of the Settings fields that hold a secret (``repr=False``).
SECRET_SETTINGS = sorted(n for n, f in settings_env_names().items() if Settings.model_fields[f].repr is False)


def api_environments() -> list[tuple[str, dict[str, str]]]:
    found = [
        (f"k8s {target}", k8s_env(container, docs))
        for target, doc, container, docs in k8s_ilea_containers()
        if doc["metadata"]["name"] == "ilea-api" and container["name"] == "api"
    ]
    api = compose_ilea_services()["api"]
    found.append(("compose", {**image_env(), **interpolate(api["environment"], compose_test_variables())}))
    return found


@pytest.mark.parametrize(("where", "env"), api_environments(), ids=lambda v: v if isinstance(v, str) else None)
def test_every_api_signs_people_in_at_the_provider(
    where: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_environment(monkeypatch, env)
    settings = Settings()
    assert settings.oidc_issuer and settings.oidc_issuer.startswith("https://"), where
    assert settings.oidc_client_id, where
    callback = urlsplit(settings.oidc_redirect_uri or "")
    signed_out = urlsplit(settings.oidc_post_logout_redirect_uri or "")
    assert (callback.scheme, callback.path) == ("https", "/ui/auth/callback"), f"{where}: the registered callback"
    assert (signed_out.scheme, signed_out.netloc, signed_out.path) == ("https", callback.netloc, "/ui/signed-out")
    # Roles come from grants kept in ILEA, never from what a token claims.
    assert not settings.roles_from_claims, f"{where}: ILEA_TRUST_TOKEN_ROLES must stay off in production"
    # API callers present the provider's access tokens, checked with its published keys.
    assert settings.jwt_algorithm == "RS256" and (settings.jwt_jwks_url or "").startswith("https://"), where
    assert settings.jwt_audience and settings.jwt_issuer.startswith("https://"), where


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_kubernetes_mounts_the_client_key_where_the_settings_look(target: str) -> None:
    docs = RENDERED[target]
    doc, api = next((d, c) for t, d, c, _ in k8s_ilea_containers() if t == target and c["name"] == "api")
    env = k8s_env(api, docs)
    assert env["ILEA_OIDC_CLIENT_AUTH"] == "private_key_jwt", "the base is set up for Login.gov"
    key = PurePosixPath(env["ILEA_OIDC_PRIVATE_KEY_PATH"])
    spec = pod_spec(doc)
    assert spec is not None
    (mount,) = [m for m in api["volumeMounts"] if m["mountPath"] == str(key.parent)]
    assert mount["readOnly"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    secret = volume["secret"]
    assert ("Secret", secret["secretName"]) in MADE_OUT_OF_BAND, "the key is never shipped in a manifest"
    assert [i["path"] for i in secret["items"]] == [key.name]
    # Readable by the pod's group only; the pod's group is the app's.
    pod_security = spec["securityContext"]
    assert secret["defaultMode"] == 0o440 and pod_security["fsGroup"] == pod_security["runAsGroup"]
    # Only the API signs in at the provider: the worker never sees the key.
    worker = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "ilea-worker")
    assert secret["secretName"] not in str(worker)
    # The redirect URIs registered with the provider are on the host the Ingress serves.
    hosts = {rule["host"] for d in docs if d["kind"] == "Ingress" for rule in d["spec"]["rules"]}
    if hosts:
        assert urlsplit(env["ILEA_OIDC_REDIRECT_URI"]).netloc in hosts


def test_compose_gives_the_api_alone_the_client_key_as_a_secret_file() -> None:
    services = compose_ilea_services()
    api = services["api"]
    env = interpolate(api["environment"], compose_test_variables())
    key = PurePosixPath(env["ILEA_OIDC_PRIVATE_KEY_PATH"])
    assert key.parent == PurePosixPath("/run/secrets") and api["secrets"] == [key.name]
    assert all("secrets" not in s for n, s in services.items() if n != "api"), "only the API signs in"
    source = interpolate(COMPOSE["secrets"][key.name]["file"], {})
    # The default key file is under deploy/secrets/, which git ignores.
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEPLOY / source)], cwd=ROOT, check=False)
    assert ignored.returncode == 0, f"{source} could be committed"


def _configmaps(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] == "ConfigMap"]


@pytest.mark.parametrize("target", sorted(RENDERED))
def test_no_configmap_holds_a_secret_setting(target: str) -> None:
    for doc in _configmaps(RENDERED[target]):
        held = sorted(set(doc["data"]) & set(SECRET_SETTINGS))
        assert held == [], f"{doc['metadata']['name']}: {held} belong in a Secret"


def test_compose_takes_every_secret_setting_from_a_blank_variable() -> None:
    """Compose holds no secret value: each secret setting comes from ${VARIABLES} of
    deploy/.env, which the example leaves blank."""
    example = env_file(ENV_EXAMPLE)
    assert {"ILEA_JWT_SECRET", "ILEA_OIDC_CLIENT_SECRET", "ILEA_DATABASE_URL"} <= set(SECRET_SETTINGS)
    for name, service in compose_ilea_services().items():
        for setting in sorted(set(service["environment"]) & set(SECRET_SETTINGS)):
            referenced = compose_variables(service["environment"][setting])
            assert referenced, f"compose {name}: {setting} is written in compose.yaml"
            assert {v: example.get(v) for v in referenced} == dict.fromkeys(referenced, ""), setting


def test_the_example_files_ship_no_secret_value() -> None:
    for path in (ENV_EXAMPLE, SECRETS_EXAMPLE):
        for name, value in env_file(path).items():
            if name in SECRET_SETTINGS or name.endswith(("PASSWORD", "_SECRET", "_KEY")):
                assert value == "", f"{path.name}: {name} has a value"
    shipped = subprocess.run(["git", "ls-files", "deploy"], cwd=ROOT, capture_output=True, text=True, check=True)
    for relative in shipped.stdout.split():
        path = ROOT / relative
        if path.is_file():
            assert "PRIVATE KEY-----" not in path.read_text(errors="replace"), f"{relative} holds a private key"
