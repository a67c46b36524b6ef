'use strict';

// Redis: the connection (redis://[:password@]host[:port][/db] or
// redis+unix:///path), the Redis log (RPUSH to logKey, trimmed to logMax,
// logQueue lines kept while Redis is away), the periodic status line, and
// the prefix of the pub/sub channels and store keys shared with other
// processes and machines.

const { MAX_INT32, MAX_SAFE, Problem } = require('./common');

const OPTIONS = [
  { name: 'redis', type: 'redisUrl', default: null, shown: 'none', arg: 'URL',
    doc: "Redis server for the log, multicast across processes and machines, and shared state: 'redis://[:password@]host[:port][/db]' or 'redis+unix:///path/to/redis.sock'." },
  { name: 'logKey', type: 'redisKey', default: null, shown: 'node.websocket.<host>.<port>', arg: 'KEY',
    doc: 'Redis list every log line is RPUSHed to (with redis).' },
  { name: 'logMax', type: 'integer', default: 0, min: 0, max: MAX_SAFE, arg: 'N',
    doc: 'Keep the Redis log list at this many lines (LTRIM); 0 keeps every line.' },
  { name: 'logQueue', type: 'integer', default: 10000, min: 1, max: MAX_INT32, arg: 'N',
    doc: 'Log lines kept while Redis is away, written in order when it returns; past this many the oldest are dropped, and one line says how many.' },
  { name: 'statusInterval', type: 'integer', default: 5000, min: 0, max: MAX_INT32, arg: 'MS',
    doc: "Milliseconds between the 'N clients connected' log lines; 0 turns them off." },
  { name: 'redisPrefix', type: 'redisKey', default: 'node.websocket:', shown: "'node.websocket:'", arg: 'TEXT',
    doc: 'Prefix of the Redis pub/sub channels (one per subscription name) and store keys this server shares.' },
];

function checkRedisUrl(option, value) {
  if (value === null || value === false || value === '') return null;
  const { parseRedisUrl } = require('../redis');
  try {
    parseRedisUrl(typeof value === 'string' ? value.trim() : value);
  } catch (err) {
    throw new Problem(err.message, { showsValue: true });
  }
  let missing = null;
  try {
    missing = require('../redis').redisMissing();
  } catch (_) {
    // The addon is not built yet: the server says so when it starts.
  }
  if (missing) throw new Problem(`cannot be used: ${missing}`, { colon: false, showsValue: true });
  return value.trim();
}

function checkRedisKey(option, value) {
  if (value === null && option.default === null) return null;
  if (typeof value !== 'string' || value === '' || value.length > 1024) {
    throw new Problem('must be a non-empty string of at most 1024 characters');
  }
  return value;
}

const TYPES = {
  redisUrl: { check: checkRedisUrl },
  redisKey: { check: checkRedisKey },
};

module.exports = { OPTIONS, TYPES };
