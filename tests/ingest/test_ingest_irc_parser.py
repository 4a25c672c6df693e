"""The pure IRC layer against the generic vectors and real Twitch traffic."""

from __future__ import annotations

from typing import Any

import pytest
from parser_tests import data as parser_tests

from ingest.irc import IrcMessage, MalformedLine, Prefix, format, from_irc, parse
from ingest.irc.tags import escape_value, unescape_value
from ingest.irc.twitch import (
    ClearChat,
    Generic,
    Notice,
    Ping,
    PrivMsg,
    Reconnect,
    parse_badges,
    parse_emotes,
)
from tests.support.corpora import expected_atoms, expected_tags


def _atoms(message: IrcMessage) -> dict[str, Any]:
    return {
        "tags": message.tags or None,
        "source": message.source,
        "verb": message.command,
        "params": list(message.args),
    }


def _expected(atoms: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": atoms.get("tags") or None,
        "source": atoms.get("source"),
        "verb": atoms["verb"],
        "params": atoms.get("params", []),
    }


@pytest.mark.parametrize("case", parser_tests.msg_split["tests"], ids=lambda c: c["input"][:40])
def test_msg_split_vectors(case: dict[str, Any]) -> None:
    assert _atoms(parse(case["input"])) == _expected(case["atoms"])


@pytest.mark.parametrize("case", parser_tests.msg_join["tests"], ids=lambda c: c["desc"])
def test_msg_join_vectors(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    params = atoms.get("params", [])
    # The vectors' last param goes trailing when it must (empty, spaces, leading ':').
    needs_trailing = bool(params) and (
        params[-1] == "" or " " in params[-1] or params[-1].startswith(":")
    )
    message = IrcMessage(
        command=atoms["verb"],
        params=tuple(params[:-1] if needs_trailing else params),
        trailing=params[-1] if needs_trailing else None,
        source=atoms.get("source"),
        tags=atoms.get("tags") or {},
    )
    line = format(message)
    assert parse(line) == message
    assert any(_atoms(parse(match)) == _atoms(message) for match in case["matches"])


@pytest.mark.parametrize("case", parser_tests.userhost_split["tests"], ids=lambda c: c["source"])
def test_userhost_vectors(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    expected = Prefix(atoms.get("nick", ""), atoms.get("user", ""), atoms.get("host", ""))
    assert Prefix.split(case["source"]) == expected


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a\\sb", "a b"),
        ("a\\:b", "a;b"),
        ("a\\\\b", "a\\b"),
        ("a\\rb\\nc", "a\rb\nc"),
        ("a\\bc", "abc"),  # an unknown escape keeps the character
        ("trailing\\", "trailing"),  # a lone trailing backslash is dropped
        ("\\\\n", "\\n"),  # char at a time: not a newline
    ],
)
def test_tag_unescape(raw: str, value: str) -> None:
    assert unescape_value(raw) == value


def test_tag_escape_is_inverse() -> None:
    value = "a b;c\\d\re\nf"
    assert escape_value(value) == "a\\sb\\:c\\\\d\\re\\nf"
    assert unescape_value(escape_value(value)) == value


def test_corpus_atoms_by_hand(corpus: list[str]) -> None:
    assert len(corpus) == 56
    atoms, tags = expected_atoms(), expected_tags()
    for index, line in enumerate(corpus):
        message = parse(line)
        got = (message.command, message.source, message.params, message.trailing)
        assert got == atoms[index], f"line {index}"
        for key, value in tags.get(index, {}).items():
            assert message.tags[key] == value, f"line {index} tag {key}"


def test_corpus_round_trips(corpus: list[str], xqcow: list[str]) -> None:
    """format() is parse()'s exact inverse on canonical lines; all lines re-parse the same."""
    non_canonical = []
    for line in corpus + xqcow:
        message = parse(line)
        assert parse(format(message)) == message
        if format(message) != line:
            non_canonical.append(line)
    # Only the two promo USERNOTICEs: their "bla\bla" holds an unknown escape, "\b".
    assert len(non_canonical) == 2
    assert all("bla\\sbla\\bla" in line for line in non_canonical)


def test_xqcow_parses_to_typed_commands(xqcow: list[str]) -> None:
    kinds: dict[str, int] = {}
    for line in xqcow:
        typed = from_irc(parse(line))
        kinds[type(typed).__name__] = kinds.get(type(typed).__name__, 0) + 1
    assert kinds == {"PrivMsg": 4933, "ClearChat": 58, "UserNotice": 9}


def test_typed_mapping(corpus: list[str]) -> None:
    assert isinstance(from_irc(parse(corpus[27])), Reconnect)
    assert from_irc(parse(corpus[13])) == Ping("abc def")
    assert from_irc(parse(corpus[0])) == ClearChat("pajlada", "fabzeef", 1, 1594553828245)
    assert from_irc(parse(corpus[2])) == ClearChat("randers", None, None, 1594561392337)
    notice = from_irc(parse(corpus[10]))
    assert isinstance(notice, Notice) and notice.is_login_failure
    banned = from_irc(parse(corpus[9]))
    assert isinstance(banned, Notice) and not banned.is_login_failure
    assert banned.kind == "msg_banned" and banned.channel == "forsen"
    action = from_irc(parse(corpus[17]))
    assert isinstance(action, PrivMsg) and action.action and action.text == "-tags"
    assert isinstance(from_irc(parse(corpus[54])), Generic)  # WHISPER


def test_badges_and_emotes() -> None:
    assert parse_badges("moderator/1,subscriber/12") == {"moderator": "1", "subscriber": "12"}
    assert parse_badges("") == {}
    emotes = parse_emotes("25:5-9/1902:0-4,x-y,9-3")
    assert [(e.id, e.start, e.end) for e in emotes] == [("1902", 0, 4), ("25", 5, 9)]


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "@a=b",
        "@a=b ",
        ":source",
        ":source ",
        ": PRIVMSG #a :x",
        "@a=b :src",
        "12 x",
        "a\0b",
    ],
)
def test_malformed_lines_raise_typed_error(line: str) -> None:
    with pytest.raises(MalformedLine):
        parse(line)


def test_format_refuses_what_cannot_round_trip() -> None:
    with pytest.raises(ValueError):
        format(IrcMessage("PRIVMSG", ("#a b",)))
    with pytest.raises(ValueError):
        format(IrcMessage("PRIVMSG", ("",)))
    with pytest.raises(ValueError):
        format(IrcMessage("PRIVMSG", (), "a\r\nQUIT"))
