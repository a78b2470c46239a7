// The hub console: polls the admin API every second and shows the rooms and the selected
// room. Every value from the server is put into the page with textContent (never as markup):
// room names, user and client names are chosen by users.
"use strict";

const TOKEN_KEY = "mimi-ds-admin-token";
let selected = null;
let timer = null;
let lastLog = null;
let logMark = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// `#token=...&room=...` in the address: the token is kept in this tab's sessionStorage and taken
// out of the address at once (a fragment is never sent to the server).
function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("token")) {
    sessionStorage.setItem(TOKEN_KEY, params.get("token"));
  }
  if (params.get("room")) {
    selected = params.get("room");
  }
  history.replaceState(null, "", location.pathname + location.search);
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token() }, cache: "no-store" });
  if (response.status === 401) {
    throw new Error("the admin token was refused");
  }
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error || response.statusText);
  }
  return body;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  if (className) {
    node.className = className;
  }
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) {
      td.appendChild(cell);
    } else {
      td.textContent = cell === null || cell === undefined ? "–" : String(cell);
    }
    tr.appendChild(td);
  }
  return tr;
}

function fill(tableId, rows) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows);
}

function status(text, error) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = error ? "error" : "";
}

function roleText(p) {
  return p.role_name ? p.role + " (" + p.role_name + ")" : String(p.role);
}

function showRooms(rooms) {
  fill("rooms", rooms.map((r) => {
    const button = el("button", r.room, "room");
    button.type = "button";
    button.dataset.room = r.room;
    button.addEventListener("click", () => {
      selected = r.room;
      refresh();
    });
    const tr = row([button, r.role, r.epoch, r.members, r.log_head]);
    if (r.room === selected) {
      tr.className = "selected";
    }
    return tr;
  }));
}

function showRoom(view, log) {
  document.getElementById("room-section").hidden = false;
  document.getElementById("room-id").textContent = view.room;
  const summary = document.getElementById("room-summary");
  const items = [
    ["Name", view.policy ? view.policy.room_name : "–"],
    ["Role", view.role],
    ["Epoch", view.epoch],
    ["Log", view.log.entries + " entries, " + view.log.bytes + " bytes, head " + view.log.head +
      ", checkpoint at " + view.log.checkpoint_seq],
    ["Refused submissions", view.refused === null ? "–" : view.refused],
  ];
  if (view.policy) {
    items.push(["Roles", view.policy.roles.map((r) => r.index + " " + r.name).join(", ")]);
    items.push(["Policy", "fixed membership " + view.policy.fixed_membership + ", multi-device " +
      view.policy.multi_device + ", max clients " + (view.policy.max_clients ?? "none") + ", max users " +
      (view.policy.max_users ?? "none")]);
  }
  const nodes = [];
  for (const [name, value] of items) {
    nodes.push(el("dt", name), el("dd", value));
  }
  summary.replaceChildren(...nodes);
  fill("members", view.members.map((m) => row([m.leaf, m.client])));
  fill("participants", view.participants.map((p) => row([p.user, roleText(p), p.clients])));
  fill("peers", view.peers.map((p) => {
    const tr = row([p.peer, p.cursor, p.lag, p.pending]);
    if (p.pending > 0) {
      tr.className = "lagging";
    }
    return tr;
  }));
  document.getElementById("epochs").replaceChildren(...view.epochs.slice().reverse().map((e) => {
    const li = el("li", "epoch " + e.epoch + " (since log position " + e.since_seq + ")");
    const ul = document.createElement("ul");
    ul.appendChild(el("li", "members: " + e.members.map((m) => m.client).join(", ")));
    ul.appendChild(el("li", "participants: " + e.participants.map((p) => p.user + " " + roleText(p)).join(", ")));
    li.appendChild(ul);
    return li;
  }));
  document.getElementById("timeline").replaceChildren(...log.entries.slice().reverse().map((e) => {
    const li = el("li", null, e.kind);
    const when = new Date(e.accepted_ms).toISOString();
    li.appendChild(el("div", "#" + e.seq + " epoch " + e.epoch + " " + e.kind + " by " +
      (e.sender || "the hub") + " at " + when + " (" + e.bytes + " bytes)", "head"));
    const ul = document.createElement("ul");
    for (const line of e.summary) {
      ul.appendChild(el("li", line));
    }
    li.appendChild(ul);
    return li;
  }));
}

async function refresh() {
  if (!token()) {
    status("Enter the admin token to connect.", false);
    return;
  }
  try {
    const rooms = await api("/admin/v1/rooms");
    showRooms(rooms.rooms);
    if (selected) {
      const id = encodeURIComponent(selected);
      const view = await api("/admin/v1/rooms/" + id);
      // The log is fetched again only when it grew (or another room was selected).
      const mark = view.room + " " + view.log.head + " " + view.log.entries;
      if (mark !== logMark) {
        lastLog = await api("/admin/v1/rooms/" + id + "/log");
        logMark = mark;
      }
      showRoom(view, lastLog);
    }
    status("Connected; updated " + new Date().toLocaleTimeString() + ".", false);
  } catch (e) {
    status("Error: " + e.message, true);
  }
}

function start() {
  if (timer === null) {
    timer = setInterval(refresh, 1000);
  }
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  readFragment();
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
    document.getElementById("token").value = "";
    start();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    status("Token forgotten.", false);
  });
  start();
});
