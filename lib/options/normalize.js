'use strict';

// Checking options: one value (checkOne), a whole options object
// (normalizeOptions), and the rules across options of every section.

const { describe, invalid, closest, Problem } = require('./common');
const { SECTIONS, OPTIONS, TYPES, BY_NAME } = require('./table');

/**
 * Checks one option's value and returns it normalized.
 * @param {object} option an entry of OPTIONS
 * @param {*} value
 * @param {string|((key: string) => string)} label how to name the option in a
 *   message ('option port' or '--port'); a function gets the part at fault
 *   ('.cert', or '' for the whole option) and names both
 */
function checkOne(option, value, label, context) {
  try {
    return TYPES[option.type].check(option, value, context);
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    const shown = err.hasValue ? err.value : value;
    // '.chat.' + 'files ...' (from a module's validateConfig) reads 'apps.chat.files ...'.
    const sep = err.key.endsWith('.') ? '' : err.colon ? ': ' : ' ';
    const name = typeof label === 'function' ? label(err.key) : `${label}${err.key}`;
    throw invalid(`${name}${sep}${err.message}${err.showsValue ? '' : ` (received ${describe(shown)})`}`,
      option.name, err.key ? { key: `${option.name}${err.key.replace(/\.$/, '')}` } : undefined);
  }
}

// Defaults that follow other options the user set.
function clampDefaults(opts, given) {
  for (const s of SECTIONS) if (s.clampDefaults) s.clampDefaults(opts, given);
}

// Rules that involve more than one option, section by section.
function checkTogether(opts, label) {
  for (const s of SECTIONS) if (s.together) s.together(opts, label);
}

/**
 * Returns a new plain object holding every option, defaulted and normalized:
 * origins is an array of strings (['*'] for all), modules and docroot are
 * absolute paths (docroot may be false), policyPort is a port number (0 = off).
 * Normalizing normalized options gives the same options back.
 * @param {object} [userOptions] as passed to `new Server(options)`; undefined values count as absent
 * @returns {object}
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION', `option` set to the option at fault
 */
function normalizeOptions(userOptions) {
  if (userOptions === undefined || userOptions === null) userOptions = {};
  if (typeof userOptions !== 'object' || Array.isArray(userOptions)) {
    throw invalid(`options must be an object (received ${describe(userOptions)})`, undefined);
  }
  for (const name of Object.keys(userOptions)) {
    if (!BY_NAME.has(name)) {
      const hint = closest(name, [...BY_NAME.keys()]);
      throw invalid(`unknown option ${JSON.stringify(name)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`, name);
    }
  }
  const out = {};
  // In OPTIONS order, so apps (last) is checked against the modules folder chosen.
  for (const option of OPTIONS) {
    const given = userOptions[option.name];
    out[option.name] = checkOne(option, given === undefined ? option.default : given, `option ${option.name}`, out);
  }
  clampDefaults(out, userOptions);
  checkTogether(out, (name) => `option ${name}`);
  return out;
}

// Defaults, normalized without touching the file system twice per call.
let cachedDefaults;
function normalizeDefaultsOnly() {
  if (!cachedDefaults) {
    cachedDefaults = {};
    for (const o of OPTIONS) {
      cachedDefaults[o.name] = TYPES[o.type].path ? o.default : TYPES[o.type].check(o, o.default);
    }
  }
  return Object.assign({}, cachedDefaults);
}

module.exports = { checkOne, clampDefaults, checkTogether, normalizeOptions, normalizeDefaultsOnly, Problem };
