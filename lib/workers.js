'use strict';

// Workers on one port: a primary process forks N copies of runserver.js,
// each a full server with its own loop, all listening on the same port with
// SO_REUSEPORT (set in C, native/server.c) so that the kernel spreads new
// connections over them. The primary holds no client: it starts the
// workers, restarts one that dies (with backoff), relays multicasts between
// them (lib/fanout/primary.js), holds the store they share when there is no
// Redis (lib/workers-store.js), gathers snapshots from them (collect), and
// on SIGTERM / SIGINT shuts them all down gracefully.
//
// The primary tells each worker who it is in the environment:
// NODE_WEBSOCKET_WORKER (its index, 0..N-1), NODE_WEBSOCKET_WORKERS (N) and,
// once the first worker has bound it, NODE_WEBSOCKET_PORT (the real port,
// so that --port=0 gives every worker the same one).

const os = require('os');
const EventEmitter = require('events');
const { fork } = require('child_process');
const { BoundedSender } = require('./fanout/bounded');
const { createLogger } = require('./log');

const ENV_INDEX = 'NODE_WEBSOCKET_WORKER';
const ENV_COUNT = 'NODE_WEBSOCKET_WORKERS';
const ENV_PORT = 'NODE_WEBSOCKET_PORT';

const RESTART_MIN_MS = 100;     // first restart delay; doubles with each quick death
const RESTART_MAX_MS = 10000;
const STABLE_MS = 5000;         // a worker up this long resets the backoff
const COLLECT_TIMEOUT_MS = 1000;
const CALL_TIMEOUT_MS = 5000;     // a call to the primary (the shared store) that gets no answer fails
const CLOSE_MARGIN_MS = 3000;   // on top of closeTimeout before stragglers are killed

/**
 * Who this process is when the primary started it, else null.
 * @returns {{ index: number, count: number, port: number | null } | null}
 */
function workerInfo() {
  const index = Number(process.env[ENV_INDEX]);
  const count = Number(process.env[ENV_COUNT]);
  if (typeof process.send !== 'function' || !Number.isInteger(index) || !Number.isInteger(count) ||
      count < 1 || index < 0 || index >= count || process.env[ENV_INDEX] === '') return null;
  const port = Number(process.env[ENV_PORT]);
  return { index, count, port: Number.isInteger(port) && port > 0 ? port : null };
}

/** The number of workers `auto` means: one per core. */
function autoCount() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

// ---- the primary ----------------------------------------------------------

class Primary extends EventEmitter {
  /**
   * @param {object} options
   * @param {number} options.count how many workers
   * @param {string} options.script the worker's entry (runserver.js)
   * @param {string[]} [options.args] its arguments
   * @param {number} [options.port] the port from the options (0: the first worker picks one)
   * @param {number} [options.closeTimeout] how long a worker may take to close its clients
   * @param {ReturnType<typeof createLogger>} [options.log]
   */
  constructor({ count, script, args = [], port = 0, closeTimeout = 5000, log = createLogger() }) {
    super();
    this.count = count;
    this.script = script;
    this.args = args;
    this.port = port > 0 ? port : null; // known once bound
    this.closeTimeout = closeTimeout;
    this.log = log;
    this.workers = [];   // index -> { child, pid, listening, since, failures, timer }
    this.closing = false;
    this.everListened = false;
    this._collects = new Map(); // seq -> pending collect
    this._calls = new Map();    // kind -> what answers the workers' calls of that kind
    this._seq = 0;
  }

  /** Starts the workers: the first one alone when the port is still to be chosen. */
  start() {
    for (let i = 0; i < this.count; i++) this.workers.push({ child: null, pid: 0, listening: false, since: 0, failures: 0, timer: null, terminated: null });
    if (this.port === null) this._spawn(0);
    else for (let i = 0; i < this.count; i++) this._spawn(i);
    return this;
  }

  _spawn(index) {
    const w = this.workers[index];
    w.timer = null;
    const env = { ...process.env, [ENV_INDEX]: String(index), [ENV_COUNT]: String(this.count) };
    if (this.port !== null) env[ENV_PORT] = String(this.port);
    // 'advanced': Buffers cross the channel as bytes, not as JSON arrays.
    const child = fork(this.script, this.args, { env, serialization: 'advanced', stdio: 'inherit' });
    w.child = child;
    w.pid = child.pid;
    w.listening = false;
    w.fanout = new BoundedSender(`multicasts to worker ${index} (pid ${child.pid})`, this.log);
    child.on('message', (m) => this._onMessage(index, child, m));
    child.on('error', (err) => this.log.error(`worker ${index}: ${err.message}`));
    child.on('exit', (code, signal) => this._onExit(index, child, code, signal));
  }

  _onMessage(index, child, m) {
    if (m === null || typeof m !== 'object') return;
    const w = this.workers[index];
    if (w.child !== child) return;
    switch (m.type) {
      case 'fanout': // one worker's multicast: every other worker delivers it, in the order sent
        for (let i = 0; i < this.workers.length; i++) {
          const other = this.workers[i].child;
          if (i !== index && other !== null && this.workers[i].listening && other.connected) this.workers[i].fanout.send(other, m);
        }
        break;
      case 'listening':
        w.listening = true;
        w.since = Date.now();
        this.log.info(`worker ${index} (pid ${child.pid}) listening on port ${m.port}`);
        if (!this.everListened) {
          this.everListened = true;
          if (this.port === null) {
            this.port = m.port;
            for (let i = 1; i < this.count; i++) this._spawn(i);
          }
        }
        if (this.workers.every((x) => x.listening)) this.emit('listening', this.port);
        break;
      case 'collected': {
        const pending = this._collects.get(m.seq);
        if (pending !== undefined && !pending.got.has(index)) {
          pending.got.set(index, { index, pid: child.pid, data: m.data });
          if (pending.got.size >= pending.asked) pending.finish();
        }
        break;
      }
      case 'call': // a worker asks the primary (e.g. the shared store): one answer per call, in order
        this._answer(child, m);
        break;
      default:
        break;
    }
  }

  /**
   * Serves calls of kind from the workers (callPrimary in a worker):
   * fn(data, index) returns the answer or a promise of it; a throw or a
   * rejection reaches the caller as an Error with its message.
   * @param {string} kind
   * @param {(data: unknown, index: number) => unknown} fn
   */
  onCall(kind, fn) {
    this._calls.set(kind, fn);
  }

  _answer(child, m) {
    const fn = this._calls.get(m.kind);
    const reply = (r) => { if (child.connected) child.send({ type: 'reply', seq: m.seq, ...r }); };
    if (fn === undefined) {
      reply({ error: `the primary serves no ${JSON.stringify(String(m.kind))} calls` });
      return;
    }
    const index = this.workers.findIndex((w) => w.child === child);
    Promise.resolve().then(() => fn(m.data, index)).then(
      (data) => reply({ data }),
      (err) => reply({ error: String(err && err.message ? err.message : err) }));
  }

  _onExit(index, child, code, signal) {
    const w = this.workers[index];
    if (w.child !== child) return;
    w.child = null;
    w.listening = false;
    this.emit('worker-exit', index, child, code, signal);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.closing) {
      if (code !== 0 && !(signal === 'SIGTERM' && w.terminated === child)) this.failedClose = true;
      this._maybeClosed();
      return;
    }
    if (!this.everListened) {
      // Not one worker came up (a taken port, a bad module): restarting would not help.
      this.log.error(`worker ${index} (pid ${child.pid}) exited with ${how} before listening; stopping`);
      this.shutdown(() => this.emit('exit', code || 1));
      return;
    }
    if (w.since && Date.now() - w.since >= STABLE_MS) w.failures = 0;
    const delay = Math.min(RESTART_MIN_MS * 2 ** w.failures, RESTART_MAX_MS);
    w.failures++;
    w.since = 0;
    this.log.error(`worker ${index} (pid ${child.pid}) exited with ${how}; restarting it in ${delay} ms`);
    w.timer = setTimeout(() => this._spawn(index), delay);
  }

  /**
   * Asks every listening worker for a snapshot of kind (each answers with
   * what it registered with onCollect) and calls back once all answered or
   * the timeout passed. results: one { index, pid, data } per worker that
   * answered in time, by index.
   * @param {string} kind
   * @param {(results: { index: number, pid: number, data: unknown }[]) => void} callback
   * @param {number} [timeout]
   * @param {unknown} [query] handed to each worker's producer
   */
  collect(kind, callback, timeout = COLLECT_TIMEOUT_MS, query = undefined) {
    const seq = ++this._seq;
    const got = new Map();
    let asked = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this._collects.delete(seq);
      callback([...got.values()].sort((a, b) => a.index - b.index));
    };
    const timer = setTimeout(finish, timeout);
    this._collects.set(seq, { got, asked: 0, finish });
    for (const w of this.workers) {
      if (w.child !== null && w.listening && w.child.connected) {
        w.child.send({ type: 'collect', kind, seq, query });
        asked++;
      }
    }
    this._collects.get(seq).asked = asked;
    if (asked === 0) finish();
  }

  /**
   * Closes every worker gracefully (each sends 1001 to its clients, bounded
   * by closeTimeout); kills those that take longer. callback(ok): whether
   * all exited cleanly.
   * @param {(ok: boolean) => void} [callback]
   */
  shutdown(callback) {
    if (callback) this.once('closed', callback);
    if (this.closing) return;
    this.closing = true;
    this.failedClose = false;
    for (const w of this.workers) {
      if (w.timer !== null) clearTimeout(w.timer);
      w.timer = null;
      // A worker still starting may not listen to its channel yet (the message would be lost): it
      // has no client either, and SIGTERM closes it (its handler, or the default action).
      if (w.child !== null && w.child.connected && w.listening) w.child.send({ type: 'shutdown' });
      else if (w.child !== null) {
        w.terminated = w.child;
        w.child.kill('SIGTERM');
      }
    }
    this._killTimer = setTimeout(() => {
      for (const w of this.workers) {
        if (w.child !== null) {
          this.log.error(`worker (pid ${w.child.pid}) did not close in time; killing it`);
          this.failedClose = true;
          w.child.kill('SIGKILL');
        }
      }
    }, this.closeTimeout + CLOSE_MARGIN_MS);
    this._maybeClosed();
  }

  /** Ends every worker at once (a second signal). */
  kill() {
    for (const w of this.workers) if (w.child !== null) w.child.kill('SIGKILL');
  }

  _maybeClosed() {
    if (!this.closing || this.workers.some((w) => w.child !== null)) return;
    clearTimeout(this._killTimer);
    if (this._closedEmitted) return;
    this._closedEmitted = true;
    this.emit('closed', !this.failedClose);
  }
}

/**
 * runserver.js with --workers: becomes the primary. Exits 0 after a
 * graceful shutdown, 1 when a worker had to be killed, a worker's code when
 * none could start.
 * With sharedStore, the primary holds the workers' store (without Redis).
 * @param {{ count: number, script: string, args: string[], port: number, closeTimeout: number, log: boolean,
 *   sharedStore?: boolean }} o
 * @returns {Primary}
 */
function runPrimary({ count, script, args, port, closeTimeout, log, sharedStore = false }) {
  const logger = createLogger({ enabled: log !== false });
  const primary = new Primary({ count, script, args, port, closeTimeout, log: logger });
  if (sharedStore) require('./workers-store').serveStore(primary, new (require('./store').MemoryStore)());
  require('./fanout/primary').serveCounts(primary);
  primary.on('listening', (p) => logger.info(`all ${count} workers listening on port ${p}`));
  primary.on('exit', (code) => process.exit(code));
  let signalled = false;
  const onSignal = (signal) => {
    if (signalled) {
      process.stderr.write(`runserver: ${signal} again, exiting now\n`);
      primary.kill();
      process.exit(1);
    }
    signalled = true;
    process.stderr.write(`runserver: ${signal} received, closing ${count} workers (press Ctrl-C again to exit at once)\n`);
    primary.shutdown((ok) => process.exit(ok ? 0 : 1));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => { // TLS reload: every worker reads its certificates again
    for (const w of primary.workers) if (w.child !== null) w.child.kill('SIGHUP');
  });
  // Said once the signal handlers are in place: a SIGTERM from whoever read this line is handled.
  logger.info(`primary (pid ${process.pid}) starting ${count} worker${count === 1 ? '' : 's'}`);
  return primary.start();
}

// ---- the worker side ------------------------------------------------------

const producers = new Map(); // kind -> () => data | Promise<data>
let answering = false;

/**
 * Registers what this worker answers when the primary collects kind
 * (e.g. 'metrics'). fn gets the primary's query, and may return a promise.
 * Without workers it is never called.
 * @param {string} kind
 * @param {(query: unknown) => unknown} fn
 */
function onCollect(kind, fn) {
  producers.set(kind, fn);
  answerCollects();
}

function answerCollects() {
  if (answering || workerInfo() === null) return;
  answering = true;
  process.on('message', (m) => {
    if (m === null || typeof m !== 'object' || m.type !== 'collect') return;
    const reply = (data) => { if (process.connected) process.send({ type: 'collected', kind: m.kind, seq: m.seq, data }); };
    const fn = producers.get(m.kind);
    if (fn === undefined) return reply(null);
    Promise.resolve(m.query).then(fn).then(reply, (err) => reply({ error: String(err && err.message ? err.message : err) }));
    return undefined;
  });
}

const calls = new Map(); // seq -> { resolve, reject, timer } of a call waiting for the primary
let callSeq = 0;
let replying = false;

/**
 * In a worker: asks the primary (its onCall(kind) handler) and resolves
 * with its answer; rejects when it answers with an error, when there is no
 * primary, or after timeout ms.
 * @param {string} kind
 * @param {unknown} data
 * @param {number} [timeout]
 * @returns {Promise<unknown>}
 */
function callPrimary(kind, data, timeout = CALL_TIMEOUT_MS) {
  if (workerInfo() === null || !process.connected) {
    return Promise.reject(new Error(`no primary to ask for ${kind}: not a worker of runserver.js --workers`));
  }
  if (!replying) {
    replying = true;
    process.on('message', (m) => {
      if (m === null || typeof m !== 'object' || m.type !== 'reply') return;
      const pending = calls.get(m.seq);
      if (pending === undefined) return; // answered after its timeout
      calls.delete(m.seq);
      clearTimeout(pending.timer);
      if (m.error !== undefined) pending.reject(new Error(m.error));
      else pending.resolve(m.data);
    });
    process.on('disconnect', () => {
      for (const [seq, pending] of calls) {
        calls.delete(seq);
        clearTimeout(pending.timer);
        pending.reject(new Error('the primary went away'));
      }
    });
  }
  const seq = ++callSeq;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      calls.delete(seq);
      reject(new Error(`the primary did not answer ${kind} within ${timeout} ms`));
    }, timeout);
    calls.set(seq, { resolve, reject, timer });
    process.send({ type: 'call', kind, seq, data });
  });
}

/**
 * In a worker: tells the primary the server is listening, relays
 * multicasts through it (unless another fan-out, e.g. Redis, is set),
 * keeps its store there (unless the store is Redis), answers collects, and
 * closes when the primary asks or goes away.
 * @param {import('./server').Server} server
 * @param {(reason: string) => void} shutdown the worker's graceful close
 */
function attachWorker(server, shutdown) {
  const info = workerInfo();
  if (info === null) return;
  answerCollects();
  if (server._fanout === null) {
    const { PrimaryFanout } = require('./fanout/primary');
    server._fanout = new PrimaryFanout(server);
    onCollect('subscribers', (name) => (typeof name === 'string' ? server._subscribers(name) : 0));
  }
  // Without Redis the primary holds the one store of all workers (runPrimary's sharedStore).
  if (server._redis === null) server.store = require('./workers-store').primaryStore(callPrimary);
  process.on('message', (m) => {
    if (m !== null && typeof m === 'object' && m.type === 'shutdown') shutdown('the primary');
  });
  // The primary died: nobody would restart or stop this worker.
  process.on('disconnect', () => shutdown('the primary going away'));
  server.on('listening', () => {
    const address = server.address();
    if (process.connected) process.send({ type: 'listening', port: address ? address.port : server.options.port });
  });
}

module.exports = {
  Primary, runPrimary, workerInfo, autoCount, onCollect, callPrimary, attachWorker, ENV_INDEX, ENV_COUNT, ENV_PORT,
};
