// Landing page: pick a name, then the lobby, a new room, a room by code or a live Twitch room.
(function () {
  "use strict";
  const form = document.getElementById("landing_form");
  const nameInput = document.getElementById("username_input");
  const codeInput = document.getElementById("room_code_input");
  const errorBox = document.getElementById("landing_error");
  const ROOM_RE = /^[A-Za-z0-9_-]{1,32}$/;

  nameInput.value = localStorage.getItem("livechat.username") || "";

  function fail(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function go(room) {
    const username = nameInput.value.trim();
    if (!username) {
      fail("Pick a name first.");
      nameInput.focus();
      return;
    }
    localStorage.setItem("livechat.username", username);
    const query = new URLSearchParams({ username: username, room: room });
    window.location.assign("/chat?" + query.toString());
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    go("lobby");
  });

  document.getElementById("join_room_button").addEventListener("click", function () {
    const code = codeInput.value.trim();
    if (!ROOM_RE.test(code)) {
      fail("Room codes are 1-32 letters, digits, '_' or '-'.");
      codeInput.focus();
      return;
    }
    go(code);
  });

  codeInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      document.getElementById("join_room_button").click();
    }
  });

  document.getElementById("create_room_button").addEventListener("click", async function () {
    if (!nameInput.value.trim()) {
      fail("Pick a name first.");
      return;
    }
    try {
      const response = await fetch("/api/rooms", { method: "POST" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      go(body.room);
    } catch (err) {
      fail("Could not create a room right now. Try again.");
    }
  });

  // Live Twitch rooms, when the server has any (the list is empty without Kafka).
  async function loadLiveRooms() {
    try {
      const response = await fetch("/api/live-rooms");
      if (!response.ok) return;
      const body = await response.json();
      const list = document.getElementById("live_rooms");
      list.replaceChildren();
      for (const live of body.rooms || []) {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = live.room;
        button.addEventListener("click", function () { go(live.room); });
        const rate = document.createElement("span");
        rate.className = "rate";
        rate.textContent = live.messages_per_minute + " msg/min";
        item.append(button, rate);
        list.append(item);
      }
      document.getElementById("live_rooms_section").hidden = list.children.length === 0;
    } catch (err) {
      /* the list is optional; the rest of the page works without it */
    }
  }
  loadLiveRooms();
  setInterval(loadLiveRooms, 15000);
})();
