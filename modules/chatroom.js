'use strict';

// ws://host:port/chatroom: the chat of node.websocket.js, with nicknames and
// a line protocol. Each room is an application instance (one per configured
// URL, or the one at /chatroom); its nicknames, the last messages and the
// topic live in context.store (lib/store.js): in this process, or in Redis
// with the redis option, so clients on several processes and machines share
// one room. context.state.members holds this process's members only.
//
// Client -> server, one command per text message:
//   NICK <name>    join the room under a nickname (1-24 of A-Z a-z 0-9 _ -),
//                  required before anything else
//   MSG <text>     say something to everyone
//   ACTION <text>  "/me <text>"
//   USERS          who is here
//   TOPIC [text]   set the topic (and tell everyone), or just ask for it
//   PART           leave; the server closes the connection
//
// Server -> client, JSON text:
//   {"type":"JOIN","nick":"bob","timestamp":"<ISO>"}          to everyone, the newcomer included
//   {"type":"MSG","nick":"bob","text":"hi","isSelf":false,"timestamp":"<ISO>"}
//                                                            to everyone; isSelf true on the sender's copy
//   {"type":"ACTION","nick":"bob","text":"waves","isSelf":false,"timestamp":"<ISO>"}
//   {"type":"PART","nick":"bob","timestamp":"<ISO>"}          when a member leaves or disconnects
//   {"type":"TOPIC","topic":"...","nick":"who set it","timestamp":"<ISO>"}
//   {"type":"RPL_USERS","nicks":["alice","bob"]}
//   {"type":"RPL_WELCOME","nick":"bob","users":2}
//   {"type":"ERROR","code":"ERR_...","text":"why"}           only to the one who erred
//
// On NICK the newcomer gets, in order: the JOIN (also sent to everyone), the
// last 10 MSG/ACTION messages said before it came (each with
// "history": true), the TOPIC, and RPL_WELCOME.
//
// The store answers asynchronously: each connection's commands are handled
// one after the other, in the order sent. When the store is unavailable
// (Redis away), a command gets ERROR ERR_UNAVAILABLE and changes nothing.

const ROOM = 'room';
const HISTORY = 10;
const NICK_RE = /^[A-Za-z0-9_-]{1,24}$/;
const MAX_TEXT = 4096; // characters of one MSG, ACTION or TOPIC

const ERR = {
  NOTREGISTERED: 'ERR_NOTREGISTERED',
  ALREADYREGISTERED: 'ERR_ALREADYREGISTERED',
  ERRONEUSNICKNAME: 'ERR_ERRONEUSNICKNAME',
  NICKNAMEINUSE: 'ERR_NICKNAMEINUSE',
  UNKNOWNCOMMAND: 'ERR_UNKNOWNCOMMAND',
  NOTEXTTOSEND: 'ERR_NOTEXTTOSEND',
  TOOLONG: 'ERR_TOOLONG',
  BINARY: 'ERR_BINARY',
  UNAVAILABLE: 'ERR_UNAVAILABLE',
};

// Keys in the room's store.
const MEMBERS = 'members'; // hash: lower-cased nick -> { nick, owner } as JSON (owner: the process it is connected to)
const HISTORY_KEY = 'history'; // list: the last HISTORY MSG/ACTION records, as JSON
const TOPIC = 'topic';     // string: { topic, nick, timestamp } as JSON

const NO_TOPIC = { topic: '', nick: null, timestamp: null };

/** This process's members of the room, created on first use. */
function room(context) {
  const s = context.state;
  if (s.members === undefined) s.members = new Map(); // lower-cased nick -> { nick, connection }
  return s;
}

/** The members whose process still runs: [{ nick, owner }]. A crashed process's are left out. */
async function liveMembers(store) {
  const all = Object.values(await store.hgetall(MEMBERS)).map((v) => parseJson(v, null)).filter((m) => m && typeof m.nick === 'string');
  const owners = [...new Set(all.map((m) => m.owner))];
  const alive = new Map(await Promise.all(owners.map(async (o) => [o, await store.alive(o)])));
  return all.filter((m) => alive.get(m.owner));
}

// Removing a member from the store while it is away: tried every 2 s for a minute.
const FORGET_TRIES = 30;
const FORGET_EVERY_MS = 2000;

// A retry removes the entry only if it is still ours: the name may have been taken since.
function forget(store, key, mine, members, tries, retry = false) {
  const done = retry
    ? store.hget(MEMBERS, key).then((v) => (v === mine && !members.has(key) ? store.hdel(MEMBERS, key) : false))
    : store.hdel(MEMBERS, key);
  done.catch(() => {
    if (tries > 1) setTimeout(() => forget(store, key, mine, members, tries - 1, true), FORGET_EVERY_MS).unref();
  });
}

function parseJson(text, fallback) {
  if (typeof text !== 'string') return fallback;
  try {
    return JSON.parse(text);
  } catch (_) {
    return fallback;
  }
}

const now = () => new Date().toISOString();

class Module {
  /**
   * @param {import('..').Connection} connection
   * @param {import('..').AppContext} context the room
   */
  constructor(connection, context) {
    this.context = context || connection.context;
    this.nick = null;
    this.entry = null;
    this.queue = Promise.resolve(); // this connection's commands, one after the other
  }

  /** Runs fn after this connection's earlier commands; a store failure answers ERR_UNAVAILABLE. */
  serially(connection, fn) {
    this.queue = this.queue.then(fn).catch((err) => {
      this.error(connection, ERR.UNAVAILABLE, `the room is unavailable for now (${err && err.message ? err.message : err}); try again`);
    });
  }

  onData(data, connection) {
    this.serially(connection, () => this.command(data, connection));
  }

  async command(data, connection) {
    if (typeof data !== 'string') {
      this.error(connection, ERR.BINARY, 'commands are text: NICK, MSG, ACTION, USERS, TOPIC, PART');
      return;
    }
    const m = /^([A-Za-z]+)(?: ([\s\S]*))?$/.exec(data);
    const command = m ? m[1].toUpperCase() : '';
    const arg = m && m[2] !== undefined ? m[2] : '';
    if (command === 'NICK') {
      await this.join(connection, arg.trim());
      return;
    }
    if (!['MSG', 'ACTION', 'USERS', 'TOPIC', 'PART'].includes(command)) {
      this.error(connection, ERR.UNKNOWNCOMMAND,
        `unknown command ${JSON.stringify(data.slice(0, 20))}: use NICK, MSG, ACTION, USERS, TOPIC or PART`);
      return;
    }
    if (this.nick === null) {
      this.error(connection, ERR.NOTREGISTERED, 'send NICK <name> first');
      return;
    }
    const store = this.context.store;
    switch (command) {
      case 'MSG':
      case 'ACTION': {
        if (!this.checkText(connection, arg)) return;
        const record = { type: command, nick: this.nick, text: arg, timestamp: now() };
        await store.pushCapped(HISTORY_KEY, JSON.stringify(record), HISTORY);
        // One multicast for everyone else, and the sender's own copy says isSelf.
        this.context.multicast(ROOM, JSON.stringify({ ...record, isSelf: false }), { exclude: connection });
        send(connection, { ...record, isSelf: true });
        break;
      }
      case 'USERS': {
        send(connection, { type: 'RPL_USERS', nicks: (await liveMembers(store)).map((m) => m.nick) });
        break;
      }
      case 'TOPIC': {
        if (arg === '') {
          send(connection, { type: 'TOPIC', ...parseJson(await store.get(TOPIC), NO_TOPIC) });
          return;
        }
        if (!this.checkText(connection, arg)) return;
        const topic = { topic: arg, nick: this.nick, timestamp: now() };
        await store.set(TOPIC, JSON.stringify(topic));
        this.context.multicast(ROOM, JSON.stringify({ type: 'TOPIC', ...topic }));
        break;
      }
      case 'PART':
        await this.leave();
        connection.close(1000, 'PART');
        break;
    }
  }

  onDisconnect(connection) {
    this.serially(connection, () => this.leave());
  }

  /** NICK: checks the name, then JOIN to all, history, TOPIC and RPL_WELCOME to the newcomer. */
  async join(connection, nick) {
    if (this.nick !== null) {
      this.error(connection, ERR.ALREADYREGISTERED, `you are already ${this.nick}`);
      return;
    }
    if (!NICK_RE.test(nick)) {
      this.error(connection, ERR.ERRONEUSNICKNAME, 'a nickname is 1 to 24 letters, digits, "_" or "-"');
      return;
    }
    const store = this.context.store;
    const key = nick.toLowerCase();
    const me = JSON.stringify({ nick, owner: store.owner });
    if (!(await store.hsetnx(MEMBERS, key, me))) {
      const held = parseJson(await store.hget(MEMBERS, key), null);
      // A name held for a process that is gone (crashed, killed) is free again, and so is one
      // this process holds for no member of its own (its removal failed while Redis was away).
      const stale = held !== null && (held.owner === store.owner ? !room(this.context).members.has(key) : !(await store.alive(held.owner)));
      if (!stale) {
        this.error(connection, ERR.NICKNAMEINUSE, `${nick} is already taken in this room`);
        return;
      }
      await store.hset(MEMBERS, key, me);
    }
    let history, topic, members;
    try {
      // What was said before the newcomer came (pipelined through one Redis connection).
      [history, topic, members] = await Promise.all([store.list(HISTORY_KEY), store.get(TOPIC), liveMembers(store)]);
    } catch (err) {
      store.hdel(MEMBERS, key).catch(() => {}); // not joined after all
      throw err;
    }
    if (connection.readyState !== 1) { // left while the store answered
      await store.hdel(MEMBERS, key);
      return;
    }
    this.nick = nick;
    this.entry = me; // what the store holds for this member
    room(this.context).members.set(key, { nick, connection });
    this.context.subscribe(connection, ROOM);
    this.context.multicast(ROOM, JSON.stringify({ type: 'JOIN', nick, timestamp: now() }));
    for (const text of history) {
      const record = parseJson(text, null);
      if (record !== null) send(connection, { ...record, isSelf: false, history: true });
    }
    send(connection, { type: 'TOPIC', ...parseJson(topic, NO_TOPIC) });
    send(connection, { type: 'RPL_WELCOME', nick, users: members.length });
  }

  /** Leaves the room once (PART, then the disconnect that follows, say it once). */
  async leave() {
    if (this.nick === null) return;
    const state = room(this.context);
    const nick = this.nick;
    const member = state.members.get(nick.toLowerCase());
    this.nick = null;
    state.members.delete(nick.toLowerCase());
    if (member) this.context.unsubscribe(member.connection, ROOM);
    // The name is free again; while the store is away, the removal is tried again for a while.
    forget(this.context.store, nick.toLowerCase(), this.entry, state.members, FORGET_TRIES);
    this.context.multicast(ROOM, JSON.stringify({ type: 'PART', nick, timestamp: now() }));
    // PART goes to the one leaving too, so its page can say it left.
    if (member) send(member.connection, { type: 'PART', nick, timestamp: now() });
  }

  checkText(connection, text) {
    if (text.trim() === '') {
      this.error(connection, ERR.NOTEXTTOSEND, 'nothing to send');
      return false;
    }
    if (text.length > MAX_TEXT) {
      this.error(connection, ERR.TOOLONG, `at most ${MAX_TEXT} characters`);
      return false;
    }
    return true;
  }

  error(connection, code, text) {
    send(connection, { type: 'ERROR', code, text });
  }
}

function send(connection, message) {
  if (connection.readyState === 1) connection.send(JSON.stringify(message));
}

exports.Module = Module;
