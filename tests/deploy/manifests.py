"""Readers of the files in deploy/, for the offline deployment checks.

``render_kustomization`` builds what ``kubectl kustomize`` would, for the subset of
kustomize the manifests use (resources, namespace, images, strategic-merge patches by
path, ``$patch: delete``, configMapGenerator without name hashes). Anything else raises
NotImplementedError, so a manifest change cannot slip past it silently; when kubectl is
on the PATH the tests also compare this rendering with kubectl's own.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())
KUSTOMIZATIONS = [K8S / "base", *OVERLAYS]

Doc = dict[str, Any]


def load_yaml_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# --- kustomize ----------------------------------------------------------------------------

_SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "patches", "configMapGenerator"}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
# Strategic-merge keys of the Kubernetes lists the manifests patch (first key present wins).
_MERGE_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "ports": ("containerPort", "port"),
}


def render_kustomization(directory: Path) -> list[Doc]:
    """The resources a kustomization directory builds to, in the subset described above."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(spec) - _SUPPORTED
    if unsupported:
        raise NotImplementedError(f"{directory}: kustomize fields not rendered here: {sorted(unsupported)}")
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        docs += render_kustomization(path) if path.is_dir() else load_yaml_docs(path)
    docs += [_generate_configmap(directory, g) for g in spec.get("configMapGenerator", [])]
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise NotImplementedError(f"{directory}: only `patches: - path:` is rendered here, not {patch}")
        for p in load_yaml_docs(directory / patch["path"]):
            docs = _apply_patch(docs, p)
    if "namespace" in spec:
        for d in docs:
            if d["kind"] not in _CLUSTER_SCOPED:
                d["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        for container in iter_containers(docs):
            if image_name(container["image"]) == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return docs


def _generate_configmap(directory: Path, generator: Doc) -> Doc:
    options = generator.get("options", {})
    if not options.get("disableNameSuffixHash") or set(generator) - {"name", "files", "literals", "options"}:
        raise NotImplementedError(f"configMapGenerator {generator['name']}: only unhashed files/literals")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, source = entry.rpartition("=")
        data[key or Path(source).name] = (directory / source).read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    metadata: Doc = {"name": generator["name"]}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _apply_patch(docs: list[Doc], patch: Doc) -> list[Doc]:
    target = (patch["kind"], patch["metadata"]["name"])
    matches = [i for i, d in enumerate(docs) if (d["kind"], d["metadata"]["name"]) == target]
    if len(matches) != 1:
        raise ValueError(f"patch target {target} found {len(matches)} times")
    if patch.get("$patch") == "delete":
        return [d for i, d in enumerate(docs) if i != matches[0]]
    docs[matches[0]] = strategic_merge(docs[matches[0]], patch)
    return docs


def strategic_merge(base: Any, patch: Any, key: str | None = None) -> Any:
    """Kubernetes strategic merge for maps and the keyed lists of ``_MERGE_KEYS``."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for k, v in patch.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = strategic_merge(merged[k], v, k) if k in merged else copy.deepcopy(v)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and key in _MERGE_KEYS:
        merge_key = next(k for k in _MERGE_KEYS[key] if all(k in item for item in base + patch))
        merged_list = [dict(item) for item in base]
        added = []  # kustomize puts the patch's new items before the existing ones
        for item in patch:
            same = [i for i, b in enumerate(merged_list) if b[merge_key] == item[merge_key]]
            if same:
                merged_list[same[0]] = strategic_merge(merged_list[same[0]], item)
            else:
                added.append(copy.deepcopy(item))
        return added + merged_list
    return copy.deepcopy(patch)


def image_name(reference: str) -> str:
    """``registry/name`` of an image reference, without tag or digest."""
    reference = reference.split("@", 1)[0]
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    return reference[:colon] if colon > slash else reference


def pod_spec(doc: Doc) -> Doc | None:
    """The pod template spec of a workload, else None."""
    if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def iter_containers(docs: list[Doc]) -> Iterator[Doc]:
    for doc in docs:
        spec = pod_spec(doc)
        if spec is not None:
            yield from spec.get("initContainers", [])
            yield from spec["containers"]


def by_kind_name(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


# --- compose ------------------------------------------------------------------------------

COMPOSE_FILE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def compose_variables(text: str) -> dict[str, str | None]:
    """Every ``${NAME...}`` in a compose file: NAME -> its ``-`` default (None when required)."""
    found: dict[str, str | None] = {}
    for m in _VARIABLE.finditer(text):
        if m["name"]:
            default = m["arg"] if m["op"] and m["op"].endswith("-") else None
            if found.get(m["name"]) is None:
                found[m["name"]] = default
    return found


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Compose interpolation of ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if not m["name"]:
            return "$"
        given = variables.get(m["name"])
        op = m["op"] or ""
        if given is None or (op.startswith(":") and given == ""):
            if op.endswith("-"):
                return m["arg"]
            raise KeyError(f"{m['name']} is required: {m['arg'] or '(no message)'}")
        return given

    return _VARIABLE.sub(substitute, value)


def env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a dotenv file, commented-out ones included (value after '=')."""
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            entries[m[1]] = m[2]
    return entries


# --- Dockerfile and .dockerignore -----------------------------------------------------------

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    keyword: str
    value: str
    line: int
    comments: list[str] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined, each with the comment lines just above it."""
    instructions: list[Instruction] = []
    comments: list[str] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            if not pending:
                comments.append(line.lstrip("# "))
            continue
        if not line:
            if not pending:
                comments = []
            continue
        if not pending:
            start = number
        pending.append(line[:-1].rstrip() if line.endswith("\\") else line)
        if not line.endswith("\\"):
            keyword, _, value = " ".join(pending).partition(" ")
            instructions.append(Instruction(keyword.upper(), value.strip(), start, comments))
            pending, comments = [], []
    return instructions


def env_assignments(value: str) -> dict[str, str]:
    """``ENV a=1 b=2`` (or the legacy ``ENV a 1``) as a dict."""
    tokens = shlex.split(value)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(t.split("=", 1) for t in tokens)


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out: Docker's rules, the last matching
    pattern wins and a pattern matching a parent directory matches what it holds."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = _ignore_regex(raw.lstrip("!").strip("/"))
        if any(regex.match(c) for c in candidates):
            ignored = not negated
    return ignored


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]
