'use strict';

// ws://host:port/test: the demo behind test/test.html. It shows a live
// two-way exchange: every text message comes back wrapped with what the
// server adds (the time, how many clients are here), binary messages come back
// as they were, and each client gets a tick every second.
//
// Messages the server sends, all JSON text:
//   { "type": "welcome", "id": 3, "clients": 2, "at": "<ISO date>" }
//   { "type": "echo", "echo": "<your message>", "length": 19, "clients": 2, "at": "<ISO date>" }
//   { "type": "tick", "n": 7, "clients": 2, "at": "<ISO date>" }

const TICK_MS = 1000;

// Shared state lives on connection.server, as modules of node.websocket.js
// kept it: the clients of this resource, to report how many are connected.
function clientsOf(connection) {
  const server = connection.server;
  if (!server.testClients) server.testClients = new Set();
  return server.testClients;
}

function send(connection, message) {
  if (connection.readyState === 1) connection.send(JSON.stringify(message));
}

class Module {
  onConnect(connection) {
    const clients = clientsOf(connection);
    clients.add(connection);
    this.ticks = 0;
    send(connection, { type: 'welcome', id: connection.id, clients: clients.size, at: new Date().toISOString() });
    this.timer = setInterval(() => {
      send(connection, { type: 'tick', n: ++this.ticks, clients: clients.size, at: new Date().toISOString() });
    }, TICK_MS);
  }

  onData(data, connection) {
    if (typeof data !== 'string') {
      connection.send(data); // binary: back unchanged
      return;
    }
    send(connection, {
      type: 'echo',
      echo: data,
      length: data.length,
      clients: clientsOf(connection).size,
      at: new Date().toISOString(),
    });
  }

  onDisconnect(connection) {
    // Without this the interval would keep the closed connection alive forever.
    clearInterval(this.timer);
    clientsOf(connection).delete(connection);
  }
}

exports.Module = Module;
