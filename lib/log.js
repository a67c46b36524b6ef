'use strict';

// Logging in node.websocket.js's format:
//   [2024-05-01T12:00:00.000Z] [info] [client 127.0.0.1] connected to /test
// A logger formats each record once and hands it to its sinks. stdout is the
// sink today; Redis (RPUSH to node.websocket.<host>.<port>) will be another,
// which is why a sink gets the structured record as well as the line.

/**
 * @typedef {object} LogRecord
 * @property {Date} time
 * @property {'info'|'error'} level
 * @property {string} message
 * @property {string} [remoteAddress] present when the record is about a connection
 * @property {string} line the formatted line, without a trailing newline
 */

/**
 * @typedef {object} LogSink
 * @property {(record: LogRecord) => void} write
 * @property {() => void} [close]
 */

/**
 * A sink that writes each line, with a newline, to a stream.
 * @param {{ write(chunk: string): any }} [stream] default process.stdout
 * @returns {LogSink}
 */
function streamSink(stream = process.stdout) {
  return { write(record) { stream.write(record.line + '\n'); } };
}

// An Error logs as its stack so a module author sees where a handler threw;
// continuation lines are indented so each record still starts with '['.
function messageText(message) {
  let text;
  if (message instanceof Error) text = message.stack || `${message.name}: ${message.message}`;
  else text = String(message);
  return text.replace(/\r?\n(?![ \t])/g, '\n    ').replace(/\r\n/g, '\n');
}

/**
 * Formats one log line.
 * @param {Date} time
 * @param {'info'|'error'} level
 * @param {string} message
 * @param {string} [remoteAddress]
 * @returns {string}
 */
function formatLine(time, level, message, remoteAddress) {
  const client = remoteAddress === undefined ? '' : ` [client ${remoteAddress}]`;
  return `[${time.toISOString()}] [${level}]${client} ${message}`;
}

/**
 * Creates a logger. When disabled, info() and error() do nothing (and cost
 * nothing but the call), so the server can log unconditionally.
 * @param {object} [options]
 * @param {boolean} [options.enabled=true]
 * @param {LogSink[]} [options.sinks] where records go; default stdout only
 * @returns {{ enabled: boolean, info(message: string|Error, connection?: {remoteAddress?: string}): void,
 *   error(message: string|Error, connection?: {remoteAddress?: string}): void, close(): void }}
 */
function createLogger({ enabled = true, sinks = [streamSink()] } = {}) {
  function log(level, message, connection) {
    if (!enabled) return;
    const time = new Date();
    const text = messageText(message);
    let remoteAddress;
    if (connection) remoteAddress = connection.remoteAddress ? String(connection.remoteAddress) : 'unknown';
    const record = { time, level, message: text, remoteAddress, line: formatLine(time, level, text, remoteAddress) };
    for (const sink of sinks) {
      try {
        sink.write(record);
      } catch (_) {
        // A failing sink (a closed stdout pipe) must not take the server down.
      }
    }
  }
  return {
    enabled,
    info(message, connection) { log('info', message, connection); },
    error(message, connection) { log('error', message, connection); },
    close() {
      for (const sink of sinks) if (typeof sink.close === 'function') sink.close();
    },
  };
}

module.exports = { createLogger, streamSink, formatLine };
