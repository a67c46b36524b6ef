'use strict';

// ws://host:port/time: the clock of node.websocket.js. After the client
// sends "start", it gets {"time": "<ISO date>"} at once and then every
// second, until it sends "stop" or disconnects.
//
// One timer per application instance, not per connection: every started
// client is a subscriber of "time", and each tick is one multicast (built
// once in C). The timer runs only while someone is subscribed.

const TICK_MS = 1000;
const TOPIC = 'time';

const message = () => JSON.stringify({ time: new Date().toISOString() });

class Module {
  /**
   * @param {import('..').Connection} connection
   * @param {import('..').AppContext} context
   */
  constructor(connection, context) {
    this.context = context || connection.context;
  }

  onData(data, connection) {
    const command = typeof data === 'string' ? data.trim() : '';
    if (command === 'start') {
      if (this.context.subscribe(connection, TOPIC)) connection.send(message());
      this.update();
    } else if (command === 'stop') {
      this.context.unsubscribe(connection, TOPIC);
      this.update();
    } else {
      connection.send(JSON.stringify({ error: 'send "start" or "stop"' }));
    }
  }

  onDisconnect(connection) {
    this.context.unsubscribe(connection, TOPIC);
    this.update();
  }

  /** Starts the instance's timer when someone listens, stops it when no one does. */
  update() {
    const state = this.context.state;
    const wanted = this.context.subscribers(TOPIC) > 0;
    if (wanted && !state.timer) {
      const context = this.context;
      // local: every process ticks for its own subscribers (with Redis or workers too).
      state.timer = setInterval(() => context.multicast(TOPIC, message(), { local: true }), TICK_MS);
    } else if (!wanted && state.timer) {
      clearInterval(state.timer);
      state.timer = null;
    }
  }
}

exports.Module = Module;
