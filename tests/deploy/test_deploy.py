"""Offline checks that deploy/ agrees with the code: the environment every deploy target
gives the ILEA image is what Settings reads, and every command it runs exists.

The other checks of this folder: test_k8s.py (Kubernetes schemas and coherence),
test_helm.py (the Temporal chart rendered with our values), test_compose.py (Compose
schema, start order), test_image.py (Dockerfile, build context, shell scripts),
test_worker_probe.py (the worker's probe). Nothing needs a network, a container engine or
a cluster; the image itself is built by `make image` (tests/deploy/test_image_build.py).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import cast

import click
import pytest
import typer

from cli import main as cli
from ilea.settings import Settings
from tests.deploy.manifests import (
    ROOT,
)
from tests.deploy.targets import (
    REQUIRED_IN_PRODUCTION,
    RUNTIME,
    compose_ilea_services,
    deploy_environments,
    ilea_commands,
    image_env,
    k8s_env,
    k8s_ilea_containers,
    optional_secret_keys,
    settings_env_names,
    use_environment,
)

pytestmark = pytest.mark.deploy


# --- agreement with the code: Settings and entry points ---------------------------------------


@pytest.mark.parametrize(("where", "env"), deploy_environments(), ids=lambda v: v if isinstance(v, str) else None)
def test_environment_is_what_settings_reads(where: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    names = settings_env_names()
    unknown = sorted(n for n in env if n.upper().startswith(("ILEA_", "TEMPORAL_")) and n.upper() not in names)
    assert unknown == [], f"{where}: not Settings fields (typo, or a field that was removed): {unknown}"
    required = {n for n, f in Settings.model_fields.items() if f.is_required()} | REQUIRED_IN_PRODUCTION
    set_fields = {names[n.upper()] for n in env if n.upper() in names}
    assert required <= set_fields, f"{where}: not set: {sorted(required - set_fields)}"

    use_environment(monkeypatch, env)
    settings = Settings()
    assert settings.env == "production" and settings.api_host == "0.0.0.0"
    assert settings.database_url and settings.database_url.startswith("postgresql://")
    assert settings.jwt_issuer != Settings.model_fields["jwt_issuer"].default, f"{where}: set ILEA_JWT_ISSUER"
    assert settings.docs_enabled is False, f"{where}: /docs and /openapi.json are for development"


def test_compose_and_kubernetes_pass_the_same_settings() -> None:
    compose = {k for k in compose_ilea_services()["api"]["environment"] if k.startswith(("ILEA_", "TEMPORAL_"))}
    (_, _, api, docs) = next(c for c in k8s_ilea_containers() if c[0] == "base" and c[2]["name"] == "api")
    k8s = {k for k in k8s_env(api, docs) if k.startswith(("ILEA_", "TEMPORAL_"))} - set(image_env())
    assert compose - set(image_env()) <= k8s | set(optional_secret_keys())


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
