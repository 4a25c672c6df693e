"""Twitch's commands as typed messages, one small mapping per command.

``from_irc`` turns a generic :class:`IrcMessage` into the typed message for its command, or
:class:`Generic` for anything the ingest does not act on (USERSTATE, WHISPER, numerics...).
A command that lacks what Twitch always sends raises a :class:`ParseError` subtype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.irc.errors import MissingParameter, MissingTag
from ingest.irc.message import IrcMessage

_ACTION_START = "\x01ACTION "
_ACTION_END = "\x01"


@dataclass(frozen=True, slots=True)
class Emote:
    """One emote occurrence: Twitch's positions in Unicode characters, end inclusive."""

    id: str
    start: int
    end: int


def parse_emotes(raw: str) -> list[Emote]:
    """Parse the ``emotes`` tag (``id:s-e,s-e/id:s-e``) sorted by position.

    A malformed range is skipped rather than failing the whole chat message.
    """
    emotes: list[Emote] = []
    for group in raw.split("/"):
        emote_id, _, ranges = group.partition(":")
        if not emote_id:
            continue
        for span in ranges.split(","):
            start, _, end = span.partition("-")
            if start.isdigit() and end.isdigit() and int(start) <= int(end):
                emotes.append(Emote(emote_id, int(start), int(end)))
    emotes.sort(key=lambda emote: emote.start)
    return emotes


def parse_badges(raw: str) -> dict[str, str]:
    """Parse the ``badges`` tag (``name/version,name/version``) into a dict."""
    badges: dict[str, str] = {}
    for item in raw.split(","):
        name, _, version = item.partition("/")
        if name:
            badges[name] = version
    return badges


def _channel(message: IrcMessage) -> str:
    """The channel login a command is about (its first parameter, without ``#``)."""
    args = message.args
    if not args or not args[0].startswith("#") or len(args[0]) < 2:
        raise MissingParameter(f"{message.command} without a #channel parameter")
    return args[0][1:]


def _tag(message: IrcMessage, key: str) -> str:
    value = message.tags.get(key)
    if not value:
        raise MissingTag(f"{message.command} without a {key!r} tag")
    return value


def _sent_ms(message: IrcMessage) -> int | None:
    raw = message.tags.get("tmi-sent-ts", "")
    return int(raw) if raw.isdigit() else None


@dataclass(frozen=True, slots=True)
class PrivMsg:
    """A chat message; a ``/me`` action arrives unwrapped with ``action=True``."""

    channel: str
    login: str
    text: str
    action: bool
    id: str
    sent_ms: int | None
    tags: dict[str, str] = field(hash=False)

    @classmethod
    def from_irc(cls, message: IrcMessage) -> PrivMsg:
        channel = _channel(message)
        if len(message.args) < 2:
            raise MissingParameter("PRIVMSG without text")
        prefix = message.prefix
        if prefix is None or not prefix.nick:
            raise MissingParameter("PRIVMSG without a sender")
        text = message.args[1]
        action = text.startswith(_ACTION_START) and text.endswith(_ACTION_END)
        if action:
            text = text[len(_ACTION_START) : -len(_ACTION_END)]
        return cls(
            channel,
            prefix.nick,
            text,
            action,
            _tag(message, "id"),
            _sent_ms(message),
            message.tags,
        )


@dataclass(frozen=True, slots=True)
class ClearMsg:
    """A moderator deleted one message (``target-msg-id``) sent by ``login``."""

    channel: str
    login: str
    target_id: str
    sent_ms: int | None

    @classmethod
    def from_irc(cls, message: IrcMessage) -> ClearMsg:
        return cls(
            _channel(message),
            _tag(message, "login"),
            _tag(message, "target-msg-id"),
            _sent_ms(message),
        )


@dataclass(frozen=True, slots=True)
class ClearChat:
    """A timeout or ban of ``login`` (``ban-duration`` seconds for a timeout), or a full clear."""

    channel: str
    login: str | None
    duration: int | None
    sent_ms: int | None

    @classmethod
    def from_irc(cls, message: IrcMessage) -> ClearChat:
        channel = _channel(message)
        login = message.args[1] if len(message.args) > 1 and message.args[1] else None
        raw = message.tags.get("ban-duration", "")
        duration = int(raw) if raw.isdigit() and login is not None else None
        return cls(channel, login, duration, _sent_ms(message))


@dataclass(frozen=True, slots=True)
class UserNotice:
    """A sub, resub, gift, raid, ritual...: ``kind`` is Twitch's ``msg-id``."""

    channel: str
    login: str | None
    kind: str
    id: str
    system_message: str
    text: str | None
    sent_ms: int | None

    @classmethod
    def from_irc(cls, message: IrcMessage) -> UserNotice:
        return cls(
            _channel(message),
            message.tags.get("login") or None,
            _tag(message, "msg-id"),
            _tag(message, "id"),
            message.tags.get("system-msg", ""),
            message.args[1] if len(message.args) > 1 else None,
            _sent_ms(message),
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """A server notice; ``kind`` is its ``msg-id`` (absent for login failures)."""

    channel: str | None
    kind: str | None
    text: str

    @classmethod
    def from_irc(cls, message: IrcMessage) -> Notice:
        args = message.args
        target = args[0] if args else "*"
        channel = target[1:] if target.startswith("#") else None
        return cls(channel, message.tags.get("msg-id"), args[-1] if len(args) > 1 else "")

    @property
    def is_login_failure(self) -> bool:
        """Twitch's answer to a bad or malformed token; retrying it is pointless."""
        return self.channel is None and self.text in _LOGIN_FAILURES


_LOGIN_FAILURES = frozenset(
    {"Login authentication failed", "Improperly formatted auth", "Invalid NICK"}
)


@dataclass(frozen=True, slots=True)
class Ping:
    """A keepalive; the answer echoes ``argument``."""

    argument: str | None

    @classmethod
    def from_irc(cls, message: IrcMessage) -> Ping:
        return cls(message.args[-1] if message.args else None)


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to our PING."""

    @classmethod
    def from_irc(cls, message: IrcMessage) -> Pong:
        return cls()


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Twitch is about to restart this server: open a new connection now."""

    @classmethod
    def from_irc(cls, message: IrcMessage) -> Reconnect:
        return cls()


@dataclass(frozen=True, slots=True)
class Join:
    """``login`` joined ``channel``; Twitch echoes our own JOIN once it succeeded."""

    channel: str
    login: str

    @classmethod
    def from_irc(cls, message: IrcMessage) -> Join:
        prefix = message.prefix
        if prefix is None or not prefix.nick:
            raise MissingParameter("JOIN without a source")
        return cls(_channel(message), prefix.nick)


@dataclass(frozen=True, slots=True)
class Part:
    """``login`` left ``channel``."""

    channel: str
    login: str

    @classmethod
    def from_irc(cls, message: IrcMessage) -> Part:
        prefix = message.prefix
        if prefix is None or not prefix.nick:
            raise MissingParameter("PART without a source")
        return cls(_channel(message), prefix.nick)


@dataclass(frozen=True, slots=True)
class RoomState:
    """The channel's chat settings; sent right after a successful JOIN."""

    channel: str
    settings: dict[str, str] = field(hash=False)

    @classmethod
    def from_irc(cls, message: IrcMessage) -> RoomState:
        return cls(_channel(message), message.tags)


@dataclass(frozen=True, slots=True)
class Generic:
    """Any command without its own mapping (USERSTATE, WHISPER, CAP, numerics...)."""

    message: IrcMessage


TwitchMessage = (
    PrivMsg
    | ClearMsg
    | ClearChat
    | UserNotice
    | Notice
    | Ping
    | Pong
    | Reconnect
    | Join
    | Part
    | RoomState
    | Generic
)
ChatEvent = PrivMsg | ClearMsg | ClearChat | UserNotice
"""The commands that become Kafka records."""

_MAPPINGS: dict[str, Callable[[IrcMessage], TwitchMessage]] = {
    "PRIVMSG": PrivMsg.from_irc,
    "CLEARMSG": ClearMsg.from_irc,
    "CLEARCHAT": ClearChat.from_irc,
    "USERNOTICE": UserNotice.from_irc,
    "NOTICE": Notice.from_irc,
    "PING": Ping.from_irc,
    "PONG": Pong.from_irc,
    "RECONNECT": Reconnect.from_irc,
    "JOIN": Join.from_irc,
    "PART": Part.from_irc,
    "ROOMSTATE": RoomState.from_irc,
}


def from_irc(message: IrcMessage) -> TwitchMessage:
    """Map ``message`` to its typed Twitch command, or :class:`Generic`."""
    mapping = _MAPPINGS.get(message.command.upper())
    return Generic(message) if mapping is None else mapping(message)
