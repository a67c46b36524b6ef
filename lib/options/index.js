'use strict';

// The one place Server options are defined, defaulted, validated and read
// from the command line. Everything else (runserver.js --help, the README's
// table, Server's constructor) derives from the option table (table.js),
// which gathers the sections:
//   core.js     listening, limits, timeouts, logging, backpressure
//   apps.js     named applications
//   deflate.js  permessage-deflate and its parameters
//   tls.js      wss:// certificates
//   attach.js   sharing a port, authorization, proxies
// A new section is a file beside these (OPTIONS, TYPES, optionally together
// and PARTS) and one line in table.js's SECTIONS.

const { OPTIONS, BY_NAME, TYPES } = require('./table');
const { checkOne, normalizeOptions } = require('./normalize');
const { parseLiteral } = require('./literal');
const { parseArgv } = require('./cli');
const { helpText, markdownTable } = require('./help');
const { DEFLATE_PARAMS } = require('./deflate');
const { TLS_PARAMS, loadTls } = require('./tls');
const { APP_VALUE_TYPES, isAppUrl } = require('./apps');
const { closest, describe, invalid, isPlainObject } = require('./common');

module.exports = {
  OPTIONS,
  DEFLATE_PARAMS,
  TLS_PARAMS,
  APP_VALUE_TYPES,
  normalizeOptions,
  loadTls,
  isAppUrl,
  // For lib/config.js.
  _internal: { BY_NAME, TYPES, checkOne, closest, describe, invalid, isPlainObject },
  parseLiteral,
  parseArgv,
  helpText,
  markdownTable,
};
