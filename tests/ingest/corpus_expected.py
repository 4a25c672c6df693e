"""What the ingest must make of ../shared/data/twitch-irc-lines.json, written out by hand.

``ATOMS`` holds, per line index, the generic IRC split (command, source, middle params,
trailing). ``RECORDS`` holds, per line index, the Kafka record value each chat event must
become, without ``order`` (checked separately: strictly increasing). Times were computed
from ``tmi-sent-ts`` with ``date -u``; emote positions were counted on the message text.
The corpus repeats some message ids (16/55, 18/20, 21/22, 37/39, 40-42, 43/44, 45/46, 47/48):
outside a RECONNECT overlap every one of them is relayed.
"""

from typing import Any

TMI = "tmi.twitch.tv"


def _src(login: str) -> str:
    return f"{login}!{login}@{login}.tmi.twitch.tv"


ATOMS: dict[int, tuple[str, str | None, tuple[str, ...], str | None]] = {
    0: ("CLEARCHAT", TMI, ("#pajlada",), "fabzeef"),
    1: ("CLEARCHAT", TMI, ("#pajlada",), "weeb123"),
    2: ("CLEARCHAT", TMI, ("#randers",), None),
    3: ("CLEARMSG", TMI, ("#pajlada",), "NIGHT CUNT"),
    4: ("CLEARMSG", TMI, ("#pajlada",), "\x01ACTION test\x01"),
    5: ("GLOBALUSERSTATE", TMI, (), None),
    6: ("GLOBALUSERSTATE", TMI, (), None),
    7: ("GLOBALUSERSTATE", TMI, (), None),
    8: ("JOIN", _src("randers811"), ("#pajlada",), None),
    9: ("NOTICE", TMI, ("#forsen",), "You are permanently banned from talking in forsen."),
    10: ("NOTICE", TMI, ("*",), "Improperly formatted auth"),
    11: ("PART", _src("randers811"), ("#pajlada",), None),
    12: ("PING", TMI, (), None),
    13: ("PING", TMI, ("test",), "abc def"),
    14: ("PONG", None, (), TMI),
    15: ("PONG", TMI, (TMI,), "test"),
    16: ("PRIVMSG", _src("jun1orrrr"), ("#pajlada",), "dank cam"),
    17: ("PRIVMSG", _src("randers"), ("#pajlada",), "\x01ACTION -tags\x01"),
    18: ("PRIVMSG", _src("carvedtaleare"), ("#forsen",), "NaM"),
    19: ("PRIVMSG", _src("leftswing"), ("#retoon",), "@Retoon yes"),
    20: ("PRIVMSG", _src("carvedtaleare"), ("#forsen",), "NaM"),
    21: ("PRIVMSG", _src("testaccount_420"), ("#pajlada",), "@asd"),
    22: ("PRIVMSG", _src("riotgames"), ("#riotgames",), "test fake message"),
    23: (
        "PRIVMSG",
        _src("randers"),
        ("#pajlada",),
        "Kappa Keepo Kappa Kappa test Keepo Keepo 123 :) :) :P",
    ),
    24: ("PRIVMSG", _src("avianartworks"), ("#pajlada",), "pajaM_TK"),
    25: ("PRIVMSG", _src("randers"), ("#pajlada",), "👉 <3 👉 <3 👉 <3"),
    26: ("PRIVMSG", _src("tetyys"), ("#pajlada",), "trihard1"),
    27: ("RECONNECT", TMI, (), None),
    **{i: ("ROOMSTATE", TMI, ("#randers",), None) for i in range(28, 33)},
    **{i: ("USERNOTICE", TMI, ("#xqcow",), None) for i in range(33, 52)},
    34: ("USERNOTICE", TMI, ("#xqcow",), "xqcL"),
    49: ("USERNOTICE", TMI, ("#seventoes",), "HeyGuys"),
    52: ("USERSTATE", TMI, ("#randers",), None),
    53: ("USERSTATE", TMI, ("#randers",), None),
    54: ("WHISPER", _src("randers"), ("randers811",), "hello, this is a test Kappa"),
    55: ("PRIVMSG", _src("jun1orrrr"), ("#pajlada",), "dank cam"),
}

# Selected tag values after unescaping, checked by hand against the raw lines.
TAGS: dict[int, dict[str, str]] = {
    3: {
        "login": "alazymeme",
        "room-id": "",
        "target-msg-id": "3c92014f-340a-4dc3-a9c9-e5cf182f4a84",
    },
    20: {"display-name": "CarvedTaleare ", "historical": "1", "rm-received-ts": "1594554085918"},
    21: {"display-name": "테스트계정420", "badges": "moderator/1,subscriber/3024"},
    22: {"display-name": "Riot Games", "color": ""},
    33: {"msg-param-sub-plan-name": "Channel Subscription (xqcow)"},
    37: {"msg-param-origin-id": "da 39 a3 ee 5e 6b 4b 0d 32 55 bf ef 95 60 18 90 af d8 07 09"},
    46: {
        "system-msg": "CrazyCrackAnimal is continuing the Gift Sub they got from Stridezgum! "
        "bla blabla stuff about promo here"
    },
    36: {
        "msg-param-profileImageURL": "https://static-cdn.jtvnw.net/jtv_user_pictures/"
        "cae3ca63-510d-4715-b4ce-059dcf938978-profile_image-70x70.png",
        "msg-param-viewerCount": "430",
    },
    54: {"message-id": "1", "thread-id": "40286300_553170741", "emotes": "25:22-26"},
}


def _msg(
    streamer: str,
    time: str,
    username: str,
    message: str,
    msg_id: str,
    display_name: str,
    color: str | None,
    badges: dict[str, str],
    emotes: list[dict[str, Any]] | None = None,
    action: bool = False,
) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "message",
        "streamer": streamer,
        "time": time,
        "username": username,
        "message": message,
        "id": msg_id,
        "display_name": display_name,
        "color": color,
        "badges": badges,
        "emotes": emotes or [],
        "action": action,
    }


def _emote(emote_id: str, name: str, start: int, end: int) -> dict[str, Any]:
    return {"id": emote_id, "name": name, "start": start, "end": end}


def _notice(
    streamer: str,
    time: str,
    notice_id: str,
    username: str,
    notice: str,
    system_message: str,
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "notice",
        "streamer": streamer,
        "time": time,
        "id": notice_id,
        "username": username,
        "notice": notice,
        "system_message": system_message,
        "message": message,
    }


_MOD_SUB12 = {"moderator": "1", "subscriber": "12"}
_JUNIOR = _msg(
    "pajlada",
    "2020-07-12T09:12:35.039Z",
    "jun1orrrr",
    "dank cam",
    "e9d998c3-36f1-430f-89ec-6b887c28af36",
    "JuN1oRRRR",
    "#0000FF",
    {},
)
_GIFTING_20 = (
    "AdamAtReflectStudios is gifting 20 Tier 1 Subs to xQcOW's community! "
    "They've gifted a total of 100 in the channel!"
)
_GIFTING_10 = "An anonymous user is gifting 10 Tier 1 Subs to xQcOW's community!"
_UPGRADE = "CrazyCrackAnimal is continuing the Gift Sub they got from Stridezgum!"
_ANON_UPGRADE = "samura1jack_ttv is continuing the Gift Sub they got from an anonymous user!"
_PROMO = " bla blabla stuff about promo here"

RECORDS: dict[int, dict[str, Any]] = {
    0: {
        "v": 1,
        "type": "clear",
        "streamer": "pajlada",
        "time": "2020-07-12T11:37:08.245Z",
        "username": "fabzeef",
        "duration": 1,
    },
    1: {
        "v": 1,
        "type": "clear",
        "streamer": "pajlada",
        "time": "2020-07-12T13:42:40.331Z",
        "username": "weeb123",
        "duration": None,
    },
    2: {
        "v": 1,
        "type": "clear",
        "streamer": "randers",
        "time": "2020-07-12T13:43:12.337Z",
        "username": None,
        "duration": None,
    },
    3: {
        "v": 1,
        "type": "delete",
        "streamer": "pajlada",
        "time": "2020-07-12T13:52:35.611Z",
        "id": "3c92014f-340a-4dc3-a9c9-e5cf182f4a84",
        "username": "alazymeme",
    },
    4: {
        "v": 1,
        "type": "delete",
        "streamer": "pajlada",
        "time": "2020-07-12T14:03:52.383Z",
        "id": "15e5164d-f8e6-4aec-baf4-2d6a330760c4",
        "username": "randers",
    },
    16: _JUNIOR,
    17: _msg(
        "pajlada",
        "2020-07-12T12:01:15.886Z",
        "randers",
        "-tags",
        "d831d848-b7c7-4559-ae3a-2cb88f4dbfed",
        "randers",
        "#19E6E6",
        _MOD_SUB12,
        action=True,
    ),
    18: _msg(
        "forsen",
        "2020-07-12T11:41:25.753Z",
        "carvedtaleare",
        "NaM",
        "c9b941d9-a0ab-4534-9903-971768fcdf10",
        "CarvedTaleare",
        None,
        {},
    ),
    19: _msg(
        "retoon",
        "2023-01-17T03:26:23.585Z",
        "leftswing",
        "@Retoon yes",
        "5b4f63a9-776f-4fce-bf3c-d9707f52e32d",
        "LeftSwing",
        None,
        {},
    ),
    20: _msg(
        "forsen",
        "2020-07-12T11:41:25.753Z",
        "carvedtaleare",
        "NaM",
        "c9b941d9-a0ab-4534-9903-971768fcdf10",
        "CarvedTaleare ",
        None,
        {},
    ),
    21: _msg(
        "pajlada",
        "2020-07-05T12:57:56.927Z",
        "testaccount_420",
        "@asd",
        "bdfa278e-11c4-484f-9491-0a61b16fab60",
        "테스트계정420",
        "#FF0000",
        {"moderator": "1", "subscriber": "3024"},
    ),
    22: _msg(
        "riotgames",
        "2020-07-05T12:57:56.927Z",
        "riotgames",
        "test fake message",
        "bdfa278e-11c4-484f-9491-0a61b16fab60",
        "Riot Games",
        None,
        {},
    ),
    23: _msg(
        "pajlada",
        "2020-07-12T12:14:25.407Z",
        "randers",
        "Kappa Keepo Kappa Kappa test Keepo Keepo 123 :) :) :P",
        "f9c5774b-faa7-4378-b1af-c4e08b532dc2",
        "randers",
        "#19E6E6",
        _MOD_SUB12,
        [
            _emote("25", "Kappa", 0, 4),
            _emote("1902", "Keepo", 6, 10),
            _emote("25", "Kappa", 12, 16),
            _emote("25", "Kappa", 18, 22),
            _emote("1902", "Keepo", 29, 33),
            _emote("1902", "Keepo", 35, 39),
            _emote("499", ":)", 45, 46),
            _emote("499", ":)", 48, 49),
            _emote("490", ":P", 51, 52),
        ],
    ),
    24: _msg(
        "pajlada",
        "2020-07-12T11:08:33.129Z",
        "avianartworks",
        "pajaM_TK",
        "21194e0d-f0fa-4a8f-a14f-3cbe89366ad9",
        "AvianArtworks",
        "#FF144A",
        {},
        [_emote("300196486_TK", "pajaM_TK", 0, 7)],
    ),
    25: _msg(
        "pajlada",
        "2020-07-12T12:36:19.272Z",
        "randers",
        "👉 <3 👉 <3 👉 <3",
        "3695cb46-f70a-4d6f-a71b-159d434c45b5",
        "randers",
        "#19E6E6",
        _MOD_SUB12,
        [_emote("483", "<3", 2, 3), _emote("483", "<3", 7, 8), _emote("483", "<3", 12, 13)],
    ),
    26: _msg(
        "pajlada",
        "2020-07-12T16:32:46.672Z",
        "tetyys",
        "trihard1",
        "d7f03a35-f339-41ca-b4d4-7c0721438570",
        "TETYYS",
        "#004B49",
        {"bits": "100"},
    ),
    33: _notice(
        "xqcow",
        "2020-02-26T02:55:13.242Z",
        "2a9bea11-a80a-49a0-a498-1642d457f775",
        "fallenseraphhh",
        "sub",
        "fallenseraphhh subscribed with Twitch Prime.",
    ),
    34: _notice(
        "xqcow",
        "2020-02-14T20:54:00.019Z",
        "e0975c76-054c-4954-8cb0-91b8867ec1ca",
        "gutrin",
        "resub",
        "Gutrin subscribed at Tier 1. They've subscribed for 2 months, "
        "currently on a 2 month streak!",
        "xqcL",
    ),
    35: _notice(
        "xqcow",
        "2020-05-28T01:17:30.446Z",
        "ca1f02fb-77ec-487d-a9b3-bc4bfef2fe8b",
        "rene_rs",
        "resub",
        "rene_rs subscribed with Twitch Prime. They've subscribed for 11 months!",
    ),
    36: _notice(
        "xqcow",
        "2020-07-12T01:36:36.120Z",
        "bb99dda7-3736-4583-9114-52aa11b23d17",
        "iamelisabete",
        "raid",
        "430 raiders from iamelisabete have joined!",
    ),
    37: _notice(
        "xqcow",
        "2020-07-12T19:56:22.376Z",
        "e21409b1-d25d-4a1a-b5cf-ef27d8b7030e",
        "adamatreflectstudios",
        "subgift",
        "AdamAtReflectStudios gifted a Tier 1 sub to qatarking24xd!",
    ),
    38: _notice(
        "xqcow",
        "2020-07-11T19:18:28.936Z",
        "62c3fd39-84cc-452a-9096-628a5306633a",
        "ananonymousgifter",
        "subgift",
        "An anonymous user gifted a Tier 1 sub to Dot0422! ",
    ),
    39: _notice(
        "xqcow",
        "2020-07-12T19:56:22.376Z",
        "e21409b1-d25d-4a1a-b5cf-ef27d8b7030e",
        "xqcow",
        "anonsubgift",
        "An anonymous gifter gifted a Tier 1 sub to qatarking24xd!",
    ),
    40: _notice(
        "xqcow",
        "2020-07-12T19:56:17.669Z",
        "049e6371-7023-4fca-8605-7dec60e72e12",
        "adamatreflectstudios",
        "submysterygift",
        _GIFTING_20,
    ),
    41: _notice(
        "xqcow",
        "2020-07-12T19:56:17.669Z",
        "049e6371-7023-4fca-8605-7dec60e72e12",
        "twitch",
        "submysterygift",
        _GIFTING_20,
    ),
    42: _notice(
        "xqcow",
        "2020-07-12T19:56:17.669Z",
        "049e6371-7023-4fca-8605-7dec60e72e12",
        "twitch",
        "submysterygift",
        _GIFTING_20,
    ),
    43: _notice(
        "xqcow",
        "2020-03-29T01:58:19.603Z",
        "8db97752-3dee-460b-9001-e925d0e2ba5b",
        "ananonymousgifter",
        "submysterygift",
        _GIFTING_10,
    ),
    44: _notice(
        "xqcow",
        "2020-03-29T01:58:19.603Z",
        "8db97752-3dee-460b-9001-e925d0e2ba5b",
        "xqcow",
        "anonsubmysterygift",
        _GIFTING_10,
    ),
    45: _notice(
        "xqcow",
        "2020-07-12T01:54:09.459Z",
        "7006f242-a45c-4e07-83b3-11f9c6d1ee28",
        "crazycrackanimal",
        "giftpaidupgrade",
        _UPGRADE,
    ),
    46: _notice(
        "xqcow",
        "2020-07-12T01:54:09.459Z",
        "7006f242-a45c-4e07-83b3-11f9c6d1ee28",
        "crazycrackanimal",
        "giftpaidupgrade",
        _UPGRADE + _PROMO,
    ),
    47: _notice(
        "xqcow",
        "2020-07-09T20:43:41.732Z",
        "144ee636-0c1d-404e-8b29-35449a045a7e",
        "samura1jack_ttv",
        "anongiftpaidupgrade",
        _ANON_UPGRADE,
    ),
    48: _notice(
        "xqcow",
        "2020-07-09T20:43:41.732Z",
        "144ee636-0c1d-404e-8b29-35449a045a7e",
        "samura1jack_ttv",
        "anongiftpaidupgrade",
        _ANON_UPGRADE + _PROMO,
    ),
    49: _notice(
        "seventoes",
        "2017-10-18T21:58:23.826Z",
        "37feed0f-b9c7-4c3a-b475-21c6c6d21c3d",
        "seventest1",
        "ritual",
        "Seventoes is new here!",
        "HeyGuys",
    ),
    50: _notice(
        "xqcow",
        "2020-07-12T02:20:03.813Z",
        "d2b32a02-3071-4c52-b2ce-bc3716acdc44",
        "whoopiix",
        "bitsbadgetier",
        "bits badge tier notification",
    ),
    51: _notice(
        "xqcow",
        "2020-07-12T19:56:18.756Z",
        "7f1336e4-f84a-4510-809d-e57bf50af0cc",
        "adamatreflectstudios",
        "rewardgift",
        "AdamAtReflectStudios's Gift shared rewards to 100 others in Chat!",
    ),
    55: _JUNIOR,
}


def expected_in_order() -> list[dict[str, Any]]:
    """The records of the whole corpus in line order (what the topic must hold)."""
    return [RECORDS[index] for index in sorted(RECORDS)]
