"""Defect 3 of issue 12: no name can pass for a present member's, by Unicode's own rules
(NFKC_Casefold equality, no default-ignorable or filler code points, TS #39 skeletons).
Checked on both stores: the members list that refuses the name lives in the store."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from app.chat.validation import ClientError, name_key, validate_username
from tests.support.clients import RecordingClient
from tests.support.procs import ChatServer

Clients = Callable[[ChatServer], RecordingClient]

LOOK_ALIKES = [
    "\u0430lice",  # Cyrillic a
    "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
    "ALICE",
    "Alice",
    "\u0430\u04c0ice",  # Cyrillic a and capital palochka (folds to U+04CF, prototype i)
    "aIice",  # capital I for l: only the shown forms' skeletons match
    "a\u217cice",  # small roman numeral fifty
]
INVISIBLE = [
    "alice\u3164",  # Hangul filler
    "\u1160alice",  # Hangul jungseong filler
    "\u115falice",  # Hangul choseong filler
    "ali\uffa0ce",  # halfwidth Hangul filler
    "al\u200bice",  # zero-width space
    "alice\u200d",  # zero-width joiner
    "a\u00adlice",  # soft hyphen
    "alice\ufe0f",  # variation selector
    "ali\u2800ce",  # Braille pattern blank
    "\u2800",
    "\u3164",
]


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alike_of_a_present_member_is_refused(
    any_server: ChatServer, clients: Clients, name: str
) -> None:
    room = "names" + secrets.token_hex(4)
    alice = clients(any_server)
    assert alice.call("join_room", {"username": "alice", "room": room})["ok"]
    impostor = clients(any_server)
    ack = impostor.call("join_room", {"username": name, "room": room})
    assert ack == {"ok": False, "code": "name_taken", "message": ack["message"]}, ack
    # A name that merely differs is fine.
    assert impostor.call("join_room", {"username": "alicia", "room": room})["ok"]


@pytest.mark.parametrize("name", INVISIBLE)
def test_invisible_and_filler_code_points_are_refused(
    any_server: ChatServer, clients: Clients, name: str
) -> None:
    client = clients(any_server)
    ack = client.call("join_room", {"username": name, "room": "lobby"})
    assert ack["ok"] is False and ack["code"] == "invalid_username", ack


def test_the_name_is_free_again_for_its_look_alike_once_alice_leaves(
    any_server: ChatServer, clients: Clients
) -> None:
    room = "free" + secrets.token_hex(4)
    alice = clients(any_server)
    assert alice.call("join_room", {"username": "alice", "room": room})["ok"]
    assert alice.call("leave_room", {"room": room})["ok"]
    other = clients(any_server)
    ack = other.call("join_room", {"username": "\u0430lice", "room": room})
    assert ack["ok"] and ack["username"] == "\u0430lice"  # shown as typed


def test_name_key_units() -> None:
    assert name_key("alice") == name_key("\u0430lice") == name_key("\uff21LICE")
    assert name_key("alice") != name_key("alicia")
    assert name_key("paypal") == name_key("p\u0430yp\u0430l")
    assert validate_username("  Zoë  ") == "Zoë"
    for bad in ["a\ud800b", "\u200b", " \u3164 ", "x\u202ey"]:
        with pytest.raises(ClientError):
            validate_username(bad)
