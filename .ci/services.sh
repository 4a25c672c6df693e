#!/usr/bin/env bash
# Start and stop the backing services livechat uses in development and in tests:
# Redis (Debian's redis-server), a single-node KRaft Kafka broker (Apache jars resolved
# with Maven into .tools/kafka) and Prometheus (Debian's prometheus).
#
#   services.sh start|stop|status [redis|kafka|prometheus ...]
#
# Every service listens on 127.0.0.1 only. Ports come from REDIS_PORT, KAFKA_PORT and
# PROMETHEUS_PORT; state lives under SERVICES_DIR (default .tools/run/<service>-<port>),
# so tests can run private instances on free ports next to the shared ones.
# Idempotent: a service already answering on its port is left alone.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
REDIS_PORT="${REDIS_PORT:-6379}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_TOPIC="${KAFKA_TOPIC:-twitch.chat}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
PROMETHEUS_CONFIG="${PROMETHEUS_CONFIG:-}"

# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"

state_dir() { echo "${SERVICES_DIR:-$TOOLS/run/$1-$2}"; }

stop_service() { # dir name
  if [ -f "$1/pid" ]; then stop_pidfile "$1/pid"; echo "services: $2 stopped"; else echo "services: $2 not started here"; fi
}

start_redis() {
  local dir; dir="$(state_dir redis "$REDIS_PORT")"
  if port_open "$REDIS_PORT"; then echo "services: redis already on $REDIS_PORT"; return 0; fi
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/pid" --logfile "$dir/redis.log"
  wait_port "$REDIS_PORT" 10 redis
  echo "services: redis on 127.0.0.1:$REDIS_PORT"
}

kafka_java() { # main-class args...
  java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/.ci/kafka/log4j2.properties" \
    -cp "$TOOLS/kafka/libs/*" "$@"
}

start_kafka() {
  local dir; dir="$(state_dir kafka "$KAFKA_PORT")"
  if port_open "$KAFKA_PORT"; then echo "services: kafka already on $KAFKA_PORT"; return 0; fi
  [ -d "$TOOLS/kafka/libs" ] || "$ROOT/.ci/install-tools.sh" kafka
  mkdir -p "$dir"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
PROPS
  if [ ! -f "$dir/data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1
  fi
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/.ci/kafka/log4j2.properties" \
    -cp "$TOOLS/kafka/libs/*" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_port "$KAFKA_PORT" 60 kafka
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --create --if-not-exists --topic "$KAFKA_TOPIC" --partitions 1 --replication-factor 1 \
    >"$dir/topic.log" 2>&1 || { cat "$dir/topic.log" >&2; return 1; }
  echo "services: kafka on 127.0.0.1:$KAFKA_PORT (topic $KAFKA_TOPIC)"
}

start_prometheus() {
  local dir; dir="$(state_dir prometheus "$PROMETHEUS_PORT")"
  if port_open "$PROMETHEUS_PORT"; then echo "services: prometheus already on $PROMETHEUS_PORT"; return 0; fi
  mkdir -p "$dir"
  local config="$PROMETHEUS_CONFIG"
  if [ -z "$config" ]; then
    config="$dir/prometheus.yml"
    cat >"$config" <<YML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $ROOT/charts/livechat/files/alerts.rules.yml
scrape_configs:
  - job_name: livechat
    static_configs:
      - targets: ["127.0.0.1:5000"]
        labels: {namespace: dev, pod: chat-0}
  - job_name: livechat-ingest
    static_configs:
      - targets: ["127.0.0.1:9102"]
        labels: {namespace: dev, pod: ingest-0}
YML
  fi
  nohup prometheus --config.file="$config" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle \
    >"$dir/prometheus.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_port "$PROMETHEUS_PORT" 30 prometheus
  echo "services: prometheus on 127.0.0.1:$PROMETHEUS_PORT"
}

stop_redis() { stop_service "$(state_dir redis "$REDIS_PORT")" redis; }
stop_kafka() { stop_service "$(state_dir kafka "$KAFKA_PORT")" kafka; }
stop_prometheus() { stop_service "$(state_dir prometheus "$PROMETHEUS_PORT")" prometheus; }

status_one() { # name port
  if port_open "$2"; then echo "$1: up on 127.0.0.1:$2"; else echo "$1: down ($2)"; fi
}

action="${1:-}"; shift || true
services=("$@"); [ ${#services[@]} -gt 0 ] || services=(redis kafka prometheus)
for svc in "${services[@]}"; do
  case "$svc" in redis | kafka | prometheus) ;; *) echo "services: unknown service '$svc'" >&2; exit 2 ;; esac
  case "$action" in
    start) "start_$svc" ;;
    stop) "stop_$svc" ;;
    status)
      case "$svc" in
        redis) status_one redis "$REDIS_PORT" ;;
        kafka) status_one kafka "$KAFKA_PORT" ;;
        prometheus) status_one prometheus "$PROMETHEUS_PORT" ;;
      esac ;;
    *) echo "usage: services.sh start|stop|status [redis|kafka|prometheus ...]" >&2; exit 2 ;;
  esac
done
