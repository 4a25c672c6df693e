"""The generic IRC layer: one raw line to an :class:`IrcMessage` and back.

``parse`` follows RFC 1459 on runs of spaces between atoms (the ``irc-parser-tests``
vectors do too) and keeps the trailing parameter apart from the middle ones, so that
``format(parse(line)) == line`` for every line in canonical form (single spaces, tags as
``key=value``, which is how Twitch writes them) and ``parse(format(message)) == message``
for every message ``format`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from ingest.irc.errors import MalformedLine
from ingest.irc.tags import format_tags, parse_tags

_BAD_KEY_CHARS = frozenset("=; \r\n\0")


class Prefix(NamedTuple):
    """The source of a message split as ``nick!user@host``; missing parts are empty."""

    nick: str
    user: str
    host: str

    @classmethod
    def split(cls, source: str) -> Prefix:
        """Split a source string; ``coolguy@host`` has no user, ``!ag@host`` no nick."""
        rest, _, host = source.partition("@")
        nick, _, user = rest.partition("!")
        return cls(nick, user, host)


@dataclass(frozen=True, slots=True)
class IrcMessage:
    """One IRC message; tag values are already unescaped."""

    command: str
    params: tuple[str, ...] = ()
    trailing: str | None = None
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def args(self) -> tuple[str, ...]:
        """Every parameter, the trailing one last (what most code wants)."""
        if self.trailing is None:
            return self.params
        return (*self.params, self.trailing)

    @property
    def prefix(self) -> Prefix | None:
        """The source split into nick, user and host, or None without a source."""
        return None if self.source is None else Prefix.split(self.source)


def is_command(word: str) -> bool:
    """True for an IRC command: ASCII letters, or a three-digit numeric reply."""
    return word.isascii() and (word.isalpha() or (word.isdigit() and len(word) == 3))


def parse(line: str) -> IrcMessage:
    """Parse one raw line (a trailing CR/LF is ignored) or raise :class:`MalformedLine`."""
    rest = line.rstrip("\r\n")
    if "\r" in rest or "\n" in rest or "\0" in rest:
        raise MalformedLine("line contains CR, LF or NUL")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        block, sep, rest = rest[1:].partition(" ")
        if not sep:
            raise MalformedLine("tags without a command")
        tags = parse_tags(block)
        rest = rest.lstrip(" ")
    source: str | None = None
    if rest.startswith(":"):
        source, sep, rest = rest[1:].partition(" ")
        if not sep or not source:
            raise MalformedLine("source without a command")
        rest = rest.lstrip(" ")
    command, _, rest = rest.partition(" ")
    if not is_command(command):
        raise MalformedLine("missing or invalid command")
    params: list[str] = []
    trailing: str | None = None
    while rest:
        rest = rest.lstrip(" ")
        if rest.startswith(":"):
            trailing = rest[1:]
            break
        param, _, rest = rest.partition(" ")
        if param:
            params.append(param)
    return IrcMessage(command, tuple(params), trailing, source, tags)


def format(message: IrcMessage) -> str:
    """Format ``message`` as one line without CRLF; raise ValueError if it cannot round-trip."""
    parts: list[str] = []
    if message.tags:
        if any(not key or _BAD_KEY_CHARS.intersection(key) for key in message.tags):
            raise ValueError("tag keys must be non-empty, without '=', ';' or whitespace")
        parts.append("@" + format_tags(message.tags))
    if message.source is not None:
        if not message.source or " " in message.source:
            raise ValueError("source must be non-empty and without spaces")
        parts.append(":" + message.source)
    if not is_command(message.command):
        raise ValueError(f"invalid command {message.command!r}")
    parts.append(message.command)
    for param in message.params:
        if not param or " " in param or param.startswith(":"):
            raise ValueError(f"middle parameter {param!r} cannot be sent as is")
        parts.append(param)
    if message.trailing is not None:
        parts.append(":" + message.trailing)
    line = " ".join(parts)
    if "\r" in line or "\n" in line or "\0" in line:
        raise ValueError("message contains CR, LF or NUL outside tags")
    return line
