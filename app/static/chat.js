// Chat page. Every piece of user text goes through textContent, never innerHTML.
(function () {
  "use strict";
  const root = document.getElementById("chat_app");
  const room = root.dataset.room;
  const readOnly = root.dataset.readOnly === "true";
  let username = root.dataset.username;
  let lastId = null;
  const seen = new Set();

  const list = document.getElementById("messages");
  const form = document.getElementById("message_input_form");
  const input = document.getElementById("message_input");
  const status = document.getElementById("connection_status");
  const errorBox = document.getElementById("chat_error");
  const notice = document.getElementById("history_notice");
  const members = document.getElementById("members");
  const memberCount = document.getElementById("member_count");

  // A stable colour per name: the same name always gets the same hue.
  function colourFor(name) {
    let hash = 0;
    for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return "hsl(" + (hash % 360) + ", 65%, 42%)";
  }

  function localTime(iso) {
    const date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function append(node) {
    const stick = atBottom();
    list.append(node);
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    clearTimeout(showError.timer);
    showError.timer = setTimeout(function () { errorBox.hidden = true; }, 6000);
  }

  const EMOTE_URL = "https://static-cdn.jtvnw.net/emoticons/v2/{id}/default/dark/1.0";

  // Message text with Twitch emotes as images; positions are Unicode code points.
  function renderText(container, text, emotes) {
    if (!emotes || emotes.length === 0) {
      container.textContent = text;
      return;
    }
    const chars = Array.from(text);
    const sorted = emotes.slice().sort(function (a, b) { return a.start - b.start; });
    let pos = 0;
    for (const emote of sorted) {
      if (emote.start < pos || emote.end >= chars.length) continue;
      container.append(document.createTextNode(chars.slice(pos, emote.start).join("")));
      const img = document.createElement("img");
      img.className = "emote";
      img.alt = emote.name;
      img.title = emote.name;
      img.src = EMOTE_URL.replace("{id}", encodeURIComponent(emote.id));
      container.append(img);
      pos = emote.end + 1;
    }
    container.append(document.createTextNode(chars.slice(pos).join("")));
  }

  function renderMessage(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    if (lastId === null || m.id > lastId) lastId = m.id;
    const item = document.createElement("li");
    item.className = "message";
    item.dataset.id = m.id;
    item.dataset.username = m.username;
    if (m.username === username && !readOnly) item.classList.add("own");
    if (m.action) item.classList.add("action");
    if (m.notice) item.classList.add("twitch-notice");

    const time = document.createElement("time");
    time.dateTime = m.time;
    time.textContent = localTime(m.time);

    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.display_name || m.username;
    who.style.color = m.color || colourFor(m.username);

    const badges = document.createElement("span");
    badges.className = "badges";
    for (const [name, version] of Object.entries(m.badges || {})) {
      const badge = document.createElement("span");
      badge.className = "badge badge-" + name.replace(/[^a-z0-9_-]/gi, "");
      badge.title = name + " " + version;
      badge.textContent = name.slice(0, 3);
      badges.append(badge);
    }

    const text = document.createElement("span");
    text.className = "text";
    renderText(text, m.message, m.emotes);
    if (m.action && m.color) text.style.color = m.color;

    item.append(time, badges, who, text);
    // History can arrive after a live message that raced the join: keep id order.
    let next = null;
    for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
      if (!node.classList.contains("message")) continue;
      if (node.dataset.id > m.id) next = node;
      else break;
    }
    if (next) list.insertBefore(item, next);
    else append(item);
  }

  function renderSystem(text) {
    const item = document.createElement("li");
    item.className = "system";
    item.textContent = text;
    append(item);
  }

  function renderMembers(users) {
    members.replaceChildren();
    for (const name of users) {
      const item = document.createElement("li");
      item.textContent = name;
      item.style.color = colourFor(name);
      if (name === username) item.classList.add("me");
      members.append(item);
    }
    memberCount.textContent = String(users.length);
  }

  function setStatus(state, text) {
    status.className = "status " + state;
    status.textContent = text;
  }

  // User-room ids are epoch ms x 10^6 + a sequence. Two replicas can deliver live messages a few
  // milliseconds out of id order, so resume a little before the newest id seen: the replay may
  // repeat messages (dropped by id above) but never skips one. Twitch rooms come from one ordered
  // Kafka partition and resume exactly.
  const RESUME_MARGIN = 2000n * 1000000n;
  function resumeFrom(id) {
    if (room.startsWith("#")) return id;
    const earlier = BigInt(id) - RESUME_MARGIN;
    return (earlier > 0n ? earlier : 0n).toString().padStart(id.length, "0");
  }

  const socket = io({ transports: ["websocket", "polling"], tryAllTransports: true });

  socket.on("connect", function () {
    setStatus("online", "connected");
    join();
  });

  let joinedOnce = false;
  function join() {
    const request = { username: username, room: room };
    if (lastId !== null) request.since = resumeFrom(lastId);
    socket.emit("join_room", request, function (ack) {
      if (ack && ack.ok) {
        joinedOnce = true;
        setStatus("online", "connected");
        if (ack.username) username = ack.username;
      } else if (ack && ack.code === "name_taken" && joinedOnce && socket.connected) {
        // Our own previous connection died with a crashed replica and still holds the name
        // until its presence entry expires (within PRESENCE_TTL_SECONDS): try again shortly.
        setStatus("connecting", "rejoining…");
        setTimeout(function () { if (socket.connected) join(); }, 3000);
      }
    });
  }
  socket.on("disconnect", function (reason) {
    setStatus("offline", "reconnecting…");
    // A replica that shuts down gracefully disconnects its clients itself, and socket.io does
    // not retry such a disconnect on its own: come back (to whichever replica answers).
    if (reason === "io server disconnect") {
      setTimeout(function () { socket.connect(); }, 500 + Math.random() * 1500);
    }
  });
  socket.io.on("reconnect_attempt", function () { setStatus("connecting", "reconnecting…"); });

  socket.on("history", function (data) {
    if (data.room !== room) return;
    if (data.truncated) {
      notice.textContent = "Some messages were missed while you were away; showing the latest.";
      notice.hidden = false;
    }
    for (const m of data.messages) renderMessage(m);
  });
  socket.on("receive_message", function (m) {
    if (m.room === room) renderMessage(m);
  });
  socket.on("join_room_announcement", function (data) {
    if (data.room === room) renderSystem(data.username + " joined");
  });
  socket.on("leave_room_announcement", function (data) {
    if (data.room === room) renderSystem(data.username + " left");
  });
  socket.on("presence", function (data) {
    if (data.room === room) renderMembers(data.users);
  });
  socket.on("message_deleted", function (data) {
    if (data.room !== room) return;
    for (const item of list.querySelectorAll("li.message")) {
      if (item.dataset.id === data.id) item.remove();
    }
  });
  socket.on("room_cleared", function (data) {
    if (data.room !== room) return;
    for (const item of list.querySelectorAll("li.message")) {
      if (data.username === null || item.dataset.username === data.username) item.remove();
    }
  });
  socket.on("live_status", function (data) {
    if (data.room === room) document.getElementById("live_status").hidden = data.available;
  });
  socket.on("error", function (data) {
    if (data && data.code === "name_taken" && joinedOnce) return; // join() retries it
    const text = (data && data.message) || "Something went wrong.";
    showError(text);
    if (data && data.code === "name_taken") {
      setStatus("offline", "name taken");
      socket.disconnect();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || readOnly) return;
    socket.emit("send_message", { room: room, message: text }, function (ack) {
      if (ack && ack.ok) input.value = "";
    });
  });

  document.getElementById("leave_button").addEventListener("click", function () {
    socket.emit("leave_room", { room: room }, function () {
      window.location.assign("/");
    });
    setTimeout(function () { window.location.assign("/"); }, 1000);
  });
})();
