"""Pure IRC parsing for the Twitch ingest: no I/O, no clocks, no globals.

``message`` is the generic IRC layer (tags with their escaping, source, command,
parameters; :func:`parse` and its inverse :func:`format`); ``twitch`` maps a generic message
to a typed Twitch command; ``errors`` holds the parse errors as types.
"""

from ingest.irc.errors import MalformedLine, MissingParameter, MissingTag, ParseError
from ingest.irc.message import IrcMessage, Prefix, format, parse
from ingest.irc.twitch import ChatEvent, TwitchMessage, from_irc

__all__ = [
    "ChatEvent",
    "IrcMessage",
    "MalformedLine",
    "MissingParameter",
    "MissingTag",
    "ParseError",
    "Prefix",
    "TwitchMessage",
    "format",
    "from_irc",
    "parse",
]
