#!/bin/sh
# `make image`: build deploy/Dockerfile with podman (no daemon: --isolation=chroot), on the
# pinned python base when it can be pulled, else on a Debian base with the same Python made
# by debian-python-base.sh. PIP_CA, if set, names the CA file of a TLS-intercepting proxy.
#
#   sh deploy/image/build.sh localhost/ilea:local
set -eu
IMAGE="${1:?usage: build.sh IMAGE_TAG}"
PINNED="docker.io/library/$(sed -n 's/^ARG PYTHON_IMAGE=//p' deploy/Dockerfile)"
FALLBACK="${IMAGE_BASE:-localhost/ilea-python-base:3.11-bookworm}"

if podman image exists "$PINNED" || podman pull -q "$PINNED" > /dev/null 2>&1; then
  base="$PINNED"
else
  echo "build.sh: cannot pull $PINNED; building on $FALLBACK (debootstrap)"
  podman image exists "$FALLBACK" || sh deploy/image/debian-python-base.sh "$FALLBACK"
  base="$FALLBACK"
fi
set -- --isolation=chroot --format docker -f deploy/Dockerfile --build-arg "PYTHON_IMAGE=$base" -t "$IMAGE"
if [ -n "${PIP_CA:-}" ]; then
  set -- "$@" --secret "id=pip_ca,src=$PIP_CA"
fi
podman build "$@" .
echo "build.sh: built $IMAGE on $base"
