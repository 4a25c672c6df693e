#!/usr/bin/env python3
"""Entrypoint of the test-only apache/kafka substitute (tests/cluster/images/kafka).

Follows the official image's documented contract so the chart's bundled Kafka runs unchanged:
every `KAFKA_<NAME>` variable becomes a server.properties key (prefix dropped, lower case,
`___` -> `-`, `__` -> `_`, `_` -> `.`), except the JVM/launcher ones; `CLUSTER_ID` formats the
storage on first start; `KAFKA_HEAP_OPTS` and `KAFKA_OPTS` go to the JVM.
"""

import os
import shlex
import sys

CONFIG = "/opt/kafka/config/server.properties"
CLASSPATH = "/opt/kafka/libs/*"
NOT_PROPERTIES = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
    "KAFKA_JMX_PORT",
}
DEFAULTS = {  # the official image's defaults for a single combined node
    "process.roles": "broker,controller",
    "node.id": "1",
    "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093",
    "advertised.listeners": "PLAINTEXT://localhost:9092",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "controller.quorum.voters": "1@localhost:9093",
    "log.dirs": "/tmp/kraft-combined-logs",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
}


def property_name(env_name: str) -> str:
    name = env_name[len("KAFKA_") :].lower()
    return name.replace("___", "-").replace("__", "\0").replace("_", ".").replace("\0", "_")


def main() -> None:
    props = dict(DEFAULTS)
    for key, value in os.environ.items():
        if key.startswith("KAFKA_") and key not in NOT_PROPERTIES:
            props[property_name(key)] = value
    with open(CONFIG, "w", encoding="utf-8") as out:
        for key, value in sorted(props.items()):
            out.write(f"{key}={value}\n")
    jvm = ["java", "-Djava.awt.headless=true", "-cp", CLASSPATH]
    jvm += shlex.split(os.environ.get("KAFKA_HEAP_OPTS", "-Xmx1G -Xms1G"))
    jvm += shlex.split(os.environ.get("KAFKA_OPTS", ""))
    cluster_id = os.environ.get("CLUSTER_ID", "5L6g3nShT-eMCtK--X86sw")
    meta = os.path.join(props["log.dirs"].split(",")[0], "meta.properties")
    if not os.path.exists(meta):
        os.makedirs(os.path.dirname(meta), exist_ok=True)
        pid = os.fork()
        if pid == 0:
            fmt = ["java", "-cp", CLASSPATH, "-Xmx256m", "kafka.tools.StorageTool", "format"]
            os.execvp("java", [*fmt, "-t", cluster_id, "-c", CONFIG, "--ignore-formatted"])
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.exit("kafka substitute: storage format failed")
    os.execvp("java", [*jvm, "kafka.Kafka", CONFIG])


if __name__ == "__main__":
    main()
