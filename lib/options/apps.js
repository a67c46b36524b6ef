'use strict';

// Named applications (the "apps" option, usually from the --config file).

const fs = require('fs');
const path = require('path');
const { Problem, describe, closest, isPlainObject } = require('./common');
const core = require('./core');
// The names of apps and their modules, and their URLs, follow the rules of
// resource names: the loader's, so the two can never disagree.
const { isSegment, resourceName } = require('../loader');
const { checkHistory } = require('../resume');

const DEFAULT_MODULES = core.OPTIONS.find((o) => o.name === 'modules').default;

const OPTIONS = [
  { name: 'apps', type: 'apps', default: {}, shown: '{} (none)', arg: 'JSON',
    doc: 'Named applications, each URL its own instance: { "name": { "urls": ["/path", ...], "module"?: "file", "history"?: { "<subscription>": { "messages": n, "bytes"?: n, "seconds"?: n } }, ...settings } }; usually set in the --config file.' },
];

/** The types a module may declare in configKeys, and how each is checked. */
const APP_VALUE_TYPES = {
  string: { test: (v) => typeof v === 'string', says: 'a string' },
  number: { test: (v) => typeof v === 'number' && Number.isFinite(v), says: 'a number' },
  boolean: { test: (v) => typeof v === 'boolean', says: 'true or false' },
  'string[]': { test: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), says: 'an array of strings' },
  object: { test: isPlainObject, says: 'an object' },
};

/**
 * Whether a string is an app URL: '/' or a path of one or more valid segments.
 * @param {string} url
 */
function isAppUrl(url) {
  return typeof url === 'string' && resourceName(url) !== null;
}

/**
 * Loads an app's module (the server would load it anyway) to read what it
 * declares: configKeys (checked here) and an optional validateConfig hook.
 */
function appModule(name, moduleName, explicit, modulesDir) {
  const file = path.join(modulesDir, ...moduleName.split('/')) + '.js';
  let stat = null;
  try { stat = fs.statSync(file); } catch (_) { /* reported below */ }
  if (!stat || !stat.isFile()) {
    if (!explicit) {
      throw new Problem(`has no module: ${file} does not exist (set "module" to the module that implements it)`,
        { key: `.${name}`, showsValue: true });
    }
    throw new Problem(`must name a module of the modules folder, but ${file} does not exist`,
      { key: `.${name}.module`, value: moduleName });
  }
  let exported;
  try {
    exported = require(file);
  } catch (err) {
    throw new Problem(`names ${file}, which failed to load: ${err && err.message ? err.message : err}`,
      { key: `.${name}.module`, showsValue: true });
  }
  const Module = exported && exported.Module;
  const pick = (key) => (Module && Module[key] !== undefined ? Module[key] : exported && exported[key]);
  const configKeys = pick('configKeys') || {};
  const validate = pick('validateConfig');
  return { file, configKeys, validate: typeof validate === 'function' ? validate : null };
}

/** An app's history setting: subscription names (as its module uses them) to server.setHistory's limits. */
function checkAppHistory(app, value) {
  if (!isPlainObject(value)) {
    throw new Problem('must map subscription names to { "messages": n, "bytes"?: n, "seconds"?: n }',
      { key: `.${app}.history`, value });
  }
  const out = {};
  for (const sub of Object.keys(value)) {
    if (sub === '' || sub.includes('\0') || sub === '__proto__') {
      throw new Problem(`has an invalid subscription name ${describe(sub)}`, { key: `.${app}.history`, showsValue: true });
    }
    try {
      out[sub] = checkHistory(value[sub]);
    } catch (err) {
      throw new Problem(err.message, { key: `.${app}.history.${sub}`, value: value[sub] });
    }
    if (out[sub] === null) throw new Problem('must be { "messages": n, ... }', { key: `.${app}.history.${sub}`, value: null });
  }
  return out;
}

/**
 * Checks the apps option and normalizes it to
 * { [app]: { module, urls, ...settings } }, leaving out apps without URLs
 * (they are off). Every app is checked, on or off, so a typo is found
 * before the day the app is turned on.
 * @param {object} option the OPTIONS entry
 * @param {*} value
 * @param {{ modules?: string }} [context] the normalized modules folder
 */
function checkApps(option, value, context) {
  if (!isPlainObject(value)) {
    throw new Problem('must be an object mapping application names to sections like { "urls": ["/path"] }');
  }
  const modulesDir = (context && context.modules) || DEFAULT_MODULES;
  const out = {};
  const urlOwner = new Map();
  for (const name of Object.keys(value)) {
    const section = value[name];
    if (!isSegment(name) || name === '__proto__') { // '__proto__' would set out's prototype, not a key
      throw new Problem(`has an invalid application name ${describe(name)}: use letters, digits, '_', '-' and '.'`,
        { showsValue: true });
    }
    if (!isPlainObject(section)) {
      throw new Problem('must be an object like { "urls": ["/path"] }', { key: `.${name}`, value: section });
    }
    let urls = section.urls === undefined || section.urls === null ? [] : section.urls;
    if (!Array.isArray(urls)) {
      throw new Problem('must be an array of URL paths like ["/chat"]', { key: `.${name}.urls`, value: urls });
    }
    urls = urls.slice();
    for (const url of urls) {
      if (!isAppUrl(url)) {
        throw new Problem(`must contain paths made of '/' and segments of [A-Za-z0-9_.-] (not '.' or '..'), ` +
          `but ${describe(url)} is not one`, { key: `.${name}.urls`, showsValue: true });
      }
      if (urlOwner.has(url)) {
        const other = urlOwner.get(url);
        throw new Problem(`lists ${url}, which ${other === name ? 'it lists twice' : `application "${other}" also uses`}: ` +
          'each URL belongs to one application', { key: `.${name}.urls`, showsValue: true });
      }
      urlOwner.set(url, name);
    }
    const moduleName = section.module === undefined ? name : section.module;
    if (typeof moduleName !== 'string' || moduleName === '' || !moduleName.split('/').every(isSegment)) {
      throw new Problem('must be the name of a module of the modules folder, like "chat" for chat.js',
        { key: `.${name}.module`, value: moduleName });
    }
    const mod = appModule(name, moduleName, section.module !== undefined, modulesDir);
    const settings = {};
    for (const key of Object.keys(section)) {
      if (key === 'urls' || key === 'module') continue;
      if (key === 'history') { // the engine's, not the module's: { "<subscription>": { messages, bytes, seconds } }
        settings.history = checkAppHistory(name, section.history);
        continue;
      }
      const type = Object.prototype.hasOwnProperty.call(mod.configKeys, key) ? mod.configKeys[key] : undefined;
      if (type === undefined) {
        const known = ['urls', 'module', 'history', ...Object.keys(mod.configKeys)];
        const hint = closest(key, known);
        throw new Problem(`is not a setting of this application (module ${moduleName}.js accepts ${known.join(', ')})` +
          `${hint ? `; did you mean ${hint}?` : ''}`, { key: `.${name}.${key}`, showsValue: true });
      }
      const check = APP_VALUE_TYPES[type];
      if (!check) {
        throw new Problem(`cannot be checked: module ${moduleName}.js declares its type as ${describe(type)}, ` +
          `not one of ${Object.keys(APP_VALUE_TYPES).join(', ')}`, { key: `.${name}.${key}`, showsValue: true });
      }
      if (!check.test(section[key])) {
        throw new Problem(`must be ${check.says}`, { key: `.${name}.${key}`, value: section[key] });
      }
      // A copy: the server's view of its config must not change under it.
      settings[key] = structuredClone(section[key]);
    }
    if (mod.validate) {
      // The module's own deeper checks; it returns what is wrong, e.g.
      // 'files["a.log"] must be a path'.
      const problem = mod.validate(Object.assign({ urls: urls.slice(), module: moduleName }, settings));
      if (typeof problem === 'string' && problem !== '') {
        throw new Problem(problem, { key: `.${name}.`, showsValue: true });
      }
    }
    if (urls.length > 0) out[name] = Object.assign({ module: moduleName, urls }, settings);
  }
  return out;
}

// ---------------------------------------------------------------------------

const TYPES = { apps: { check: checkApps, json: true } };

module.exports = { OPTIONS, TYPES, APP_VALUE_TYPES, isAppUrl };
