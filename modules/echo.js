// ws://host:port/echo: sends every message back as it came, text as text and
// binary as binary. Written in node.websocket.js's original module style,
// which keeps working unchanged.

var Module = this.Module = function () {};

Module.prototype.onData = function (data, connection) {
  connection.send(data);
};
