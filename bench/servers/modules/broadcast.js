'use strict';
// Sends every message to every client of the resource (the publisher
// included) with one C multicast: the frame is built once and shared by
// every subscriber's write queue.
class Module {
  constructor(connection, context) {
    context.subscribe(connection, 'all');
  }

  onData(data, connection) {
    connection.context.multicast('all', data);
  }
}

exports.Module = Module;
