// Types for node.websocket's public API.
/// <reference types="node" />
import { EventEmitter } from 'events';

export const version: string;

export interface ServerOptions {
  /** TCP port; 0 picks a free one (see server.address()). Default 8080. */
  port?: number;
  /** Host name or address to listen on ('::' for all, IPv4 and IPv6). Default 'localhost'. */
  host?: string;
  /** listen() backlog. Default 511. */
  backlog?: number;
  /** Allowed Origin values: exact 'scheme://host[:port]', 'scheme://*.example.com' patterns, or '*'. Default '*'. */
  origins?: string[] | string;
  /** Folder of resource modules. Default: the package's modules/ folder. */
  modules?: string;
  /** Folder served to plain HTTP GETs, or false (then such requests get 426). Default: the demo pages in test/. */
  docroot?: string | false;
  /** Also answer Flash policy requests on this port (true means 843). Default false. */
  policyPort?: number | boolean;
  /** Connections past this many are answered 503. Default 100000. */
  maxConnections?: number;
  /** Largest message accepted, in bytes, summed over fragments; larger ones close with 1009. Default 100 MiB. */
  maxPayload?: number;
  /** Largest request head accepted, in bytes; larger ones get 431. Default 8192. */
  maxHeaderSize?: number;
  /** Milliseconds a client has to complete the opening handshake. Default 10000. */
  handshakeTimeout?: number;
  /** Milliseconds between server pings to a quiet peer; 0 turns pings off. Default 30000. */
  pingInterval?: number;
  /** A peer that sends nothing (not even a pong) for this many ms is closed with 1001; 0 = never. Default 120000. */
  idleTimeout?: number;
  /** Milliseconds to wait for the peer's close frame after sending ours before dropping TCP. Default 5000. */
  closeTimeout?: number;
  /** A send while more than this many bytes already wait for one connection closes it with 1008 (one larger message still goes to a reader that keeps up). Default 16 MiB. */
  maxBufferedAmount?: number;
  /** send() returns false, and 'drain' follows, once this many bytes are queued. Default 64 KiB. */
  highWaterMark?: number;
  /** Log connections and errors to stdout. Default true. */
  log?: boolean;
  /** Bytes queued for one subscriber past which a multicast applies backpressurePolicy to it. Default 1 MiB. */
  maxBackpressure?: number;
  /** What a multicast does to a subscriber past maxBackpressure: 'drop' the message for it (counted), or 'close' it with 1008. Default 'drop'. */
  backpressurePolicy?: 'drop' | 'close';
  /** runserver.js, on an exception or rejection no handler caught (a module's own timer): 'log' it with its stack and keep serving, or 'exit' (close gracefully, status 1) for a supervisor to restart. A Server object leaves the process's handlers to its program. Default 'log'. */
  onUncaught?: 'log' | 'exit';
  /** Also accept the pre-RFC 6455 drafts hixie-75 and hixie-76 (0x00..0xFF text framing); off: such requests get 426. Default false. */
  legacyDrafts?: boolean;
  /** Named applications (usually from --config): each URL of an app is its own instance with its own subscriber lists. */
  apps?: Record<string, AppConfig>;
  /** permessage-deflate (RFC 7692): off by default; true for the defaults. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Serve wss:// from the same engine (TLS 1.2 and 1.3, ALPN http/1.1). */
  tls?: TlsOptions | null;
  /** Do not listen: upgrades come through server.handleUpgrade() (from an http/https server's 'upgrade' event). */
  noServer?: boolean;
  /** Serve WebSockets on an existing http.Server / https.Server's port (its 'upgrade' requests). */
  server?: import('http').Server | import('https').Server | null;
  /** Decides on every upgrade request before the module's own authorize(); may return a promise (bounded by handshakeTimeout). */
  authorize?: ((info: UpgradeInfo) => AuthorizeResult | Promise<AuthorizeResult>) | null;
  /** Peers whose X-Forwarded-For / Forwarded / PROXY header is believed: true (any), or a list of addresses and CIDR ranges. Default false. */
  trustProxy?: boolean | string[];
  /** Expect a PROXY protocol v1 or v2 header before the request (from a trusted proxy). Default false. */
  proxyProtocol?: boolean;
  /** runserver.js starts this many worker processes sharing the port (SO_REUSEPORT), or one per core with 'auto'; new Server() ignores it. Default null (one process). */
  workers?: number | 'auto' | null;
  /** The gateway to UNIX-socket services (see the README's Gateway section); '--gateway=DIR' is { services: DIR }. Default null (off). */
  gateway?: GatewayOptions | null;
  /** Redis for the log, multicast across processes and machines, and shared state: 'redis://[:password@]host[:port][/db]' or 'redis+unix:///path'. Default none. */
  redis?: string | null;
  /** Redis list the log lines are RPUSHed to. Default 'node.websocket.<host>.<port>'. */
  logKey?: string | null;
  /** Keep the Redis log at this many lines (LTRIM); 0 keeps all. Default 0. */
  logMax?: number;
  /** Log lines kept while Redis is away; past this many the oldest are dropped (and counted in one line). Default 10000. */
  logQueue?: number;
  /** Milliseconds between 'N clients connected' log lines; 0 = off. Default 5000. */
  statusInterval?: number;
  /** Prefix of the Redis pub/sub channels and store keys. Default 'node.websocket:'. */
  redisPrefix?: string;
  /**
   * Prometheus metrics at http://host:port/metrics on a listener of their own: a port (host 127.0.0.1),
   * 'HOST:PORT' / '[IPV6]:PORT', { host?, port }, or false (off). Never the WebSocket port. Default false.
   */
  metrics?: number | string | { host?: string; port: number } | false;
}

export interface GatewayOptions {
  /** Directory of the services' sockets: ws://host/<prefix><name> reaches <services>/<name>. */
  services: string;
  /** Globs of names allowed. Default ['*']. */
  allow?: string[];
  /** Globs of names refused; deny wins. Default []. */
  deny?: string[];
  /** URL prefix of the gateway's names. Default '/'. */
  prefix?: string;
  /** How messages are framed on SOCK_STREAM services. Default 'ouistiti'. */
  framing?: 'ouistiti' | 'line' | 'nul' | 'length';
  /** Pass the client socket to the service after the 101 (plain TCP only). Default false. */
  direct?: boolean;
}

export interface PerMessageDeflateOptions {
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  /** 8..15; default 15. */
  serverMaxWindowBits?: number;
  /** 8..15; default 15 (used only when the client offers the parameter). */
  clientMaxWindowBits?: number;
  /** zlib memLevel 1..9; default 8. */
  memLevel?: number;
  /** zlib level 0..9; default 6 (Z_DEFAULT_COMPRESSION). */
  level?: number;
}

export interface TlsCertificate {
  /** PEM: a path or the contents. */
  cert: string | Buffer;
  key: string | Buffer;
  passphrase?: string;
}

export interface TlsOptions extends TlsCertificate {
  /** PEM CA bundle (path or contents) sent as the chain. */
  ca?: string | Buffer;
  /** 'TLSv1.2' (default) or 'TLSv1.3'. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Certificates by server name (SNI); wildcard names like '*.example.com' allowed. */
  sni?: Record<string, TlsCertificate>;
}

/** One application section of the config file. */
export interface AppConfig {
  /** URLs this application answers at; none (or empty) turns it off. */
  urls: string[];
  /** Module in the modules folder that implements it; default the app's name. */
  module?: string;
  /** Application-specific settings (refresh, files, token, ...), checked by the module's configKeys. */
  [key: string]: unknown;
}

export interface MulticastOptions {
  /** A connection, or several, that must not receive this message. */
  exclude?: Connection | Connection[];
  /** Send a string as binary (default: strings as text, Buffers as binary). */
  binary?: boolean;
  /** Only this process's subscribers: for data every process has its own of (a clock, a log file), never fanned out to other processes. */
  local?: boolean;
}

/** Shared application state (lib/store.js): in the process, or in Redis with the redis option. */
export interface Store {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  hget(key: string, field: string): Promise<string | null>;
  hset(key: string, field: string, value: string): Promise<void>;
  /** true when the field was new. */
  hsetnx(key: string, field: string, value: string): Promise<boolean>;
  /** true when the field was there. */
  hdel(key: string, field: string): Promise<boolean>;
  hgetall(key: string): Promise<Record<string, string>>;
  hlen(key: string): Promise<number>;
  /** Appends value, keeping the last max. */
  pushCapped(key: string, value: string, max: number): Promise<void>;
  /** The whole list, oldest first. */
  list(key: string): Promise<string[]>;
  /** The same store with every key prefixed. */
  scope(prefix: string): Store;
  /** This process's id. */
  readonly owner: string;
  /** Whether the process with that id still runs (its heartbeat in Redis has not expired). */
  alive(owner: string): Promise<boolean>;
}

export interface SubscriptionStats {
  subscribers: number;
  /** Messages this subscription dropped for slow subscribers. */
  dropped: number;
  policy: 'drop' | 'close';
}

/**
 * What every module instance gets as `connection.context` and as the second
 * constructor argument: the instance of the application (one per configured
 * URL; for a plain modules/<resource>.js, one per resource). Subscription
 * names used through a context are private to that instance.
 */
export interface AppContext {
  /** App name ('chat'), or the resource name for plain modules. */
  readonly name: string;
  /** The URL of this instance ('/websocket/chat'). */
  readonly url: string;
  /** The app's section of the config file ({} for plain modules). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Shared state of this instance, for the module's own use. */
  readonly state: Record<string, any>;
  readonly server: Server;
  subscribe(connection: Connection, name: string): boolean;
  unsubscribe(connection: Connection, name: string): boolean;
  multicast(name: string, message: string | Buffer | ArrayBufferView, options?: MulticastOptions): number;
  subscribers(name: string): number;
  /** Subscribers in every process sharing Redis or in every worker (see Server#subscribersEverywhere). */
  subscribersEverywhere(name: string): Promise<number>;
  stats(name: string): SubscriptionStats | null;
  setPolicy(name: string, policy: 'drop' | 'close'): void;
  /** Server#setHistory for this instance's name. */
  setHistory(name: string, history: HistoryLimits | null): void;
  /** This instance's part of the shared store (keys scoped to its URL). */
  readonly store: Store;
}

/** A subscription's history bounds (server.setHistory, apps.<app>.history): the oldest go first past any. */
export interface HistoryLimits {
  /** At most this many messages, 1 to 1,000,000. */
  messages: number;
  /** At most this many payload bytes in all; default 1 MiB. */
  bytes?: number;
  /** Messages older than this are dropped; default: no age bound. */
  seconds?: number;
}

/**
 * The resume envelope: what a connection that asked for resume (query parameter
 * `node.websocket.resume`) receives, in the frame type (text or binary) of the message.
 * A multicast: `m<seq> <name>\n<payload>` (seq 0 for a subscription without history);
 * a direct send: `d<payload>`; "missed too much": `g<seq> <name>\n` (text), seq the
 * latest. name is percent-encoded (encodeURIComponent) and without an app's scope.
 */
export type ResumeEnvelope =
  | { kind: 'm'; seq: number; subscription: string; data: string | ArrayBuffer }
  | { kind: 'd'; data: string | ArrayBuffer }
  | { kind: 'g'; seq: number; subscription: string; data: '' };

/** A frame as decodeMessage returns it. */
export interface DecodedMessage {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  /** Bytes of the input the frame took (header + payload). */
  bytesUsed: number;
}

/** Encodes one frame (as NaviServer's ws::build_msg): opcode default 1 (text) for strings, 2 for Buffers; fin default true; mask default false. */
export function buildMessage(payload: string | Buffer | ArrayBufferView, options?: { opcode?: number; fin?: boolean; mask?: boolean }): Buffer;
/** Decodes the frame at the start of buffer (unmasking it), or returns null when the buffer holds less than one frame. Throws WebSocketError WS_ERR_INVALID_FRAME for a malformed header. */
export function decodeMessage(buffer: Buffer | Uint8Array): DecodedMessage | null;

export interface AddressInfo { address: string; family: string; port: number; }

export class Server extends EventEmitter {
  constructor(options?: ServerOptions);
  readonly options: Required<ServerOptions>;
  /** Open connections. */
  readonly clients: Connection[];
  listen(callback?: () => void): this;
  /** Sends 1001 to every client, waits (bounded by closeTimeout) for the close handshakes, then releases the port. */
  close(callback?: (err?: Error) => void): this;
  address(): AddressInfo | null;
  /** Where the metrics listener is bound; null without the metrics option (or in a worker: the primary serves them). */
  metricsAddress(): AddressInfo | null;
  /**
   * Takes over an upgrade request from an http/https server ('upgrade' event): the connection then
   * runs in the C engine like a native one. callback gets the Connection once the handshake succeeded.
   */
  handleUpgrade(request: import('http').IncomingMessage, socket: import('stream').Duplex, head: Buffer,
    callback?: (connection: Connection) => void): void;
  /** Reloads the TLS certificates from their files (also done on SIGHUP by runserver.js) without dropping connections. */
  reloadTls(): void;
  /** Queues message once for every subscriber of name (server-wide names); returns how many it was queued for. The frame is built once in C and shared. */
  multicast(name: string, message: string | Buffer | ArrayBufferView, options?: MulticastOptions): number;
  /** How many connections of this process are subscribed to name. */
  subscribers(name: string): number;
  /** Subscribers of name in every process sharing this one's Redis, or in every worker of runserver.js --workers (each asked, answers within a second), this process's included; a lone process without Redis: subscribers(name). */
  subscribersEverywhere(name: string): Promise<number>;
  /** This process's subscribers, dropped count and policy. */
  stats(name: string): SubscriptionStats | null;
  /** Shared application state: in this process, or in Redis with the redis option. */
  readonly store: Store;
  /** The logger; with Redis, queued is the lines waiting for Redis and dropped those dropped past logQueue. */
  readonly log: { info(message: string | Error): void; error(message: string | Error): void; readonly queued: number; readonly dropped: number };
  /** The backpressure policy of one subscription (default: the server's backpressurePolicy). */
  setPolicy(name: string, policy: 'drop' | 'close'): void;
  /** Keeps the last multicasts of name so clients resume without loss (README, Resume); null stops keeping them. Needs a listening server. */
  setHistory(name: string, history: HistoryLimits | null): void;
  on(event: 'listening' | 'close', listener: () => void): this;
  on(event: 'connection', listener: (connection: Connection) => void): this;
  on(event: 'error', listener: (err: WebSocketError) => void): this;
  /** Every valid upgrade request, before the module's authorize(): call accept() or reject(status, reason), now or later. With no listener, requests go straight on. */
  on(event: 'upgrade-request', listener: (info: UpgradeInfo, accept: () => void, reject: (status: number, reason?: string) => void) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class Connection extends EventEmitter {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  /** Unique in the process, and across the workers of one primary (worker i of N numbers i + 1, i + 1 + N, ...). */
  readonly id: number;
  /** Resource name the module was chosen by: '_default' for '/', 'test' for '/test', 'a/b' for '/a/b'. */
  readonly resource: string;
  /** Request path without the query, as sent. */
  readonly path: string;
  readonly query: Record<string, string>;
  /** Request headers, names lower-cased; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  readonly cookies: Record<string, string>;
  readonly origin: string | undefined;
  /** Negotiated subprotocol, '' when none. */
  readonly protocol: string;
  /** Negotiated extensions as sent in the 101 response ('' when none), e.g. 'permessage-deflate; server_no_context_takeover'. */
  readonly extensions: string;
  /** True over wss:// (TLS in the engine or from an https server). */
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Bytes queued and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly server: Server;
  /** The application instance this connection belongs to. */
  readonly context: AppContext;
  /** Server-wide subscription names this connection is subscribed to. */
  readonly subscriptions: string[];
  /** Messages dropped for this connection by a multicast's backpressure policy. */
  readonly dropped: number;
  /** Subscribes to a server-wide name; true when newly subscribed. Unsubscribed from everything on close. */
  subscribe(name: string): boolean;
  unsubscribe(name: string): boolean;
  /** Text for strings, binary for Buffers and typed arrays. False means back off until 'drain'. */
  send(data: string | Buffer | ArrayBufferView | ArrayBuffer): boolean;
  /** Starts the closing handshake; the 'close' event follows when it completes or closeTimeout passes. */
  close(code?: number, reason?: string): void;
  /** Drops the TCP connection at once, without a closing handshake. */
  terminate(): void;
  ping(data?: string | Buffer): void;
  on(event: 'message', listener: (data: string | Buffer, isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: string) => void): this;
  on(event: 'drain', listener: () => void): this;
  on(event: 'error', listener: (err: WebSocketError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** Every error the library raises: `code` is stable (e.g. 'WS_ERR_INVALID_OPTION'). */
export class WebSocketError extends Error {
  readonly code: string;
  /** The option at fault, for WS_ERR_INVALID_OPTION. */
  readonly option?: string;
  /** The config key at fault (e.g. 'apps.log-view.refresh'), for WS_ERR_INVALID_OPTION. */
  readonly key?: string;
  /** The close code that was sent, when the error closed a connection. */
  readonly closeCode?: number;
}

/** What a file in modules/ exports (either style works). */
export interface UpgradeInfo {
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  cookies: Record<string, string>;
  remoteAddress: string;
  /** The app or resource the request is for. */
  context: AppContext;
}

/** What a module's static authorize() may return (or resolve to): true accepts; false or { status, reason } refuses before the upgrade. */
export type AuthorizeResult = boolean | { status: number; reason: string };

export interface ResourceModule {
  onConnect?(connection: Connection): void;
  onData?(data: string | Buffer, connection: Connection): void;
  onDisconnect?(connection: Connection): void;
}
export interface ResourceModuleConstructor {
  new (connection: Connection, context: AppContext): ResourceModule;
  /** Subprotocols this resource speaks, in order of preference. */
  protocols?: string[];
  /** Decides on an upgrade request before it is accepted; may return a promise (bounded by handshakeTimeout). */
  authorize?(info: UpgradeInfo): AuthorizeResult | Promise<AuthorizeResult>;
  /** Config keys the app accepts beside urls and module, with their types, for the config file checks. */
  configKeys?: Record<string, 'string' | 'number' | 'boolean' | 'string[]' | 'object'>;
  /** True for apps that must not be reachable unless configured (e.g. log-view). */
  requiresConfig?: boolean;
  /** Checks an app's config section as a whole; a returned string stops the start as `apps.<app>.<message>`. */
  validateConfig?(config: AppConfig): string | undefined;
}
