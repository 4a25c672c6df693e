"""``python -m ingest``: one Twitch channel's chat into Kafka (or stdout).

Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 2 for a configuration error (one
line on stderr naming the setting), 3 when Twitch refuses the login.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from ingest.config import ConfigError, Settings
from ingest.connection import IrcClient, LoginFailed
from ingest.endpoints import serve
from ingest.kafka_sink import KafkaSink
from ingest.metrics import IngestMetrics
from ingest.relay import Relay
from ingest.sink import Sink, StdoutSink

log = logging.getLogger("ingest")
EXIT_CONFIG = 2
EXIT_LOGIN = 3


class _Redact(logging.Filter):
    """Belt and braces: the token never reaches a log line, whoever logs it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "***"), None
        return True


def _configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s ingest[{settings.channel}] %(message)s")
    )
    if settings.token:
        handler.addFilter(_Redact(settings.token.removeprefix("oauth:")))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    if settings.log_level != "DEBUG":
        logging.getLogger("kafka").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument(
        "--env-file",
        help="optional KEY=VALUE file; variables set in the environment win over it",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(env_file=args.env_file)
    except ConfigError as exc:
        print(f"ingest: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(settings)

    metrics = IngestMetrics(settings.channel)
    sink: Sink
    if settings.kafka_enabled:
        kafka_sink = KafkaSink(settings, metrics)
        kafka_sink.start()
        sink = kafka_sink
    else:
        sink = StdoutSink(metrics)
    relay = Relay(sink, metrics)
    client = IrcClient(settings, relay.handle, metrics, on_overlap=relay.set_overlap)

    def readiness() -> str | None:
        if not client.joined:
            return f"irc: #{settings.channel} not joined"
        return sink.ready()

    try:
        server = serve(settings.metrics_host, settings.metrics_port, metrics.registry, readiness)
    except OSError as exc:
        print(
            f"ingest: configuration error: METRICS_PORT {settings.metrics_port}: {exc}",
            file=sys.stderr,
        )
        return EXIT_CONFIG

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    failure: list[BaseException] = []

    def run_irc() -> None:
        try:
            client.run(stop)
        except BaseException as exc:
            failure.append(exc)
        finally:
            stop.set()

    log.info(
        "starting: #%s from %s:%d as %s, records to %s",
        settings.channel,
        settings.irc_server,
        settings.irc_port,
        "anonymous " + settings.nickname if settings.anonymous else settings.nickname,
        f"Kafka topic {settings.kafka_topic}" if settings.kafka_enabled else "stdout",
    )
    irc_thread = threading.Thread(target=run_irc, name="irc", daemon=True)
    irc_thread.start()
    while not stop.wait(0.5):
        pass
    irc_thread.join(timeout=5)
    sink.close(settings.shutdown_timeout)
    server.shutdown()
    if failure:
        if isinstance(failure[0], LoginFailed):
            log.error("%s; not retrying (check IRC_NICKNAME and IRC_AUTH)", failure[0])
            return EXIT_LOGIN
        log.error("the IRC client failed: %r", failure[0])
        return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
