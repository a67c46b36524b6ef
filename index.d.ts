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
  /** Bytes queued for one connection past which it is closed with 1008. Default 16 MiB. */
  maxBufferedAmount?: number;
  /** send() returns false, and 'drain' follows, once this many bytes are queued. Default 64 KiB. */
  highWaterMark?: number;
  /** Log connections and errors to stdout. Default true. */
  log?: boolean;
}

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
  on(event: 'listening' | 'close', listener: () => void): this;
  on(event: 'connection', listener: (connection: Connection) => void): this;
  on(event: 'error', listener: (err: WebSocketError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class Connection extends EventEmitter {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
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
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Bytes queued and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly server: Server;
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
  /** The close code that was sent, when the error closed a connection. */
  readonly closeCode?: number;
}

/** What a file in modules/ exports (either style works). */
export interface ResourceModule {
  onConnect?(connection: Connection): void;
  onData?(data: string | Buffer, connection: Connection): void;
  onDisconnect?(connection: Connection): void;
}
export interface ResourceModuleConstructor {
  new (connection: Connection): ResourceModule;
  /** Subprotocols this resource speaks, in order of preference. */
  protocols?: string[];
}
