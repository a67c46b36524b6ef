// Sends every message to every client of the server (the publisher included).
// In the core API this is a loop in JS; the pub/sub issue replaces it with a
// C multicast (one encoded frame shared by all subscribers).
var Module = this.Module = function () {};
Module.prototype.onData = function (data, connection) {
  var clients = connection.server.clients;
  for (var i = 0; i < clients.length; i++) clients[i].send(data);
};
