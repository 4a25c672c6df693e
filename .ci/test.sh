#!/usr/bin/env bash
# Run the test suite against the shared services: start those not already up, run pytest,
# stop only what this script started (even when the tests fail or are interrupted).
# Tests that break a service on purpose (outages) start private instances on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
started=()
cluster_started=""
stop_started() {
  if [ ${#started[@]} -gt 0 ]; then .ci/services.sh stop "${started[@]}" || true; fi
  if [ -n "$cluster_started" ]; then .ci/cluster/cluster.sh stop || true; fi
}
trap stop_started EXIT
# shellcheck source=lib.sh
. .ci/lib.sh
for pair in "redis:$REDIS_PORT" "kafka:$KAFKA_PORT"; do
  svc="${pair%%:*}"; port="${pair##*:}"
  if ! port_open "$port"; then
    .ci/services.sh start "$svc"
    started+=("$svc")
  fi
done
# The live-cluster tests (tests/cluster) run on the single-node cluster of `make cluster`.
if ! .ci/cluster/cluster.sh is-up; then
  cluster_started=1
  .ci/cluster/cluster.sh start
fi
export LIVECHAT_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export LIVECHAT_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
mkdir -p tests/artifacts
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
exit "$rc"
