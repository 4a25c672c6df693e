"""The IRC connection to Twitch: socket and TLS, login, keepalive, RECONNECT and backoff.

Plain threads and blocking sockets: the ingest reads one channel, so one reader thread per
connection (two during a RECONNECT overlap) is cheap, and kafka-python is thread-based
anyway; gevent would buy nothing here and would have to monkey-patch kafka-python's I/O.

An :class:`IrcSession` is one connection with its own reader thread. :class:`IrcClient`
keeps one joined session alive: after a socket error or silence it reconnects with
exponential backoff and jitter; on Twitch's ``RECONNECT`` it joins a new session *before*
retiring the old one, and asks the relay to de-duplicate while both are open. A login
failure NOTICE raises :class:`LoginFailed`, since retrying a bad token cannot help.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable

from ingest.config import Settings
from ingest.irc import ParseError, from_irc, parse
from ingest.irc.twitch import Join, Notice, Ping, Reconnect, RoomState, TwitchMessage
from ingest.metrics import IngestMetrics

log = logging.getLogger(__name__)

CAPABILITIES = "twitch.tv/tags twitch.tv/commands"
JOIN_TIMEOUT = 15.0
"""Seconds a new connection gets to log in and join before it counts as failed."""
OVERLAP_GRACE = 2.0
"""After a RECONNECT, seconds the old connection keeps reading once the new one joined."""
CONNECT_TIMEOUT = 10.0

MessageHandler = Callable[["IrcSession", TwitchMessage, str, float], None]
"""Called for every parsed line: (session, typed message, raw line, wall-clock arrival)."""


class LoginFailed(Exception):
    """Twitch refused the login (bad token or nickname); the process should stop."""


class Backoff:
    """Exponential delays with equal jitter: half fixed, half random, capped."""

    def __init__(self, first: float = 0.5, maximum: float = 60.0) -> None:
        self.first = first
        self.maximum = maximum
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.first * 2**self.attempt)
        self.attempt += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


class IrcSession:
    """One IRC connection: connect, log in, join, then read lines in a thread."""

    def __init__(
        self, settings: Settings, number: int, on_message: MessageHandler, metrics: IngestMetrics
    ) -> None:
        self.settings = settings
        self.number = number
        self._on_message = on_message
        self._metrics = metrics
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._closing = False
        self.joined = threading.Event()
        self.ended = threading.Event()
        self.reconnect_requested = threading.Event()
        self.changed = threading.Event()
        """Set whenever ``ended`` or ``reconnect_requested`` is."""
        self.failure: LoginFailed | None = None
        self._thread = threading.Thread(target=self._read_loop, name=f"irc-{number}", daemon=True)

    def start(self) -> None:
        """Connect, send the login and JOIN, start reading; raises OSError on failure."""
        settings = self.settings
        sock = socket.create_connection(
            (settings.irc_server, settings.irc_port), timeout=CONNECT_TIMEOUT
        )
        try:
            if settings.irc_tls:
                context = ssl.create_default_context(cafile=settings.irc_ca_file)
                sock = context.wrap_socket(sock, server_hostname=settings.irc_server)
            sock.settimeout(min(1.0, settings.irc_ping_interval / 2))
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._metrics.irc_connected.inc()
        log.info(
            "irc: connection %d open to %s:%d (%s)",
            self.number,
            settings.irc_server,
            settings.irc_port,
            "TLS" if settings.irc_tls else "plain TCP",
        )
        self._thread.start()
        self.send(f"CAP REQ :{CAPABILITIES}")
        if settings.token is not None:
            self.send(f"PASS {settings.token}", secret=True)
        self.send(f"NICK {settings.nickname}")
        self.send(f"JOIN #{settings.channel}")

    def send(self, line: str, secret: bool = False) -> None:
        """Send one line; a send on a broken socket ends the session instead of raising."""
        sock = self._sock
        if sock is None:
            return
        try:
            with self._send_lock:
                sock.sendall(line.encode() + b"\r\n")
        except OSError as exc:
            log.warning("irc: connection %d: send failed: %s", self.number, exc)
            self.close()
            return
        log.debug("irc: connection %d sent %s", self.number, "PASS ***" if secret else line)

    def wait_joined(self, timeout: float, stop: threading.Event) -> bool:
        """Wait until the channel is joined (True), or the session ended, timed out or stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stop.is_set():
            if self.joined.wait(0.05):
                return True
            if self.ended.is_set():
                return False
        return False

    def close(self) -> None:
        """Close the socket; the reader thread then ends."""
        self._closing = True
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.ended.set()
        self.changed.set()

    def _read_loop(self) -> None:
        settings = self.settings
        buffer = b""
        last_read = time.monotonic()
        ping_sent = False
        try:
            while not self._closing:
                sock = self._sock
                if sock is None:
                    break
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    silent = time.monotonic() - last_read
                    if silent >= settings.irc_read_timeout:
                        log.warning(
                            "irc: connection %d silent for %.1f s; treating it as dead",
                            self.number,
                            silent,
                        )
                        break
                    if silent >= settings.irc_ping_interval and not ping_sent:
                        self.send("PING :tmi.twitch.tv")
                        ping_sent = True
                    continue
                if not data:
                    log.warning("irc: connection %d closed by the server", self.number)
                    break
                last_read = time.monotonic()
                ping_sent = False
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    self._handle(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
                    if self.failure is not None:
                        return
        except OSError as exc:
            if not self._closing:
                log.warning("irc: connection %d failed: %s", self.number, exc)
        finally:
            self._metrics.irc_connected.dec()
            self.close()

    def _handle(self, line: str) -> None:
        if not line:
            return
        arrived = time.time()
        self._metrics.irc_lines.inc()
        try:
            typed = from_irc(parse(line))
        except ParseError as exc:
            self._metrics.irc_malformed.labels(self._metrics.channel, exc.reason).inc()
            log.debug("irc: skipped a malformed line (%s): %.200r", exc, line)
            return
        if isinstance(typed, Ping):
            self.send(f"PONG :{typed.argument or 'tmi.twitch.tv'}")
        elif isinstance(typed, Reconnect):
            log.info("irc: connection %d: Twitch asked to reconnect", self.number)
            self.reconnect_requested.set()
            self.changed.set()
        elif isinstance(typed, Notice) and typed.is_login_failure and not self.joined.is_set():
            self.failure = LoginFailed(f"Twitch refused the login: {typed.text}")
        elif (
            isinstance(typed, Join | RoomState)
            and (isinstance(typed, RoomState) or typed.login == self.settings.nickname)
            and typed.channel == self.settings.channel
            and not self.joined.is_set()
        ):
            log.info("irc: connection %d joined #%s", self.number, typed.channel)
            self.joined.set()
        self._on_message(self, typed, line, arrived)


class IrcClient:
    """Keeps one joined session; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        on_message: MessageHandler,
        metrics: IngestMetrics,
        on_overlap: Callable[[bool], None] = lambda active: None,
    ) -> None:
        self.settings = settings
        self._on_message = on_message
        self._metrics = metrics
        self._on_overlap = on_overlap
        self._backoff = Backoff(maximum=settings.irc_reconnect_max_delay)
        self._numbers = 0
        self.current: IrcSession | None = None
        self._address = f"{settings.irc_server}:{settings.irc_port}"

    @property
    def joined(self) -> bool:
        session = self.current
        return session is not None and session.joined.is_set() and not session.ended.is_set()

    def run(self, stop: threading.Event) -> None:
        """Stay joined until ``stop`` is set; raises :class:`LoginFailed`."""
        try:
            self._loop(stop)
        finally:
            self._metrics.irc_joined.set(0)
            if self.current is not None:
                self.current.close()

    def _loop(self, stop: threading.Event) -> None:
        session = self._open(stop)
        while session is not None and not stop.is_set():
            session.changed.wait(0.2)
            if session.failure is not None:
                raise session.failure
            if session.reconnect_requested.is_set():
                self._metrics.reconnects.labels(self.settings.channel, "reconnect").inc()
                self._on_overlap(True)
                old, session = session, self._open(stop)
                threading.Thread(target=self._retire, args=(old,), daemon=True).start()
            elif session.ended.is_set():
                self._metrics.reconnects.labels(self.settings.channel, "error").inc()
                self._metrics.irc_joined.set(0)
                session = self._open(stop)

    def _open(self, stop: threading.Event) -> IrcSession | None:
        """A new joined session, retrying with backoff; None once ``stop`` is set."""
        while not stop.is_set():
            self._numbers += 1
            session = IrcSession(self.settings, self._numbers, self._on_message, self._metrics)
            try:
                session.start()
                if session.wait_joined(JOIN_TIMEOUT, stop):
                    self._backoff.reset()
                    self.current = session
                    self._metrics.irc_joined.set(1)
                    return session
                if session.failure is not None:
                    raise session.failure
                log.warning(
                    "irc: connection %d did not join #%s", session.number, self.settings.channel
                )
            except OSError as exc:  # includes ssl.SSLError (a certificate that fails to verify)
                log.warning(
                    "irc: cannot connect to %s:%d: %s",
                    self.settings.irc_server,
                    self.settings.irc_port,
                    exc,
                )
            session.close()
            delay = self._backoff.next_delay()
            log.info("irc: reconnecting in %.1f s", delay)
            stop.wait(delay)
        return None

    def _retire(self, old: IrcSession) -> None:
        """Let the old session drain for a moment (Twitch usually closes it), then close it."""
        old.ended.wait(OVERLAP_GRACE)
        old.close()
        self._on_overlap(False)
