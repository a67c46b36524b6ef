'use strict';

// Workers on one port (lib/workers.js): runserver.js with --workers becomes
// a primary that starts that many worker processes sharing the port.

const { Problem, isIntegerString, invalid } = require('./common');

const MAX_WORKERS = 1024;

const OPTIONS = [
  { name: 'workers', type: 'workers', default: null, shown: 'off (one process)', arg: "N|'auto'",
    doc: "runserver.js starts N worker processes sharing the port (SO_REUSEPORT), or one per core with 'auto'; " +
      'new Server() ignores it (each worker is one Server).' },
];

// 'auto' stays 'auto' here (one per core is counted where the workers start);
// a number of workers is 1 or more: 0 would serve nobody.
function checkWorkers(option, value) {
  if (value === null || value === undefined || value === false) return null;
  if (typeof value === 'string' && value.trim().toLowerCase() === 'auto') return 'auto';
  const n = isIntegerString(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw new Problem(`must be a number of worker processes from 1 to ${MAX_WORKERS}, or 'auto' (one per core)`);
  }
  return n;
}

// Rules with other options: workers each listen on the port themselves.
function together(opts, label) {
  if (opts.workers === null) return;
  const attached = opts.noServer ? 'noServer' : opts.server !== null ? 'server' : null;
  if (attached) throw invalid(`${label('workers')} needs the engine's own listener, not ${label(attached)}`, 'workers');
}

const TYPES = {
  workers: { check: checkWorkers },
};

module.exports = { OPTIONS, TYPES, together, MAX_WORKERS };
