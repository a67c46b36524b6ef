'use strict';

/**
 * The one error type of the library. `code` is stable and machine-readable.
 */
class WebSocketError extends Error {
  /**
   * @param {string} code e.g. 'WS_ERR_INVALID_OPTION'
   * @param {string} message one line, says what and why
   * @param {object} [extra] fields copied onto the error (option, closeCode, resource)
   */
  constructor(code, message, extra) {
    super(message);
    this.name = 'WebSocketError';
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}

module.exports = { WebSocketError };
