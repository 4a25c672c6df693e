"""HTTP routes: the two pages, the small JSON API, health, readiness and metrics."""

from __future__ import annotations

import secrets
import string
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    url_for,
)
from flask import request as http_request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.chat.validation import ClientError, is_twitch_room, validate_room
from app.store import StoreUnavailable

bp = Blueprint("chat", __name__)

ROOM_CODE_LENGTH = 8
ROOM_CODE_ATTEMPTS = 20


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
    """A fresh room code: 8 random uppercase letters, retried on the rare collision."""
    store = _livechat().store
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
    if not raw_limit.isdigit() or int(raw_limit) < 1:
        return jsonify(error="invalid_limit", message="limit must be a positive integer"), 400
    limit = min(int(raw_limit), settings.history_limit)  # more than is kept: all that is kept
    try:
        page = _livechat().service.history(room)
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


@bp.get("/readyz")
def readyz() -> Any:
    """200 when every configured dependency answers, else 503 naming the failing ones.

    ``?ignore=kafka`` leaves named dependencies out of the verdict (still reported): the chart's
    readiness probe uses it so a Kafka outage, which only pauses the live Twitch rooms, does not
    pull every replica out of the Service and end all chat.
    """
    failing = _livechat().failing_dependencies()
    ignored = {name for name in http_request.args.get("ignore", "").split(",") if name}
    blocking = [name for name in failing if name not in ignored]
    if blocking:
        return jsonify(status="unavailable", failing=failing), 503
    if failing:  # only ignored ones: still reported
        return jsonify(status="ready", failing=failing)
    return jsonify(status="ready")


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    """This app's readiness first (its checks refresh ``livechat_store_up``), then the rest."""
    body = generate_latest(_livechat().metrics_registry) + generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
