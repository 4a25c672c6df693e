"""Property tests: the parser never fails but with its own error, and format inverts parse."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.irc import IrcMessage, ParseError, format, from_irc, parse
from ingest.records import RecordBuilder

_word = st.text(
    st.characters(blacklist_characters=" \r\n\0", blacklist_categories=("Cs",)), min_size=1
).filter(lambda s: not s.startswith(":"))
_key = st.from_regex(r"\A\+?([a-z0-9.-]+/)?[A-Za-z0-9-]{1,12}\Z")
_value = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))
_command = st.one_of(st.from_regex(r"\A[A-Za-z]{1,12}\Z"), st.from_regex(r"\A[0-9]{3}\Z"))
_trailing = st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)))

messages = st.builds(
    IrcMessage,
    command=_command,
    params=st.lists(_word, max_size=5).map(tuple),
    trailing=st.none() | _trailing,
    source=st.none() | _word,
    tags=st.dictionaries(_key, _value, max_size=5),
)


@settings(max_examples=400, deadline=None)
@given(messages)
def test_parse_inverts_format(message: IrcMessage) -> None:
    assert parse(format(message)) == message


@settings(max_examples=400, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_any_text_parses_or_raises_parse_error(line: str) -> None:
    try:
        message = parse(line)
    except ParseError:
        return
    assert parse(format(message)) == message  # the canonical form is a fixed point


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["PRIVMSG", "CLEARCHAT", "CLEARMSG", "USERNOTICE", "NOTICE", "JOIN", "PING"]),
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "login",
                "msg-id",
                "emotes",
                "badges",
                "color",
                "tmi-sent-ts",
                "target-msg-id",
                "ban-duration",
                "display-name",
                "system-msg",
            ]
        ),
        _value,
    ),
    st.none() | _word,
    st.lists(_word, max_size=2).map(tuple),
    st.none() | _trailing,
)
def test_twitch_mapping_and_records_never_crash(
    command: str,
    tags: dict[str, str],
    source: str | None,
    params: tuple[str, ...],
    trailing: str | None,
) -> None:
    """Hostile tag values must give a record or a ParseError, never another exception."""
    message = IrcMessage(command, params, trailing, source, tags)
    builder = RecordBuilder(1)
    try:
        typed = from_irc(message)
    except ParseError:
        return
    from ingest.irc.twitch import ClearChat, ClearMsg, PrivMsg, UserNotice

    if isinstance(typed, PrivMsg | ClearMsg | ClearChat | UserNotice):
        record = builder.build(typed, 0, "raw")
        assert record.value.startswith(b'{"v":1,')
