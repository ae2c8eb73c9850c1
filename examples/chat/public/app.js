// The chat's web client: plain JS, no build step. It keeps one WebSocket to
// the page's own server, reconnects with back-off when it drops, and on every
// (re)join asks for what it missed: {"type":"join", …, "since": <last id seen>}.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  user: '',
  rooms: [],
  room: '',
  maxText: 2000,
  /** room → { messages: [{ id, user, text, ts }], ids: Set, lastId } */
  logs: new Map(),
  ws: null,
  retry: 0,
};

function log(room) {
  let l = state.logs.get(room);
  if (!l) state.logs.set(room, (l = { messages: [], ids: new Set(), lastId: 0 }));
  return l;
}

function send(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

function join(room) {
  const msg = { type: 'join', channel: room, user: state.user };
  const l = log(room);
  if (l.lastId > 0) msg.since = l.lastId; // catch up on what was missed, not the whole history again
  send(msg);
}

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`);
  state.ws = ws;
  setStatus('connecting…', false);
  ws.onopen = () => {
    state.retry = 0;
    setStatus(`connected as ${state.user}`, false);
    join(state.room);
  };
  ws.onmessage = (ev) => receive(JSON.parse(ev.data));
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    // Back-off: 0.5 s, 1 s, 2 s … up to 15 s, with jitter so that a restarted server is not hit at once.
    const delay = Math.min(15000, 500 * 2 ** state.retry) * (0.75 + Math.random() / 2);
    state.retry++;
    setStatus(`disconnected; retrying in ${(delay / 1000).toFixed(1)} s`, true);
    setTimeout(connect, delay);
  };
}

function receive(msg) {
  if (msg.type === 'message') {
    const l = log(msg.channel);
    if (l.ids.has(msg.id)) return; // seen before a reconnect
    l.ids.add(msg.id);
    l.lastId = Math.max(l.lastId, msg.id);
    // Keep them in id order (a catch-up may arrive after a live message from another process).
    let i = l.messages.length;
    while (i > 0 && l.messages[i - 1].id > msg.id) i--;
    l.messages.splice(i, 0, msg);
    if (msg.channel === state.room) renderMessages();
  } else if (msg.type === 'presence') {
    if (msg.channel === state.room) renderUsers(msg.users);
  } else if (msg.type === 'error') {
    $('error').textContent = `${msg.code}: ${msg.message}`;
    setTimeout(() => ($('error').textContent = ''), 4000);
  }
}

function setStatus(text, down) {
  $('status').textContent = text;
  $('status').classList.toggle('down', down);
}

function renderRooms() {
  const ul = $('rooms');
  ul.replaceChildren(
    ...state.rooms.map((room) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `#${room}`;
      a.textContent = `# ${room}`;
      a.dataset.room = room;
      a.className = room === state.room ? 'current' : '';
      a.onclick = (ev) => {
        ev.preventDefault();
        switchRoom(room);
      };
      li.append(a);
      return li;
    }),
  );
  $('room-title').textContent = `# ${state.room}`;
}

function renderMessages() {
  const ol = $('messages');
  const atBottom = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 4;
  ol.replaceChildren(
    ...log(state.room).messages.map((m) => {
      const li = document.createElement('li');
      li.dataset.id = String(m.id);
      const time = document.createElement('time');
      time.textContent = new Date(m.ts).toLocaleTimeString();
      const user = document.createElement('span');
      user.className = 'user';
      user.textContent = m.user;
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = m.text;
      li.append(time, user, text);
      return li;
    }),
  );
  if (atBottom) ol.scrollTop = ol.scrollHeight;
}

function renderUsers(users) {
  $('users').replaceChildren(
    ...users.map((u) => {
      const li = document.createElement('li');
      li.textContent = u;
      return li;
    }),
  );
}

function switchRoom(room) {
  if (room === state.room) return;
  send({ type: 'leave', channel: state.room });
  state.room = room;
  location.hash = room;
  renderRooms();
  renderMessages();
  renderUsers([]);
  join(room);
}

$('login').onsubmit = async (ev) => {
  ev.preventDefault();
  state.user = $('name').value.trim();
  if (!state.user) return;
  const config = await (await fetch('/config.json')).json();
  state.rooms = config.rooms;
  state.maxText = config.maxText;
  $('text').maxLength = config.maxText;
  const wanted = decodeURIComponent(location.hash.slice(1));
  state.room = state.rooms.includes(wanted) ? wanted : state.rooms[0];
  $('login').hidden = true;
  $('chat').hidden = false;
  renderRooms();
  connect();
};

$('send').onsubmit = (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  if (!text) return;
  send({ type: 'message', channel: state.room, text });
  $('text').value = '';
};
