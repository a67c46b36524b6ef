'use strict';

// ws://host:port/chat (or any URL the config file gives the "chat" app):
// the chat of NaviServer's websocket module. Everything a member sends goes
// to every other member of the same room as "<address>: <message>"; the
// sender does not get its own message back, as in NaviServer. A room is an
// application instance: each configured URL is its own room, so two chats
// never see each other.
//
// The fan-out is one multicast: C encodes the frame once and shares it
// across every member's write queue (no loop over members in JS).

const ROOM = 'chat';

class Module {
  /**
   * @param {import('..').Connection} connection
   * @param {import('..').AppContext} context this room
   */
  constructor(connection, context) {
    this.context = context || connection.context;
  }

  onConnect(connection) {
    this.context.subscribe(connection, ROOM);
  }

  onData(data, connection) {
    // Binary frames have no text to show; the page only sends text.
    if (typeof data !== 'string') return;
    this.context.multicast(ROOM, `${displayAddress(connection.remoteAddress)}: ${data}`, { exclude: connection });
  }

  // No onDisconnect: the server unsubscribes a closed connection from everything.
}

/** '::ffff:10.0.0.7' (an IPv4 client of a server listening on '::') reads better as '10.0.0.7'. */
function displayAddress(address) {
  return typeof address === 'string' && address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

exports.Module = Module;
