'use strict';

// The resource for "/": echoes every message back as it came (text as text,
// binary as binary). The conformance suite runs against it.
class Module {
  onData(data, connection) {
    connection.send(data);
  }
}

exports.Module = Module;
