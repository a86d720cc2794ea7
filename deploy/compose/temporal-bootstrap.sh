#!/bin/sh
# One-shot, on a self-hosted Temporal: the ILEA namespace and its search attributes
# (the same list as ilea/search_attributes.py; tests/deploy checks they agree).
# Idempotent: an existing namespace is kept, and `search-attribute create` skips
# attributes that already exist with the same type. (IleaPendingOn, registered before
# it left Temporal visibility, stays where it exists: proposals started then still upsert it.)
# Run by deploy/compose.yaml (mounted) and by the production walk-through in
# deploy/README.md; on Kubernetes the Helm values register the same attributes.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"
RETENTION="${NAMESPACE_RETENTION:-30d}"

retry() {
  n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 60 ]; then
      echo "gave up after $n attempts: $*" >&2
      return 1
    fi
    sleep 2
  done
}

retry temporal operator cluster health --address "$TEMPORAL_ADDRESS"

if ! temporal operator namespace describe --address "$TEMPORAL_ADDRESS" \
    --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" \
    --namespace "$TEMPORAL_NAMESPACE" --retention "$RETENTION"
fi

# A new namespace takes a few seconds to reach every frontend: retry until it does.
retry temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" \
  --namespace "$TEMPORAL_NAMESPACE" \
  --name IleaStage --type Keyword \
  --name IleaAcademy --type Keyword \
  --name IleaTopic --type Keyword \
  --name IleaStartDate --type Datetime

echo "namespace ${TEMPORAL_NAMESPACE} and ILEA search attributes are in place"
