// Types of lib/client/client.js, the browser client (README, Resume).
export interface NodeWebSocketOptions {
  protocols?: string | string[];
  /** First reconnect delay bound in ms (default 250); doubles per failed attempt, full jitter. */
  minDelay?: number;
  /** Largest reconnect delay bound in ms (default 30000). */
  maxDelay?: number;
  /** The transport seam: makes a WebSocket-like object (default: new WebSocket(url, protocols), binaryType 'arraybuffer'). */
  transport?: (url: string, protocols?: string | string[]) => WebSocket;
}
export interface NodeWebSocketMessageEvent {
  type: 'message';
  /** The payload, envelope removed. */
  data: string | ArrayBuffer;
  /** The subscription of a multicast; undefined for a direct send. */
  subscription?: string;
  seq?: number;
}
/** seq: where the subscription goes on from; null when the server refused the handshake twice while it named it (it keeps no history for it any more). */
export interface NodeWebSocketGapEvent { type: 'gap'; subscription: string; seq: number | null }
declare class NodeWebSocket {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  constructor(url: string, options?: NodeWebSocketOptions);
  readonly url: string;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly protocol: string;
  readonly bufferedAmount: number;
  onopen: ((e: { type: 'open'; reconnect: boolean }) => void) | null;
  onmessage: ((e: NodeWebSocketMessageEvent) => void) | null;
  /** The server could not replay everything missed on subscription: reload its state. */
  ongap: ((e: NodeWebSocketGapEvent) => void) | null;
  /** The connection dropped; a reconnect is scheduled. */
  ondisconnect: ((e: { type: 'disconnect'; code: number; reason: string }) => void) | null;
  onclose: ((e: { type: 'close'; code: number; reason: string; wasClean: boolean }) => void) | null;
  onerror: ((e: { type: 'error' }) => void) | null;
  addEventListener(type: 'open' | 'message' | 'gap' | 'disconnect' | 'close' | 'error', listener: (e: any) => void): void;
  removeEventListener(type: string, listener: (e: any) => void): void;
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  /** Ends it for good: no reconnect. */
  close(code?: number, reason?: string): void;
  /** The token the next reconnect sends: encodeURIComponent(name) + ':' + seq, joined by ','. */
  resumeToken(): string;
}
export = NodeWebSocket;
