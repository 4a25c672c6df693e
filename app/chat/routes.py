"""HTTP routes: the two pages, the small JSON API and liveness (metrics and readiness are on
the internal port, ``app/internal.py``)."""

from __future__ import annotations

import secrets
import string
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, url_for
from flask import request as http_request

from app import metrics
from app.chat.validation import ClientError, is_twitch_room, validate_room
from app.origin import cross_origin
from app.store import StoreUnavailable

bp = Blueprint("chat", __name__)

ROOM_CODE_LENGTH = 8
ROOM_CODE_ATTEMPTS = 20
#: Digits a ``limit`` may have: anything longer is more than any history kept.
MAX_LIMIT_DIGITS = 9


def _livechat() -> Any:
    return current_app.extensions["livechat"]


@bp.get("/")
def index() -> str:
    return render_template("index.html", room=http_request.args.get("room", ""))


@bp.get("/chat")
def chat() -> Any:
    username = http_request.args.get("username", "").strip()
    room = http_request.args.get("room", "").strip()
    try:
        validate_room(room)
    except ClientError:
        abort(400, description="room names are 1-32 letters, digits, '_' or '-'")
    if not username:  # pick a name first; url_for encodes the room (`#xqcow` is no fragment)
        return redirect(url_for("chat.index", room=room))
    return render_template(
        "chat.html",
        username=username,
        room=room,
        read_only=is_twitch_room(room),
        max_message_length=current_app.config["LIVECHAT_SETTINGS"].max_message_length,
    )


@bp.post("/api/rooms")
def create_room() -> Any:
    """A fresh room code: 8 random uppercase letters, retried on the rare collision.

    Refused from a browser page of another origin (403 ``cross_origin``, the Socket.IO
    endpoint's rule) and beyond ``ROOM_CREATION_PER_MINUTE`` per client address (429
    ``rate_limited``): each code reserves a room for ``ROOM_TTL_SECONDS``.
    """
    livechat = _livechat()
    if cross_origin(http_request.environ, livechat.origin_allowed):
        metrics.REQUESTS_REFUSED.labels("cross_origin").inc()
        return jsonify(error="cross_origin", message="requests from other sites are refused"), 403
    if not livechat.room_creation.allow(http_request.remote_addr or ""):
        metrics.REQUESTS_REFUSED.labels("room_creation_rate").inc()
        response = jsonify(error="rate_limited", message="too many new rooms; try again later")
        return response, 429, {"Retry-After": "60"}
    store = livechat.store
    try:
        for _ in range(ROOM_CODE_ATTEMPTS):
            code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(ROOM_CODE_LENGTH))
            if store.reserve_room(code):
                return jsonify(room=code), 201
    except StoreUnavailable:
        return jsonify(error="unavailable", message="chat storage is unreachable"), 503
    return jsonify(error="conflict", message="no free room code found; try again"), 503


@bp.get("/api/rooms/<path:room>/messages")
def room_messages(room: str) -> Any:
    settings = current_app.config["LIVECHAT_SETTINGS"]
    try:
        validate_room(room)
    except ClientError as exc:
        return jsonify(error=exc.code, message=exc.message), 400
    raw_limit = http_request.args.get("limit", str(settings.history_limit))
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    # More than is kept means all that is kept (and a number too long for int() is just that).
    is_number = raw_limit.isascii() and raw_limit.isdigit()
    limit = int(raw_limit) if is_number and len(raw_limit) <= MAX_LIMIT_DIGITS else 1 << 31
    if not is_number or limit < 1:
        return jsonify(error="invalid_limit", message="limit must be a positive integer"), 400
    limit = min(limit, settings.history_limit)
    service = _livechat().service
    try:
        if not service.room_exists(room):
            return jsonify(error="room_not_found", message=f"no room {room}"), 404
        page = service.history(room)
    except StoreUnavailable:
        return jsonify(error="unavailable", message="chat storage is unreachable"), 503
    messages = [m.to_event() for m in page.messages][-limit:]
    return jsonify(room=room, messages=messages)


@bp.get("/api/live-rooms")
def live_rooms() -> Any:
    """Live Twitch rooms (a record in the last few minutes) with their message rate."""
    rooms = _livechat().live_rooms
    if rooms is None:
        return jsonify(enabled=False, available=False, rooms=[])
    return jsonify(enabled=True, available=rooms.available, rooms=rooms.live())


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")
