'use strict';

// ws://host:port/processes: the process list of node.websocket.js (which ran
// "ps awux"), read here straight from /proc: no shell, no child process,
// nothing from the client ever reaches the file system. After the client
// sends "start" it gets the list at once and then every 5 seconds, until it
// sends "stop" or disconnects:
//
//   {"type":"processes","at":"<ISO date>","count":123,"processes":[
//     {"pid":1,"ppid":0,"user":"root","uid":0,"state":"S","cpu":1.25,"rss":12345678,"command":"/sbin/init"}, ...]}
//
// cpu is user + system CPU time in seconds, rss the resident size in bytes,
// command the full command line ("[name]" for kernel threads).
//
// One timer per application instance: started clients subscribe to "ps" and
// each round is read once and multicast once, however many clients watch.

const fs = require('fs');

const PERIOD_MS = 5000;
const TOPIC = 'ps';
const PROC = '/proc';
const CLK_TCK = 100;            // USER_HZ: the unit of /proc/<pid>/stat times on Linux
const CONCURRENCY = 64;         // files open at once while reading
const MAX_PROCESSES = 5000;     // a bound on one message
const MAX_COMMAND = 1024;       // characters of one command line shown
const FRESH_MS = 1000;          // a list this recent is reused for a new client

/** Reads a small /proc file, or null when the process is gone or hidden. */
async function readProcFile(file) {
  try {
    return await fs.promises.readFile(file);
  } catch (_) {
    return null;
  }
}

/** uid -> user name, from /etc/passwd (numbers when it cannot be read). */
async function userNames() {
  const names = new Map();
  const text = await readProcFile('/etc/passwd');
  if (text) {
    for (const line of text.toString('utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && /^\d+$/.test(f[2]) && !names.has(Number(f[2]))) names.set(Number(f[2]), f[0]);
    }
  }
  return names;
}

/** One process, or null when it vanished while being read. */
async function readProcess(pid, users) {
  const dir = `${PROC}/${pid}`;
  const [stat, status, cmdline] = await Promise.all([
    readProcFile(`${dir}/stat`), readProcFile(`${dir}/status`), readProcFile(`${dir}/cmdline`),
  ]);
  if (!stat || !status) return null;
  // "pid (comm) S ppid ...": comm may hold spaces and ')', so split after the last ')'.
  const s = stat.toString('latin1');
  const close = s.lastIndexOf(')');
  const name = s.slice(s.indexOf('(') + 1, close);
  const fields = s.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const st = status.toString('utf8');
  const uidMatch = /^Uid:\s+(\d+)/m.exec(st);
  const rssMatch = /^VmRSS:\s+(\d+)\s+kB/m.exec(st);
  const uid = uidMatch ? Number(uidMatch[1]) : null;
  let command = cmdline && cmdline.length ? cmdline.toString('utf8').replace(/\0+$/, '').replace(/\0/g, ' ') : '';
  if (command === '') command = `[${name}]`;
  if (command.length > MAX_COMMAND) command = command.slice(0, MAX_COMMAND) + '…';
  return {
    pid,
    ppid: Number(fields[1]),
    user: uid === null ? '?' : users.get(uid) || String(uid),
    uid,
    state: fields[0],
    cpu: Math.round(((utime + stime) / CLK_TCK) * 100) / 100,
    rss: rssMatch ? Number(rssMatch[1]) * 1024 : 0,
    command,
  };
}

/**
 * Reads the process list from /proc.
 * @returns {Promise<object>} the message to send
 */
async function snapshot() {
  const entries = await fs.promises.readdir(PROC);
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => a - b).slice(0, MAX_PROCESSES);
  const users = await userNames();
  const processes = [];
  for (let i = 0; i < pids.length; i += CONCURRENCY) {
    const batch = await Promise.all(pids.slice(i, i + CONCURRENCY).map((pid) => readProcess(pid, users)));
    for (const p of batch) if (p) processes.push(p);
  }
  return { type: 'processes', at: new Date().toISOString(), count: processes.length, processes };
}

/** The list as JSON text; one read serves every client asking at about the same time. */
function list(context) {
  const state = context.state;
  if (state.pending) return state.pending;
  if (state.last && Date.now() - state.lastAt < FRESH_MS) return Promise.resolve(state.last);
  state.pending = snapshot().then((message) => {
    state.last = JSON.stringify(message);
    state.lastAt = Date.now();
    return state.last;
  }, (err) => JSON.stringify({ type: 'error', error: `cannot read ${PROC}: ${err.code || err.message}` }))
    .finally(() => { state.pending = null; });
  return state.pending;
}

/** Runs the instance's timer only while someone is subscribed. */
function update(context) {
  const state = context.state;
  const wanted = context.subscribers(TOPIC) > 0;
  if (wanted && !state.timer) {
    state.timer = setInterval(() => {
      list(context).then((text) => { if (state.timer) context.multicast(TOPIC, text, { local: true }); }); // each process lists for its own
    }, PERIOD_MS);
  } else if (!wanted && state.timer) {
    clearInterval(state.timer);
    state.timer = null;
  }
}

class Module {
  /**
   * @param {import('..').Connection} connection
   * @param {import('..').AppContext} context
   */
  constructor(connection, context) {
    this.context = context || connection.context;
  }

  onData(data, connection) {
    const command = typeof data === 'string' ? data.trim() : '';
    if (command === 'start') {
      if (this.context.subscribe(connection, TOPIC)) {
        list(this.context).then((text) => {
          if (connection.readyState === 1) connection.send(text);
        });
      }
      update(this.context);
    } else if (command === 'stop') {
      this.context.unsubscribe(connection, TOPIC);
      update(this.context);
    } else {
      connection.send(JSON.stringify({ type: 'error', error: 'send "start" or "stop"' }));
    }
  }

  onDisconnect(connection) {
    this.context.unsubscribe(connection, TOPIC);
    update(this.context);
  }
}

exports.Module = Module;
exports.snapshot = snapshot; // for tests and other modules
