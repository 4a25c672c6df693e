"""A scripted Twitch-like IRC server on loopback, for tests of anything that reads Twitch chat.

It speaks enough of Twitch's IRC to log a client in and feed it chat:

* ``CAP REQ :...`` gets ``CAP * ACK :...``; ``NICK`` gets the 001-004 and 375/372/376 welcome
  (or, with ``reject_login=True`` and a ``PASS``, Twitch's ``NOTICE * :Login authentication
  failed`` and a close); ``JOIN #chan`` gets the JOIN echo, 353/366 and a ``ROOMSTATE``;
  ``PING x`` gets ``PONG tmi.twitch.tv :x``; ``PART`` is echoed.
* The test drives it: :meth:`FakeTwitch.broadcast` plays raw lines to every joined client,
  :meth:`ping`, :meth:`reconnect` (Twitch's ``RECONNECT``), :meth:`drop` (abrupt close) and
  :meth:`mute` (keep sockets open but stop answering, like a dead peer).
* Everything clients send is recorded per connection (:attr:`Client.received`).

Usage::

    with FakeTwitch() as twitch:                    # plain TCP on 127.0.0.1:<free port>
        ...start a client against twitch.port...
        twitch.wait_for_joins(1)
        twitch.broadcast(lines)

Pass ``ssl_context`` (a server-side ``ssl.SSLContext``) to serve TLS instead.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from types import TracebackType

HOST = "tmi.twitch.tv"


class Client:
    """One accepted connection and what it sent."""

    def __init__(self, server: FakeTwitch, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.received: list[str] = []
        self.nick: str | None = None
        self.password: str | None = None
        self.channels: set[str] = set()
        self.closed = threading.Event()
        self._lock = threading.Lock()

    @property
    def joined(self) -> bool:
        return bool(self.channels) and not self.closed.is_set()

    def send(self, *lines: str) -> None:
        """Send raw lines (CRLF added); a closed client is ignored."""
        data = "".join(line + "\r\n" for line in lines).encode()
        with self._lock:
            if self.closed.is_set():
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def close(self) -> None:
        """Close abruptly, as a crashed server or a cut network would."""
        if self.closed.is_set():
            return
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def _serve(self) -> None:
        buffer = b""
        try:
            while not self.closed.is_set():
                data = self.sock.recv(65536)
                if not data:
                    break
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
                    self.received.append(line)
                    if not self.server.muted:
                        self._answer(line)
        except (OSError, ValueError):
            pass
        finally:
            self.close()

    def _answer(self, line: str) -> None:
        command, _, rest = line.partition(" ")
        command = command.upper()
        if command == "CAP" and rest.startswith("REQ"):
            self.send(f":{HOST} CAP * ACK {rest[4:]}")
        elif command == "PASS":
            self.password = rest
        elif command == "NICK":
            self.nick = rest.strip()
            if self.server.reject_login and self.password is not None:
                self.send(f":{HOST} NOTICE * :Login authentication failed")
                self.close()
                return
            nick = self.nick
            self.send(
                f":{HOST} 001 {nick} :Welcome, GLHF!",
                f":{HOST} 002 {nick} :Your host is {HOST}",
                f":{HOST} 003 {nick} :This server is rather new",
                f":{HOST} 004 {nick} :-",
                f":{HOST} 375 {nick} :-",
                f":{HOST} 372 {nick} :You are in a maze of twisty passages, all alike.",
                f":{HOST} 376 {nick} :>",
            )
        elif command == "JOIN" and self.nick is not None:
            for channel in rest.strip().split(","):
                user = f"{self.nick}!{self.nick}@{self.nick}.{HOST}"
                self.send(
                    f":{user} JOIN {channel}",
                    f":{self.nick}.{HOST} 353 {self.nick} = {channel} :{self.nick}",
                    f":{self.nick}.{HOST} 366 {self.nick} {channel} :End of /NAMES list",
                    "@emote-only=0;followers-only=-1;r9k=0;room-id=12345;slow=0;subs-only=0"
                    f" :{HOST} ROOMSTATE {channel}",
                )
                self.channels.add(channel.lstrip("#"))
                self.server._joined.set()
        elif command == "PART":
            self.channels.discard(rest.strip().lstrip("#"))
            self.send(f":{self.nick}!{self.nick}@{self.nick}.{HOST} PART {rest.strip()}")
        elif command == "PING":
            self.send(f":{HOST} PONG {HOST} :{rest.lstrip(':')}")


class FakeTwitch:
    """The listener; see the module docstring."""

    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, reject_login: bool = False
    ) -> None:
        self.ssl_context = ssl_context
        self.reject_login = reject_login
        self.muted = False
        self.clients: list[Client] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._joined = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, name="fake-twitch", daemon=True)

    def __enter__(self) -> FakeTwitch:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        for client in list(self.clients):
            client.close()

    # -- driving the clients --------------------------------------------------------------

    def joined_clients(self) -> list[Client]:
        return [c for c in self.clients if c.joined]

    def wait_for_joins(self, count: int, timeout: float = 20.0) -> list[Client]:
        """Wait until ``count`` connections (ever) have joined; return the open joined ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for c in self.clients if c.channels) >= count:
                return self.joined_clients()
            time.sleep(0.02)
        raise TimeoutError(f"fewer than {count} clients joined within {timeout} s")

    def broadcast(self, lines: Iterable[str], rate: float | None = None) -> None:
        """Send each line to every joined client; ``rate`` caps lines per second."""
        interval = 1.0 / rate if rate else 0.0
        next_at = time.monotonic()
        for line in lines:
            for client in self.joined_clients():
                client.send(line)
            if interval:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def ping(self, argument: str = HOST) -> None:
        for client in self.joined_clients():
            client.send(f"PING :{argument}")

    def reconnect(self) -> list[Client]:
        """Send Twitch's RECONNECT to every open client; return them (close them later)."""
        clients = [c for c in self.clients if not c.closed.is_set()]
        for client in clients:
            client.send(f":{HOST} RECONNECT")
        return clients

    def drop(self) -> None:
        """Abruptly close every open connection."""
        for client in list(self.clients):
            client.close()

    def mute(self, muted: bool = True) -> None:
        """Stop (or resume) answering anything, PING included, while keeping sockets open."""
        self.muted = muted

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self.ssl_context is not None:
                try:
                    sock.settimeout(10)
                    sock = self.ssl_context.wrap_socket(sock, server_side=True)
                    sock.settimeout(None)
                except (OSError, ssl.SSLError):
                    sock.close()
                    continue
            client = Client(self, sock, len(self.clients) + 1)
            self.clients.append(client)
            threading.Thread(target=client._serve, daemon=True).start()
