'use strict';

// The Server: options, listening, the upgrade decision (which module, which
// subprotocol) and the dispatch of each batch of events from C to modules
// and listeners.

const dns = require('dns');
const EventEmitter = require('events');
const native = require('./native');
const { Connection, OPEN, CLOSED, addressText, headersOf, headerKey, parseCookies, queryOf, termsOf } = require('./connection');
const { checkName, AppContext } = require('./context');
const { Loader, chooseProtocol } = require('./loader');
const { normalizeOptions, loadTls } = require('./options');
const { compileTrust, clientAddress, trustNone } = require('./forwarded');
const { createLogger, redisSink } = require('./log');
const { MemoryStore, RedisStore } = require('./store');
const { WebSocketError } = require('./errors');
const { workerInfo } = require('./workers');
const { gatewayName, shadowedNames } = require('./gateway');
const resume = require('./resume');

// Record kinds and flags written by native/events.c.
const EVENT_TEXT = 1;
const EVENT_BINARY = 2;
const EVENT_CLOSE = 3;
const EVENT_DRAIN = 4;
const EVENT_SERVER_CLOSED = 5;
const EVENT_WRITE = 6;
const EVENT_END = 7;
const EVENT_SHED = 8; // out of file descriptors: shedding began (flags 1) or ended (flags 0)
const ERRNO_NAMES = new Map(Object.entries(require('os').constants.errno).map(([name, n]) => [n, name]));
const EVENT_FLAG_OWNED = 1; // a large message in its own buffer, not in the batch
const CLOSE_FLAG_ERROR = 2;

// How the headers string from C names these two (see headerKey).
const X_FORWARDED_FOR = `${headerKey('x-forwarded-for')}\0`;
const FORWARDED = `${headerKey('forwarded')}\0`;

const POLICIES = { drop: 1, close: 2 };
const MAX_CLOSE_CODES = 32; // distinct close codes the metrics count one by one
const POLICY_NAMES = ['default', 'drop', 'close'];

const CLOSE_ERROR_CODES = {
  1002: 'WS_ERR_PROTOCOL',
  1007: 'WS_ERR_INVALID_UTF8',
  1008: 'WS_ERR_POLICY',
  1009: 'WS_ERR_MESSAGE_TOO_BIG',
  1011: 'WS_ERR_INTERNAL',
  1001: 'WS_ERR_TIMEOUT',
};

class Server extends EventEmitter {
  /**
   * @param {import('..').ServerOptions} [options]
   */
  constructor(options) {
    super();
    this.options = normalizeOptions(options);
    this.log = createLogger({ enabled: this.options.log });
    this._redis = null;        // the Redis command connection (lib/redis.js), with the redis option
    this._fanout = null;       // multicast to other processes: lib/fanout/redis.js, or the workers' primary
    this._logSink = null;      // the Redis log sink
    this._statusTimer = null;  // the periodic 'N clients connected' line
    this._closeDeadline = 0;   // when close() must be done writing the queued log lines
    /** Shared application state (lib/store.js): in this process, or in Redis with the redis option. */
    this.store = new MemoryStore();
    if (this.options.redis) this._setupRedis();
    this._loader = new Loader(this);
    this._gatewayContexts = new Map(); // request path -> the AppContext its gateway connections share
    this._pending = new Map(); // slot -> token of an upgrade whose authorize() is still running
    this._streams = new Map(); // slot -> the JS socket of a stream connection (TLS terminated by Node)
    this._adopting = null;     // the socket being handed over by handleUpgrade(), during native.adopt()
    this._trusted = compileTrust(this.options.trustProxy);
    this._handle = null;
    this._conns = [];      // slot -> Connection
    this._batch = null;    // Buffer over the events ArrayBuffer C shares with us
    this._address = null;
    this._state = 'new';   // new, starting, listening, closing, closed
    this._worker = workerInfo(); // { index, count } in a worker started by lib/workers.js, else null
    this._resourceOpen = new Map(); // resource -> open connections, for metrics
    this._sockjsTransports = new Map(); // slot -> SockJS transport name, from the upgrade to the accept
    this._closeCodes = new Map();   // close code -> connections closed with it, for metrics
    this._metrics = null;           // the metrics listener (lib/metrics.js), when options.metrics
    this._published = 0;            // multicast() calls made in this process, for metrics
    this._onUpgrade = this._onUpgrade.bind(this);
    this._onEvents = this._onEvents.bind(this);
    if (this.options.noServer || this.options.server) {
      // Upgrades come from an HTTP server: no port of our own.
      this._createHandle();
      this._state = 'listening';
      this._startRedis();
      this._startStatus();
      this._startMetrics((err) => { if (err) this.emit('error', err); });
      if (this.options.server) {
        this._httpServer = this.options.server;
        this._onHttpUpgrade = (req, socket, head) => this.handleUpgrade(req, socket, head);
        this._httpServer.on('upgrade', this._onHttpUpgrade);
      }
    }
  }

  _createHandle() {
    const o = this.options;
    this._handle = native.createServer({
      maxPayload: o.maxPayload,
      maxHeaderSize: o.maxHeaderSize,
      maxConnections: o.maxConnections,
      handshakeTimeout: o.handshakeTimeout,
      pingInterval: o.pingInterval,
      idleTimeout: o.idleTimeout,
      closeTimeout: o.closeTimeout,
      maxBufferedAmount: o.maxBufferedAmount,
      highWaterMark: o.highWaterMark,
      backlog: o.backlog,
      maxBackpressure: o.maxBackpressure,
      backpressurePolicy: POLICIES[o.backpressurePolicy],
      proxyProtocol: o.proxyProtocol ? 1 : 0,
      legacyDrafts: o.legacyDrafts ? 1 : 0,
      idOffset: this._worker !== null ? this._worker.index : 0, // ids unique across workers
      idStride: this._worker !== null ? this._worker.count : 1,
      perMessageDeflate: o.perMessageDeflate ? {
        threshold: o.perMessageDeflate.threshold,
        serverNoContextTakeover: o.perMessageDeflate.serverNoContextTakeover ? 1 : 0,
        clientNoContextTakeover: o.perMessageDeflate.clientNoContextTakeover ? 1 : 0,
        serverMaxWindowBits: o.perMessageDeflate.serverMaxWindowBits,
        clientMaxWindowBits: o.perMessageDeflate.clientMaxWindowBits,
        memLevel: o.perMessageDeflate.memLevel,
        level: o.perMessageDeflate.level,
      } : undefined,
      origins: o.origins.includes('*') ? [] : o.origins,
      docroot: o.docroot === false || o.noServer || o.server ? undefined : o.docroot,
      clientJs: o.noServer || o.server ? undefined : require('path').join(__dirname, 'client', 'client.js'),
      sockjs: o.sockjsPrefix === false ? undefined : {
        prefix: o.sockjsPrefix,
        url: o.sockjsUrl,
        heartbeat: o.sockjsHeartbeat,
        disconnectDelay: o.sockjsDisconnectDelay,
        responseLimit: o.sockjsResponseLimit,
        websocket: o.sockjsWs ? 1 : 0,
        cookieNeeded: o.sockjsCookie ? 1 : 0,
      },
      gateway: o.gateway ? {
        services: o.gateway.services,
        allow: o.gateway.allow,
        deny: o.gateway.deny,
        framing: o.gateway.framing,
        direct: o.gateway.direct,
      } : undefined,
    }, this._onUpgrade, this._onEvents);
    resume.applyApps(this);
    if (o.gateway && o.log) {
      const shadowed = shadowedNames(o.gateway, (p) => this._loader.resolve(p));
      if (shadowed.length) this.log.info(`gateway: served by JS modules, not by the services in ${o.gateway.services}: ${shadowed.join(', ')}`);
    }
    if (o.tls) {
      try {
        this._setTls(o.tls);
      } catch (err) {
        native.release(this._handle);
        this._handle = null;
        throw err;
      }
    }
  }

  // The engine's TLS context from a normalized tls option.
  _setTls(tls) {
    const sni = Object.keys(tls.sni).map((name) => ({ name, ...tls.sni[name] }));
    try {
      native.setTls(this._handle, {
        cert: tls.cert,
        key: tls.key,
        ca: tls.ca || undefined,
        passphrase: tls.passphrase || undefined,
        minVersion: tls.minVersion === 'TLSv1.3' ? 0x0304 : 0x0303,
        sni,
      });
    } catch (err) {
      const files = [tls.certFile && `cert ${tls.certFile}`, tls.keyFile && `key ${tls.keyFile}`].filter(Boolean).join(', ');
      throw new WebSocketError('WS_ERR_INVALID_OPTION', `option tls: ${err.message}${files ? ` (${files})` : ''}`,
        { option: 'tls' });
    }
  }

  /**
   * Reads the certificate files again; new connections get the new ones,
   * open connections keep theirs.
   */
  reloadTls() {
    if (!this.options.tls) {
      throw new WebSocketError('WS_ERR_NO_TLS', 'reloadTls() needs the tls option');
    }
    const fresh = loadTls(this.options.tls);
    if (this._handle !== null) this._setTls(fresh);
    this.options.tls = fresh;
  }

  /**
   * Takes over an upgrade request from an http/https server's 'upgrade'
   * event. A plain TCP socket is handed to the engine whole; a socket it
   * cannot own (TLS terminated by Node, any other stream) is fed to it.
   * @param {import('http').IncomingMessage} req
   * @param {import('stream').Duplex} socket
   * @param {Buffer} head
   * @param {(connection: Connection) => void} [callback]
   */
  handleUpgrade(req, socket, head, callback) {
    if (this._handle === null) {
      socket.destroy();
      throw new WebSocketError('WS_ERR_NOT_LISTENING', 'handleUpgrade() needs noServer, server, or a listening server');
    }
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    const requestHead = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    const raw = head && head.length ? Buffer.concat([requestHead, head]) : requestHead;
    const secure = Boolean(socket.encrypted);
    const handle = socket._handle;
    const fd = !secure && handle && typeof handle.fd === 'number' && handle.fd >= 0 ? handle.fd : -1;
    if (fd >= 0 && typeof handle.readStop === 'function') handle.readStop(); // the engine reads from now on
    this._adopting = { callback, secure, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
    let slot;
    try {
      slot = native.adopt(this._handle, fd, raw);
    } finally {
      this._adopting = null;
    }
    if (fd >= 0) {
      socket.destroy(); // closes Node's descriptor; the engine holds its own duplicate
      return;
    }
    if (slot < 0) {
      socket.destroy();
      return;
    }
    this._streams.set(slot, socket);
    const h = this._handle;
    socket.on('data', (chunk) => { if (this._streams.get(slot) === socket) native.feed(h, slot, chunk); });
    const ended = () => { if (this._streams.get(slot) === socket && this._handle !== null) native.feedEnd(h, slot); };
    socket.on('end', ended);
    socket.on('close', ended);
    socket.on('error', () => {}); // 'close' follows; the connection reports the end
    if (socket.isPaused()) socket.resume();
  }

  /** Open connections. */
  get clients() {
    const out = [];
    for (const c of this._conns) if (c !== undefined && c.readyState === OPEN) out.push(c);
    return out;
  }

  /** @returns {{ address: string, family: string, port: number } | null} */
  address() {
    return this._address;
  }

  /**
   * Starts listening on options.host and options.port.
   * @param {() => void} [callback] called on 'listening'
   */
  listen(callback) {
    if (this._state !== 'new') {
      throw new WebSocketError('WS_ERR_SERVER_STARTED', 'listen() may be called once per Server');
    }
    this._state = 'starting';
    if (callback) this.once('listening', callback);
    this._startRedis();
    const { host } = this.options;
    dns.lookup(host, { all: true }, (err, addresses) => {
      if (err) {
        this._failListen(new WebSocketError('WS_ERR_LISTEN',
          `cannot resolve host ${JSON.stringify(host)}: ${err.code || err.message}`, { option: 'host' }));
        return;
      }
      this._bind(unique(addresses));
    });
    return this;
  }

  _bind(addresses) {
    const o = this.options;
    try {
      this._createHandle();
    } catch (err) {
      this._failListen(err);
      return;
    }
    let port = o.port;
    const reusePort = this._worker !== null; // workers share the port (SO_REUSEPORT)
    try {
      addresses.forEach((a, i) => {
        try {
          port = native.listen(this._handle, a.address, port, false, reusePort);
        } catch (err) {
          // "localhost" may name ::1 too; a free port picked on one address may be taken on the other.
          if (i === 0 || o.port !== 0) throw err;
          this.log.error(`not listening on ${a.address}: ${err.message}`);
        }
      });
      if (o.policyPort) {
        for (const a of addresses) native.listen(this._handle, a.address, o.policyPort, true, reusePort);
      }
    } catch (err) {
      native.release(this._handle);
      this._handle = null;
      this._failListen(new WebSocketError('WS_ERR_LISTEN', err.message, { syscallCode: err.code }));
      return;
    }
    const first = addresses[0];
    this._address = { address: first.address, family: first.family === 6 ? 'IPv6' : 'IPv4', port };
    // 'listening' once the metrics listener (if any) is up too: both are reachable then.
    this._startMetrics((err) => {
      if (err) {
        native.release(this._handle);
        this._handle = null;
        this._failListen(err);
        return;
      }
      this._state = 'listening';
      this._startStatus();
      this.emit('listening');
    });
  }

  _startMetrics(callback) {
    if (!this.options.metrics) {
      callback(null);
      return;
    }
    this._metrics = require('./metrics').attach(this, callback);
  }

  /**
   * Where the metrics listener is bound, or null (no metrics option, not yet
   * listening, or a worker: the primary serves them).
   * @returns {{ address: string, family: string, port: number } | null}
   */
  metricsAddress() {
    return this._metrics !== null ? this._metrics.address() : null;
  }

  _failListen(err) {
    this._state = 'closed';
    this.removeAllListeners('listening');
    this.emit('error', err);
  }

  /**
   * Sends 1001 to every client, waits for the closing handshakes (each
   * bounded by closeTimeout), then releases the port and emits 'close'.
   * @param {(err?: Error) => void} [callback]
   */
  close(callback) {
    if (callback) {
      if (this._state === 'closed') process.nextTick(callback);
      else this.once('close', callback);
    }
    if (this._metrics !== null) {
      this._metrics.close();
      this._metrics = null;
    }
    if (this._state === 'listening') {
      this._state = 'closing';
      this._closeDeadline = Date.now() + this.options.closeTimeout;
      if (this._statusTimer !== null) clearInterval(this._statusTimer);
      this._statusTimer = null;
      if (this._httpServer) this._httpServer.removeListener('upgrade', this._onHttpUpgrade);
      native.shutdown(this._handle);
    } else if (this._state === 'new') {
      this._state = 'closed';
      this._closeDeadline = Date.now() + this.options.closeTimeout;
      this._closeRedis(() => this.emit('close'));
    } else if (this._state === 'starting') {
      this.once('listening', () => this.close());
    }
    return this;
  }

  /**
   * Queues message once for every subscriber of a server-wide name.
   * @param {string} name
   * @param {string|Buffer|ArrayBufferView} message
   * @param {{ exclude?: Connection|Connection[], binary?: boolean, local?: boolean }} [options]
   *   local: only this process's subscribers, for data each process has its own of
   * @returns {number} how many subscribers of this process it was queued for
   */
  multicast(name, message, options) {
    return this._multicast(checkName(name), message, options);
  }

  /** @returns {number} how many connections of this process are subscribed to name (see subscribersEverywhere) */
  subscribers(name) {
    return this._subscribers(checkName(name));
  }

  /** @returns {{ subscribers: number, dropped: number, policy: string } | null} this process's */
  stats(name) {
    return this._stats(checkName(name));
  }

  /**
   * Subscribers of name in every process that shares this one's fan-out
   * (through Redis: on every machine), this process's included; without a
   * fan-out, the same as subscribers(name). A process that does not answer
   * within a second is left out.
   * @param {string} name
   * @returns {Promise<number>}
   */
  subscribersEverywhere(name) {
    return this._subscribersEverywhere(checkName(name));
  }

  async _subscribersEverywhere(name) {
    const here = this._subscribers(name);
    const f = this._fanout;
    if (f === null || typeof f.count !== 'function') return here;
    return here + await f.count(name);
  }

  /**
   * Sets the backpressure policy of one subscription.
   * @param {string} name
   * @param {'drop'|'close'} policy
   */
  setPolicy(name, policy) {
    this._setPolicy(checkName(name), policy);
  }

  /**
   * Keeps the last multicasts of a subscription, so clients that reconnect
   * resume without loss (README, Resume). null stops keeping them.
   * @param {string} name
   * @param {{ messages: number, bytes?: number, seconds?: number } | null} options
   */
  setHistory(name, options) {
    resume.setHistory(this, checkName(name), options);
  }

  _multicast(name, message, options) {
    if (this._handle === null) return 0;
    this._published++; // multicasts made here; the engine also counts those relayed from other processes
    if (typeof message === 'number' || typeof message === 'boolean') message = String(message);
    let exclude;
    let excludeIds;
    if (options && options.exclude) {
      const list = Array.isArray(options.exclude) ? options.exclude : [options.exclude];
      exclude = [];
      excludeIds = [];
      // A closed connection's slot may already belong to another: never exclude by a stale one.
      for (const c of list) {
        if (c instanceof Connection && c.server === this && c.readyState !== CLOSED) {
          exclude.push(c._slot);
          excludeIds.push(c.id);
        }
      }
    }
    // What the C multicast makes of it (strings text unless asked, Buffers binary), said the same way to other processes.
    const binary = typeof message !== 'string' || Boolean(options && options.binary);
    const n = native.multicast(this._handle, name, message, binary, exclude);
    // local: a source every process has its own of (a clock, a log file): no fan-out, or each subscriber gets it twice.
    if (this._fanout !== null && !(options && options.local)) this._fanout.publish(name, message, binary, excludeIds || []);
    return n;
  }

  /**
   * A multicast published by another process (a fan-out delivers it): the
   * local C multicast, excluding the local connections among excludeIds.
   * @param {string} name
   * @param {string|Buffer} message
   * @param {boolean} binary
   * @param {number[]} excludeIds
   * @returns {number} how many local subscribers it was queued for
   */
  _deliverRemote(name, message, binary, excludeIds) {
    if (this._handle === null) return 0;
    let exclude;
    if (excludeIds && excludeIds.length) {
      const w = this._worker;
      const ids = new Set(w === null ? excludeIds : excludeIds.filter((id) => (id - 1) % w.count === w.index));
      if (ids.size) { // only ids this process could have handed out: most exclusions cost nothing here
        exclude = [];
        for (const c of this._conns) if (c !== undefined && ids.has(c.id) && c.readyState !== CLOSED) exclude.push(c._slot);
      }
    }
    return native.multicast(this._handle, name, message, binary, exclude);
  }

  // ---- Redis, the fan-out to other processes, the status line ----------

  _setupRedis() {
    const { RedisClient, parseRedisUrl } = require('./redis');
    const o = this.options;
    this._redisTarget = parseRedisUrl(o.redis);
    this._redis = new RedisClient(this._redisTarget, { log: this.log });
    const key = o.logKey !== null ? o.logKey : null;
    this._logSink = redisSink(this._redis, {
      key: () => key !== null ? key : `node.websocket.${o.host}.${this._address ? this._address.port : o.port}`,
      max: o.logMax,
      queue: o.logQueue,
      onRefused: (err) => process.stderr.write(`node.websocket: Redis refused log lines: ${err.message}\n`),
    });
    if (this.options.log) this.log.addSink(this._logSink);
    this.store = new RedisStore(this._redis, `${o.redisPrefix}store:`);
  }

  _startRedis() {
    if (this._redis === null || this._redisStarted) return;
    this._redisStarted = true;
    this._redis.start();
    this.store.startHeartbeat();
    const { RedisFanout } = require('./fanout/redis');
    // Redis reaches every process on every machine: it replaces any other fan-out (two would deliver twice).
    if (this._fanout !== null && typeof this._fanout.close === 'function') this._fanout.close(() => {});
    this._fanout = new RedisFanout(this, { target: this._redisTarget, publisher: this._redis, prefix: this.options.redisPrefix, log: this.log });
  }

  _startStatus() {
    const ms = this.options.statusInterval;
    if (ms === 0 || !this.options.log || this._statusTimer !== null) return;
    this._statusTimer = setInterval(() => {
      let n = 0;
      for (const c of this._conns) if (c !== undefined && c.readyState === OPEN) n++;
      this.log.info(`${n} clients connected`);
    }, ms);
    this._statusTimer.unref();
  }

  // Stops the fan-out, then with Redis writes the queued log lines (until
  // the close deadline) and closes the Redis connection.
  _closeRedis(done) {
    const left = () => Math.max(1, this._closeDeadline - Date.now());
    const fanout = this._fanout;
    this._fanout = null;
    const fanoutClosed = () => {
      if (this._redis === null) {
        done();
        return;
      }
      if (typeof this.store.stopHeartbeat === 'function') this.store.stopHeartbeat();
      this.log.flush(left(), () => this._redis.close(left(), done));
    };
    if (fanout !== null && typeof fanout.close === 'function') fanout.close(fanoutClosed);
    else process.nextTick(fanoutClosed);
  }

  // A connection subscribed to name (newly): the fan-out watches name from
  // this process's first local subscriber on.
  _watch(conn, name) {
    if (conn._watched === undefined) conn._watched = new Set();
    conn._watched.add(name);
    if (native.subscribers(this._handle, name) === 1) this._fanout.watch(name);
  }

  _unwatch(conn, name) {
    if (conn._watched !== undefined) conn._watched.delete(name);
    if (this._fanout !== null && this._handle !== null && native.subscribers(this._handle, name) === 0) this._fanout.unwatch(name);
  }

  _subscribers(name) {
    return this._handle === null ? 0 : native.subscribers(this._handle, name);
  }

  _stats(name) {
    if (this._handle === null) return null;
    const s = native.stats(this._handle, name);
    if (s === null) return null;
    return { subscribers: s[0], dropped: s[1], policy: s[2] ? POLICY_NAMES[s[2]] : this.options.backpressurePolicy };
  }

  _setPolicy(name, policy) {
    if (!Object.prototype.hasOwnProperty.call(POLICIES, policy)) {
      throw new WebSocketError('WS_ERR_INVALID_POLICY', `a backpressure policy is 'drop' or 'close' (got ${JSON.stringify(policy)})`);
    }
    if (this._handle === null) {
      throw new WebSocketError('WS_ERR_NOT_LISTENING', 'setPolicy() needs a listening server');
    }
    native.setPolicy(this._handle, name, POLICIES[policy]);
  }

  // A valid upgrade request: find who the client is and which module serves
  // it, run the checks (the authorize option, 'upgrade-request' listeners,
  // the module's authorize(); any may answer later), then accept.
  _onUpgrade(slot, path, query, rawHeaders, address, remotePort, id, socketAddress, transport) {
    if (transport !== undefined) this._sockjsTransports.set(slot, transport); // read once by _accept
    else if (this._sockjsTransports.size !== 0) this._sockjsTransports.delete(slot); // a slot reused
    // address: text, or an IPv4 address as its 32-bit number, which is what
    // the connection keeps (see Connection); the text is made only when needed.
    const adopting = this._adopting;
    if (adopting !== null && address === '') { // a stream: the engine has no socket to ask
      address = adopting.remoteAddress || '';
      remotePort = adopting.remotePort || 0;
    }
    if (socketAddress !== undefined && !this._trusted(socketAddress)) {
      this._refuse(slot, path, socketAddress, 403, 'PROXY header from an untrusted peer');
      return;
    }
    if (this._trusted !== trustNone) {
      const text = addressText(address);
      if (this._trusted(socketAddress !== undefined ? socketAddress : text)) {
        // X-Forwarded-For when present (what nginx, HAProxy and cloud balancers append), else Forwarded:
        // reading one the proxy does not write would let the client write it.
        const which = rawHeaders.includes(X_FORWARDED_FOR) ? 'x-forwarded-for'
          : rawHeaders.includes(FORWARDED) ? 'forwarded' : null;
        if (which !== null) address = clientAddress(text, headersOf(rawHeaders), this._trusted, which);
      }
    }
    let resolved = this._loader.resolve(path);
    if (resolved.status === 404 && this.options.gateway !== null) {
      // No module serves it: a service of the gateway may.
      const raw = gatewayName(this.options.gateway, path);
      if (raw !== null) resolved = this._gatewayResolve(path, raw, rawHeaders);
    }
    if (transport === 'sockjs-probe') { // /info, iframe.html, the greeting: answered when the resource exists
      this._sockjsTransports.delete(slot);
      if (resolved.status !== undefined) native.reject(this._handle, slot, resolved.status, resolved.reason);
      else native.accept(this._handle, slot);
      return;
    }
    if (resolved.status !== undefined) {
      this._refuse(slot, path, address, resolved.status, resolved.reason);
      return;
    }
    const callback = adopting !== null ? adopting.callback : undefined;
    const secure = adopting !== null ? adopting.secure : this.options.tls !== null;
    const asking = this._events['upgrade-request'] !== undefined;
    if (!this.options.authorize && !asking && resolved.authorize === null) { // nothing to ask: no objects for it
      this._accept(slot, id, path, query, rawHeaders, address, remotePort, secure, callback, resolved);
      return;
    }
    const request = {
      slot, id, path, query, rawHeaders, remoteAddress: addressText(address), address, remotePort, callback, secure,
    };
    const checks = [];
    if (this.options.authorize) checks.push(this.options.authorize);
    if (asking) checks.push((info) => this._askListeners(info));
    if (resolved.authorize !== null) checks.push(resolved.authorize);
    const headers = headersOf(rawHeaders);
    const info = {
      path,
      query: queryOf(query),
      headers,
      cookies: parseCookies(headers.cookie),
      remoteAddress: request.remoteAddress,
      context: resolved.context,
    };
    if (resolved.gateway !== undefined) info.gateway = resolved.gateway.name;
    this._runChecks(request, resolved, info, checks, 0);
  }

  // The checks in order: each must say true; the first refusal answers.
  _runChecks(request, resolved, info, checks, i) {
    for (; i < checks.length; i++) {
      let verdict;
      try {
        verdict = checks[i](info);
      } catch (err) {
        this._authorizeFailed(request, resolved, err);
        return;
      }
      if (verdict !== null && typeof verdict === 'object' && typeof verdict.then === 'function') {
        this._await(request, resolved, verdict, (v) => {
          if (v === true) this._runChecks(request, resolved, info, checks, i + 1);
          else this._decide(request, resolved, v);
        });
        return;
      }
      if (verdict !== true) {
        this._decide(request, resolved, verdict);
        return;
      }
    }
    this._open(request, resolved);
  }

  // Decided later: the engine keeps the client waiting (bounded by
  // handshakeTimeout) and reports a close for this slot if it leaves first.
  _await(request, resolved, promise, then) {
    const { slot } = request;
    const token = {};
    this._pending.set(slot, token);
    const settle = (fn) => (value) => {
      if (this._pending.get(slot) !== token || this._handle === null) return;
      this._pending.delete(slot);
      fn(value);
    };
    promise.then(settle(then), settle((err) => this._authorizeFailed(request, resolved, err)));
  }

  _authorizeFailed(request, resolved, err) {
    if (err && Number.isInteger(err.status) && err.status >= 400 && err.status <= 599) {
      this._decide(request, resolved, err); // rejected with an answer: { status, reason }
      return;
    }
    this.log.error(`authorizing ${request.path} (module '${resolved.resource}') failed: ${err && err.stack ? err.stack : err}`,
      { remoteAddress: request.remoteAddress });
    this._refuse(request.slot, request.path, request.remoteAddress, 500, 'Authorization failed');
  }

  // 'upgrade-request' listeners answer with accept() or reject(status, reason), now or later.
  _askListeners(info) {
    return new Promise((resolve) => {
      let answered = false;
      const accept = () => { if (!answered) { answered = true; resolve(true); } };
      const reject = (status = 403, reason = 'Forbidden') => {
        if (!answered) { answered = true; resolve({ status, reason }); }
      };
      this.emit('upgrade-request', info, accept, reject);
    });
  }

  _decide(request, resolved, verdict) {
    if (verdict === true) {
      this._open(request, resolved);
    } else if (verdict && Number.isInteger(verdict.status) && verdict.status >= 400 && verdict.status <= 599) {
      this._refuse(request.slot, request.path, request.remoteAddress, verdict.status, String(verdict.reason || 'Refused'));
    } else {
      this._refuse(request.slot, request.path, request.remoteAddress, 403, 'Forbidden');
    }
  }

  _refuse(slot, path, address, status, reason) {
    this._sockjsTransports.delete(slot);
    if (this.options.log) this.log.info(`refused ${path}: ${status} ${reason}`, { remoteAddress: addressText(address) });
    native.reject(this._handle, slot, status, reason);
  }

  _open(request, resolved) {
    const r = request;
    this._accept(r.slot, r.id, r.path, r.query, r.rawHeaders, r.address, r.remotePort, r.secure, r.callback, resolved);
  }

  // The gateway's answer for a service name: a Resolved-like record with no
  // module (C relays its messages), or { status, reason }.
  _gatewayResolve(path, raw, rawHeaders) {
    const protocols = headersOf(rawHeaders)['sec-websocket-protocol'];
    const found = native.gatewayResolve(this._handle, raw, protocols);
    if (found.status !== undefined) return found;
    let context = this._gatewayContexts.get(path);
    if (context === undefined) {
      context = new AppContext(this, found.name, path, {});
      if (this._gatewayContexts.size < 10000) this._gatewayContexts.set(path, context);
    }
    return {
      resource: found.name, Module: null, protocols: null, authorize: null, context, path,
      gateway: { raw, name: found.name, protocol: found.protocol, protocols },
    };
  }

  // C connects to the service first and answers the 101 only then.
  _acceptGateway(slot, id, path, query, rawHeaders, address, remotePort, secure, callback, resolved) {
    const g = resolved.gateway;
    const result = native.gatewayAccept(this._handle, slot, g.raw, g.protocols, addressText(address), remotePort, id);
    if (result === false) return;
    if (typeof result === 'object') {
      if (this.options.log) this.log.info(`refused ${path}: ${result.status} ${result.reason}`, { remoteAddress: addressText(address) });
      return;
    }
    const protocol = g.protocol;
    const conn = new Connection(id, slot, address, remotePort, query, rawHeaders, resolved, termsOf(protocol, result, secure));
    this._conns[slot] = conn;
    if (this.options.log) this.log.info(`connected to ${path} (gateway${this.options.gateway.direct ? ', direct' : ''}${protocol ? `, protocol ${protocol}` : ''})`, conn);
    try {
      if (callback) callback(conn);
      if (this._events.connection !== undefined) this.emit('connection', conn);
    } catch (err) {
      this._handlerFailed(conn, 'connection listener', err);
    }
  }

  _accept(slot, id, path, query, rawHeaders, address, remotePort, secure, callback, resolved) {
    if (resolved.gateway !== undefined) {
      this._acceptGateway(slot, id, path, query, rawHeaders, address, remotePort, secure, callback, resolved);
      return;
    }
    const handle = this._handle;
    const protocol = resolved.protocols === null ? '' : chooseProtocol(offeredProtocols(rawHeaders), resolved.protocols);
    const transport = this._sockjsTransports.get(slot);
    if (transport !== undefined) this._sockjsTransports.delete(slot);
    const token = resume.parseToken(this, query);
    if (token !== null && token.error !== undefined) {
      this._refuse(slot, path, address, 400, token.error);
      return;
    }
    const extensions = native.accept(handle, slot, protocol || undefined);
    if (extensions === false) return;
    const conn = new Connection(id, slot, address, remotePort, query, rawHeaders, resolved, termsOf(protocol, extensions, secure));
    if (token !== null) resume.attach(this, conn, token.entries);
    if (transport !== undefined) conn.transport = transport;
    this._conns[slot] = conn;
    this._resourceOpen.set(resolved.resource, (this._resourceOpen.get(resolved.resource) || 0) + 1);
    if (this.options.log) this.log.info(`connected to ${path}${protocol ? ` (protocol ${protocol})` : ''}`, conn);
    try {
      conn._module = new resolved.Module(conn, resolved.context);
      if (callback) callback(conn);
      if (this._events.connection !== undefined) this.emit('connection', conn);
      const m = conn._module;
      if (m !== null && typeof m.onConnect === 'function') this._settled(conn, 'onConnect', m.onConnect(conn));
    } catch (err) {
      this._handlerFailed(conn, 'onConnect', err);
    }
  }

  // One call per loop iteration: every message, close and drain since the last.
  // owned: large messages, in record order, each a string or a Buffer of its own.
  _onEvents(arrayBuffer, length, owned) {
    if (arrayBuffer !== undefined) this._batch = Buffer.from(arrayBuffer);
    const b = this._batch;
    let off = 0;
    let nextOwned = 0;
    while (off < length) {
      const kind = b[off];
      const flags = b[off + 1];
      const code = b[off + 2] | (b[off + 3] << 8);
      const slot = b.readUInt32LE(off + 4);
      const len = b.readUInt32LE(off + 8);
      const start = off + 12;
      off = start + ((len + 3) & ~3);
      switch (kind) {
        case EVENT_TEXT: {
          const conn = this._conns[slot];
          const data = flags & EVENT_FLAG_OWNED ? owned?.[nextOwned++] : b.utf8Slice(start, start + len);
          if (conn !== undefined && data !== undefined) this._deliver(conn, data, false);
          break;
        }
        case EVENT_BINARY: {
          const conn = this._conns[slot];
          const data = flags & EVENT_FLAG_OWNED ? owned?.[nextOwned++] : b.subarray(start, start + len);
          if (conn !== undefined && data !== undefined) this._deliver(conn, data, true);
          break;
        }
        case EVENT_CLOSE:
          this._closed(slot, code, b.utf8Slice(start, start + len), flags);
          break;
        case EVENT_DRAIN: {
          const conn = this._conns[slot];
          if (conn !== undefined) this._emitSafely(conn, 'drain');
          break;
        }
        case EVENT_SERVER_CLOSED:
          this._finishClose();
          break;
        case EVENT_WRITE: {
          const socket = this._streams.get(slot);
          if (socket !== undefined && !socket.destroyed) socket.write(Buffer.from(b.subarray(start, start + len)));
          break;
        }
        case EVENT_END: {
          const socket = this._streams.get(slot);
          if (socket !== undefined) socket.end();
          break;
        }
        case EVENT_SHED: // once per episode, not per connection shed
          if (flags) this.log.error(`out of file descriptors (${ERRNO_NAMES.get(code) || `errno ${code}`}): new connections are closed at once until some free up`);
          else this.log.info(`accepting connections again after shedding ${slot} for want of file descriptors`);
          break;
        default:
          throw new Error(`node.websocket: unknown event kind ${kind} from the addon`);
      }
    }
  }

  _deliver(conn, data, isBinary) {
    if (conn.readyState === CLOSED) return;
    try {
      const m = conn._module;
      if (m !== null && m.onData !== undefined) this._settled(conn, 'onData', m.onData(data, conn));
      if (conn._events !== undefined && conn._events.message !== undefined) conn.emit('message', data, isBinary);
    } catch (err) {
      this._handlerFailed(conn, 'onData', err);
    }
  }

  _closed(slot, code, reason, flags) {
    const socket = this._streams.get(slot);
    if (socket !== undefined) { // the engine is done with this stream: let it finish writing, then close
      this._streams.delete(slot);
      if (socket.writableFinished || socket.destroyed) socket.destroy();
      else {
        socket.end();
        socket.once('finish', () => socket.destroy());
        setTimeout(() => socket.destroy(), this.options.closeTimeout).unref();
      }
    }
    const conn = this._conns[slot];
    if (conn === undefined) {
      this._pending.delete(slot); // the client left while authorize() was running
      this._sockjsTransports.delete(slot);
      return;
    }
    this._conns[slot] = undefined;
    conn.readyState = CLOSED;
    if (conn._watched !== undefined) { // the engine has unsubscribed it from everything
      for (const name of conn._watched) this._unwatch(conn, name);
    }
    this._resourceOpen.set(conn.resource, this._resourceOpen.get(conn.resource) - 1);
    // Clients choose their close codes: past a few distinct ones, the rest count as 'other' (bounded series).
    const key = this._closeCodes.has(code) || this._closeCodes.size < MAX_CLOSE_CODES ? code : 'other';
    this._closeCodes.set(key, (this._closeCodes.get(key) || 0) + 1);
    if (this.options.log) this.log.info(`disconnected from ${conn.path}: ${code}${reason ? ` ${reason}` : ''}`, conn);
    if ((flags & CLOSE_FLAG_ERROR) && conn.listenerCount('error') > 0) {
      const err = new WebSocketError(CLOSE_ERROR_CODES[code] || 'WS_ERR_CLOSED',
        reason || `connection closed with ${code}`, { closeCode: code });
      this._emitSafely(conn, 'error', err);
    }
    const m = conn._module;
    try {
      if (m !== null && typeof m.onDisconnect === 'function') this._settled(conn, 'onDisconnect', m.onDisconnect(conn));
    } catch (err) {
      this._handlerFailed(conn, 'onDisconnect', err);
    }
    this._emitSafely(conn, 'close', code, reason);
  }

  _emitSafely(conn, event, ...args) {
    try {
      conn.emit(event, ...args);
    } catch (err) {
      this._handlerFailed(conn, `'${event}' listener`, err);
    }
  }

  // An async handler (or one returning a promise) that rejects fails like
  // one that throws, instead of becoming an unhandled rejection of the process.
  _settled(conn, where, result) {
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      result.then(undefined, (err) => this._handlerFailed(conn, where, err, 'rejected'));
    }
  }

  // A handler threw: log it with its resource and close that connection
  // with 1011; every other connection carries on.
  _handlerFailed(conn, where, err, how = 'threw') {
    this.log.error(`module '${conn.resource}' ${where} ${how}: ${err && err.stack ? err.stack : err}`, conn);
    if (conn.readyState === OPEN) conn.close(1011, 'Internal server error');
  }

  _finishClose() {
    if (this._handle !== null) {
      native.release(this._handle);
      this._handle = null;
    }
    this._batch = null;
    this._state = 'closed';
    this._closeRedis(() => this.emit('close'));
  }
}

function unique(addresses) {
  const seen = new Set();
  return addresses.filter((a) => !seen.has(a.address) && seen.add(a.address));
}

// hixie-75 names its subprotocol WebSocket-Protocol (76 and RFC 6455: Sec-WebSocket-Protocol).
function offeredProtocols(rawHeaders) {
  const h = headersOf(rawHeaders);
  const offered = h['sec-websocket-protocol'];
  return offered === undefined && h['sec-websocket-key'] === undefined ? h['websocket-protocol'] : offered;
}

module.exports = { Server };
