#!/bin/sh
# A base image for deploy/Dockerfile where python:3.11-slim-bookworm cannot be pulled (no
# registry reachable): Debian bookworm made by debootstrap from a Debian mirror, with
# Debian's Python 3.11 at `python`, venv, and the CA certificates, imported into podman.
#
#   sh deploy/image/debian-python-base.sh localhost/ilea-python-base:3.11-bookworm
#
# Needs root, debootstrap and podman (Debian packages). About 2-3 minutes, once: `make image`
# keeps the result and reuses it.
set -eu
TAG="${1:?usage: debian-python-base.sh IMAGE_TAG}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  bookworm "$WORK/rootfs" "$MIRROR"
# What an image needs no copy of: downloaded packages and package lists.
rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
# The Python the project is tested with (and the official image's minor version).
chroot "$WORK/rootfs" python -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["python"]' - "$TAG"
