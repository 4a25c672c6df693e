"""Parse errors as types, so the ingest can count and skip a bad line by its reason."""


class ParseError(ValueError):
    """A line that cannot become a message; ``reason`` is a short label for metrics."""

    reason = "malformed"


class MalformedLine(ParseError):
    """The generic IRC framing is broken (no command, tags without a command, ...)."""

    reason = "malformed"


class MissingParameter(ParseError):
    """A Twitch command lacks a parameter it always carries (such as the channel)."""

    reason = "missing_parameter"


class MissingTag(ParseError):
    """A Twitch command lacks a tag the record needs (such as the message ``id``)."""

    reason = "missing_tag"
