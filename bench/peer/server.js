// The peer livechat is benchmarked against (`make bench`, bench/fanout.py): what a user would
// pick instead. A stock socket.io v4 server with the official Redis adapter, speaking livechat's
// events, doing the same work per message: validate, XADD to a Redis Stream trimmed to
// HISTORY_LIMIT + 1 (exact MAXLEN) plus the room's PEXPIRE in one pipeline, then emit
// `receive_message` to the room (the adapter publishes it for the other replicas).
//
// Deliberately left out, because the benchmark's message path never uses them: presence (the
// members hash and `presence` events), flood limits (raised out of the way for livechat in the
// benchmark anyway), `since` replay and Twitch rooms. A join still reads the history and
// announces the member to the room, as livechat does.
//
// Settings (environment): PORT (required), HOST (127.0.0.1), REDIS_URL (required),
// HISTORY_LIMIT (50), MAX_MESSAGE_LENGTH (500).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    console.error(`peer: ${name} is required`);
    process.exit(2);
  }
  return value;
}

function intSetting(name, fallback) {
  const raw = setting(name, fallback);
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value < 1 || String(value) !== raw.trim()) {
    console.error(`peer: ${name}: expected an integer >= 1, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const PORT = intSetting("PORT");
const HOST = setting("HOST", "127.0.0.1");
const REDIS_URL = setting("REDIS_URL");
const HISTORY_LIMIT = intSetting("HISTORY_LIMIT", "50");
const MAX_MESSAGE_LENGTH = intSetting("MAX_MESSAGE_LENGTH", "500");
const ROOM_TTL_MS = 24 * 3600 * 1000;
const ROOM = /^[A-Za-z0-9_-]{1,32}$/;
const USERNAME_MAX = 32;
const SEQ_PER_MS = 1000000n;

const logKey = (room) => `peer:{${room}}:log`;
const isoTime = (ms) => new Date(ms).toISOString(); // 2026-11-21T20:15:03.123Z, as livechat
// livechat's message id: epoch ms * 1e6 + sequence, 19 digits, from the Stream id `<ms>-<seq>`.
function messageId(streamId) {
  const [ms, seq] = streamId.split("-");
  return (BigInt(ms) * SEQ_PER_MS + BigInt(seq)).toString().padStart(19, "0");
}
const streamMs = (streamId) => Number(streamId.split("-")[0]);

function refuse(socket, code, message) {
  socket.emit("error", { code, message });
}

async function main() {
  const redis = createClient({ url: REDIS_URL });
  const subscriber = redis.duplicate();
  for (const client of [redis, subscriber]) client.on("error", (err) => console.error(err));
  await Promise.all([redis.connect(), subscriber.connect()]);

  const httpServer = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else {
      res.writeHead(404).end();
    }
  });
  const io = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: 64 * 1024,
    adapter: createAdapter(redis, subscriber),
  });

  io.on("connection", (socket) => {
    socket.data.rooms = new Set();

    socket.on("join_room", async (data) => {
      const room = data?.room;
      const username = socket.data.username ?? data?.username;
      if (typeof room !== "string" || !ROOM.test(room)) return refuse(socket, "invalid_room", "bad room");
      if (typeof username !== "string" || !username.trim() || username.length > USERNAME_MAX) {
        return refuse(socket, "invalid_field", "'username' is required on the first join");
      }
      socket.data.username = username;
      let entries;
      try {
        entries = await redis.xRevRange(logKey(room), "+", "-", { COUNT: HISTORY_LIMIT });
      } catch (err) {
        return refuse(socket, "unavailable", "chat storage is unreachable; try again");
      }
      socket.join(room);
      const rejoin = socket.data.rooms.has(room);
      socket.data.rooms.add(room);
      const messages = entries.reverse().map(({ id, message }) => ({
        id: messageId(id),
        username: message.u,
        room,
        message: message.m,
        time: isoTime(streamMs(id)),
      }));
      socket.emit("history", { room, messages, truncated: false });
      if (!rejoin) {
        io.to(room).emit("join_room_announcement", { username, room, time: isoTime(Date.now()) });
      }
    });

    socket.on("send_message", async (data) => {
      const room = data?.room;
      const text = data?.message;
      const username = socket.data.username;
      if (typeof room !== "string" || !socket.data.rooms.has(room) || username === undefined) {
        return refuse(socket, "not_in_room", `join ${room} before sending to it`);
      }
      if (typeof text !== "string" || !text.trim() || [...text].length > MAX_MESSAGE_LENGTH) {
        return refuse(socket, "invalid_field", "bad message");
      }
      let streamId;
      try {
        // Issued in one tick, node-redis sends both in one write: one round trip, as livechat.
        [streamId] = await Promise.all([
          redis.xAdd(logKey(room), "*", { u: username, m: text }, {
            TRIM: { strategy: "MAXLEN", strategyModifier: "=", threshold: HISTORY_LIMIT + 1 },
          }),
          redis.pExpire(logKey(room), ROOM_TTL_MS),
        ]);
      } catch (err) {
        return refuse(socket, "unavailable", "the message was not sent; try again");
      }
      io.to(room).emit("receive_message", {
        id: messageId(streamId),
        username,
        room,
        message: text,
        time: isoTime(streamMs(streamId)),
      });
    });

    socket.on("leave_room", (data) => {
      const room = data?.room;
      if (!socket.data.rooms.delete(room)) return refuse(socket, "not_in_room", "not in room");
      socket.leave(room);
      const time = isoTime(Date.now());
      io.to(room).emit("leave_room_announcement", { username: socket.data.username, room, time });
    });

    socket.on("disconnect", () => {
      const time = isoTime(Date.now());
      for (const room of socket.data.rooms) {
        io.to(room).emit("leave_room_announcement", { username: socket.data.username, room, time });
      }
    });
  });

  httpServer.listen(PORT, HOST, () => console.log(`peer: listening on ${HOST}:${PORT}`));
  const stop = () => {
    io.close();
    Promise.allSettled([redis.quit(), subscriber.quit()]).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error("peer:", err);
  process.exit(1);
});
