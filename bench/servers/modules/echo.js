// Echoes every message back to its sender, text as text and binary as binary.
var Module = this.Module = function () {};
Module.prototype.onData = function (data, connection) {
  connection.send(data);
};
