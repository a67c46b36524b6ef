'use strict';
// Sends every message to every client of the resource (the publisher
// included) with one C multicast: the frame is built once and shared by
// every subscriber's write queue. Binary says so explicitly: with --redis
// the fan-out to other processes takes the kind from `binary` alone and
// would deliver a Buffer there as text.
const BINARY = { binary: true };

class Module {
  constructor(connection, context) {
    context.subscribe(connection, 'all');
  }

  onData(data, connection) {
    connection.context.multicast('all', data, typeof data === 'string' ? undefined : BINARY);
  }
}

exports.Module = Module;
