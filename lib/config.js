'use strict';

// The --config file of runserver.js: Server options and named applications
// in one JSON file. Two shapes are accepted, and may be mixed:
//
//   { "server": { "port": 8080, "host": "::" },       // Server options
//     "apps":   { "chat": { "urls": ["/chat"] } } }   // applications
//
//   { "port": 8080, "apps": { ... } }                 // NaviServer-like: options beside "apps"
//
// Every key is checked: an unknown one, or a value of the wrong type, stops
// the start with a message naming the file and the key. Relative paths of
// the modules and docroot options are relative to the file's folder, so a
// config file means the same wherever the server is started from.

const fs = require('fs');
const path = require('path');
const { _internal: { BY_NAME, TYPES, checkOne, closest, invalid, isPlainObject } } = require('./options');

const MAX_CONFIG_BYTES = 1024 * 1024; // a config file is small; anything bigger is a mistake

/**
 * Reads and checks a config file.
 * @param {string} file path of the JSON file
 * @returns {{ options: object, apps: object|undefined, file: string, label: string }}
 *   options: the Server options it sets, each normalized (apps excluded);
 *   apps: the "apps" section as written, to be checked by options.js against
 *   the modules folder finally chosen; label: how messages name the file
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION', message naming the file and the key
 */
function loadConfig(file) {
  const abs = path.resolve(file);
  const label = file;
  let text;
  try {
    const stat = fs.statSync(abs);
    if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOTFILE' });
    if (stat.size > MAX_CONFIG_BYTES) throw Object.assign(new Error(`larger than ${MAX_CONFIG_BYTES} bytes`), { code: 'EFBIG' });
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    const why = err.code === 'ENOENT' ? 'no such file' : err.message;
    throw invalid(`cannot read config file ${file}: ${why}`, 'config');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM some editors add
  let data;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw invalid(`${label}: not valid JSON: ${err.message}${where(text, err.message)}`, 'config');
  }
  const { options, apps } = parseConfig(data, { dir: path.dirname(abs), label });
  return { options, apps, file: abs, label };
}

/**
 * Checks the parsed contents of a config file.
 * @param {*} data
 * @param {{ dir: string, label: string }} how dir: relative paths are resolved
 *   against it; label: how to name the file in messages
 * @returns {{ options: object, apps: object|undefined }}
 */
function parseConfig(data, { dir, label }) {
  if (!isPlainObject(data)) {
    throw invalid(`${label}: must hold a JSON object like { "server": { "port": 8080 }, "apps": { "chat": { "urls": ["/chat"] } } }`,
      'config');
  }
  const options = {};
  const from = {}; // option -> where it was set, to refuse it twice
  let apps;

  const set = (name, value, keyPath) => {
    if (from[name] !== undefined) {
      throw invalid(`${label}: ${keyPath} is given twice (also as ${from[name]})`, name, { key: keyPath });
    }
    from[name] = keyPath;
    const option = BY_NAME.get(name);
    // As on the command line: these need code, and runserver.js always listens itself.
    if (option.codeOnly) {
      throw invalid(`${label}: ${keyPath} cannot be set in a config file: ${name} is set from code ` +
        `(new Server({ ${name} }))${name === 'authorize' ? '' : '; runserver.js always listens itself'}`, name, { key: keyPath });
    }
    let v = value;
    // Relative paths are relative to the file's folder.
    const type = TYPES[option.type];
    if (type.path && typeof v === 'string' && v !== '') v = path.resolve(dir, v);
    if (type.pathsFrom) v = type.pathsFrom(v, dir);
    options[name] = checkOne(option, v, `${label}: ${keyPath}`);
  };

  const unknown = (keyPath, name, candidates) => {
    const hint = closest(name, candidates);
    return invalid(`${label}: unknown key ${JSON.stringify(keyPath)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ''}`,
      name, { key: keyPath });
  };

  const optionNames = [...BY_NAME.keys()].filter((n) => n !== 'apps');
  for (const key of Object.keys(data)) {
    const value = data[key];
    if (key === 'apps') {
      apps = value;
    } else if (key === 'server') {
      if (!isPlainObject(value)) {
        throw invalid(`${label}: server must be an object of Server options, like { "port": 8080 }`, 'server', { key: 'server' });
      }
      for (const name of Object.keys(value)) {
        if (name === 'apps') {
          throw invalid(`${label}: server.apps: put "apps" at the top level of the file, beside "server"`, 'apps', { key: 'server.apps' });
        }
        if (!BY_NAME.has(name)) throw unknown(`server.${name}`, name, optionNames);
        set(name, value[name], `server.${name}`);
      }
    } else if (BY_NAME.has(key)) {
      set(key, value, key);
    } else {
      throw unknown(key, key, ['server', 'apps', ...optionNames]);
    }
  }
  return { options, apps };
}

// " (line 3, column 14)" from a JSON.parse message that gives a position.
function where(text, message) {
  const m = /position (\d+)/.exec(message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return ` (line ${line}, column ${column})`;
}

module.exports = { loadConfig, parseConfig };
