'use strict';

// The command line of runserver.js: --name=value pairs, flags, parts of
// structured options (--deflate-threshold, --tls-cert), and --config.

const { invalid, closest, isIntegerString } = require('./common');
const { OPTIONS, TYPES, PARTS, BY_NAME, BY_CLI, PART_CLI } = require('./table');
const { checkOne, clampDefaults, checkTogether, normalizeDefaultsOnly } = require('./normalize');
const { parseLiteral } = require('./literal');
const { tlsAsWritten } = require('./tls');
const { exampleValue } = require('./help');

// Command-line values arrive as text, and quotes may come through literally
// (--port='8080' run without a shell), so a quoted '8080' is still a port.
function coerceCliValue(option, value) {
  // --host=[::1] is the URL spelling of an IPv6 address, not a list.
  if (option.type === 'host' && Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') {
    return value[0];
  }
  if (typeof value !== 'string') return value;
  const s = value.trim();
  if ((option.type === 'integer' || option.type === 'policyPort') && isIntegerString(s)) return Number(s);
  if (TYPES[option.type].flag && (s === 'true' || s === 'false')) return s === 'true';
  if ((option.type === 'docroot' || option.type === 'tls') && s === 'false') return false;
  return value;
}

function cliError(message, option) {
  return invalid(message, option);
}

function lookupCli(name) {
  const option = BY_CLI.get(name);
  if (option) {
    if (option.codeOnly) {
      throw cliError(`${option.cli} cannot be given on the command line: ${option.name} is set from code ` +
        `(new Server({ ${option.name} }))${option.name === 'authorize' ? '' : '; runserver.js always listens itself'}`, option.name);
    }
    return option;
  }
  const hint = closest(name, [...OPTIONS.filter((o) => !o.codeOnly).map((o) => o.cli.slice(2)), ...PART_CLI.keys(), 'config', 'help', 'version']);
  throw cliError(`unknown option --${name}${hint ? ` (did you mean --${hint}?)` : ''}`, name);
}

// How messages name a part of tls or perMessageDeflate set by its own flag.
function partLabel(option) {
  const params = PARTS[option.name];
  return (key) => {
    if (key === '') return option.cli;
    const p = params.find((x) => key === `.${x.key}`);
    return p && p.cli ? p.cli : `${option.name}${key}`;
  };
}

// The value of a flag like --deflate-threshold=512 or --tls-cert=cert.pem.
function partValue(param, text, flag) {
  let v;
  try {
    v = parseLiteral(text);
  } catch (err) {
    throw cliError(`invalid value for ${flag}: ${err.message}`, param.option);
  }
  if (param.type === 'integer' && typeof v === 'string' && isIntegerString(v)) return Number(v);
  if (param.type === 'boolean' && (v === 'true' || v === 'false')) return v === 'true';
  // File names and passphrases are text, whatever they look like (--tls-passphrase=1234).
  if (param.type === undefined && typeof v !== 'string') return text.trim();
  return v;
}

/**
 * Reads Server options from command-line arguments. Accepts --name=value,
 * --name value, bare --flag (true) for log, policy-port, deflate,
 * trust-proxy and proxy-protocol, --no-flag (false) for those and docroot
 * and tls, kebab-case or camelCase names, -h / --help and --version. Values are
 * JavaScript literals (see parseLiteral), except --apps, whose value is
 * JSON (--deflate and --tls take JSON objects too). The parts of
 * perMessageDeflate and tls have flags of their own (--deflate-threshold=512,
 * --tls-cert=FILE, ...). --config FILE reads options and apps from a JSON
 * file (see lib/config.js); options on the command line override it.
 * @param {string[]} argv process.argv.slice(2)
 * @returns {{ options: object, help: boolean, version?: boolean, config?: string }} options holds
 *   only the options given (in the file or on the command line), each
 *   normalized; pass it to `new Server(options)`. config is the file's
 *   absolute path when --config was given.
 * @throws {WebSocketError} code 'WS_ERR_INVALID_OPTION', message naming the option
 */
function parseArgv(argv) {
  if (argv.some((a) => a === '--help' || a === '-h')) return { options: {}, help: true };
  if (argv.some((a) => a === '--version')) return { options: {}, help: false, version: true };
  const given = {};
  let configFile;
  let cliApps; // checked last, against the modules folder finally chosen
  // Parts set by their own flags: option name -> { key: value }, and the flag used first.
  const parts = Object.fromEntries(Object.keys(PARTS).map((name) => [name, {}]));
  const partFlag = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 < argv.length) throw cliError(`unexpected argument ${JSON.stringify(argv[i + 1])}: runserver takes only --options`);
      break;
    }
    if (!arg.startsWith('--') || arg.length === 2) {
      throw cliError(`unexpected argument ${JSON.stringify(arg)}: options are written --name=value`);
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let text = eq === -1 ? undefined : arg.slice(eq + 1);
    let option;
    let raw;

    if (name === 'config') {
      if (configFile !== undefined) throw cliError('--config may be given once', 'config');
      if (text === undefined) {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--') || next === '-h') {
          throw cliError('--config needs a file, e.g. --config=server.json', 'config');
        }
        text = next;
        i++;
      }
      let file;
      try {
        file = text.trim() === '' ? '' : parseLiteral(text); // --config='x.json' spawned without a shell
      } catch (err) {
        throw cliError(`invalid value for --config: ${err.message}`, 'config');
      }
      if (typeof file !== 'string' || file === '') throw cliError('--config needs a file, e.g. --config=server.json', 'config');
      configFile = file;
      continue;
    }

    // --deflate-threshold=512, --tls-cert=FILE, --[no-]deflate-server-no-context-takeover
    const negatedPart = name.startsWith('no-') && PART_CLI.has(name.slice(3));
    if (PART_CLI.has(name) || negatedPart) {
      const { option: parent, param } = PART_CLI.get(negatedPart ? name.slice(3) : name);
      const flag = param.cli;
      let v;
      if (negatedPart) {
        if (param.type !== 'boolean') throw cliError(`${flag} cannot be negated with --${name}`, parent.name);
        if (text !== undefined) throw cliError(`--${name} takes no value`, parent.name);
        v = false;
      } else {
        if (text === undefined) {
          const next = argv[i + 1];
          const nextIsValue = next !== undefined && (!next.startsWith('--') || /^-\d/.test(next)) && next !== '-h';
          if (param.type === 'boolean') {
            if (nextIsValue && (next === 'true' || next === 'false')) { text = next; i++; }
          } else if (nextIsValue) {
            text = next;
            i++;
          } else {
            throw cliError(`${flag} needs a value, e.g. ${flag}=${param.type === 'integer' ? param.default : param.arg}`, parent.name);
          }
        }
        if (text !== undefined && text.trim() === '') {
          throw cliError(`${flag} needs a value, e.g. ${flag}=${param.type === 'integer' ? param.default : param.arg}`, parent.name);
        }
        v = text === undefined ? true : partValue(Object.assign({ option: parent.name }, param), text, flag);
      }
      if (Object.prototype.hasOwnProperty.call(parts[parent.name], param.key)) {
        throw cliError(`${flag} is given twice`, parent.name);
      }
      parts[parent.name][param.key] = v;
      if (!partFlag[parent.name]) partFlag[parent.name] = flag;
      continue;
    }

    if (name.startsWith('no-') && !BY_CLI.has(name)) {
      option = lookupCli(name.slice(3));
      if (!TYPES[option.type].negatable) throw cliError(`${option.cli} cannot be negated with --no-${name.slice(3)}`, option.name);
      if (text !== undefined) throw cliError(`--${name} takes no value`, option.name);
      raw = option.type === 'tls' ? null : false;
    } else {
      option = lookupCli(name);
      if (text === undefined) {
        const next = argv[i + 1];
        const nextIsValue = next !== undefined && (!next.startsWith('--') || /^-\d/.test(next)) && next !== '-h';
        if (TYPES[option.type].optionalValue) {
          // --trust-proxy 10.0.0.1, --deflate '{"level": 1}': any next argument that is not an option.
          if (nextIsValue) { text = next; i++; }
        } else if (TYPES[option.type].flag) {
          // A flag takes the next argument only when it is a value for it.
          const literal = nextIsValue ? coerceCliValue(option, next) : undefined;
          if (typeof literal === 'boolean' || typeof literal === 'number') { text = next; i++; }
        } else if (nextIsValue) {
          text = next;
          i++;
        } else {
          throw cliError(`${option.cli} needs a value, e.g. ${option.cli}=${exampleValue(option)}`, option.name);
        }
      }
      if (text === undefined) {
        raw = true;
      } else if (text.trim() === '') {
        throw cliError(`${option.cli} needs a value, e.g. ${option.cli}=${exampleValue(option)}`, option.name);
      } else if (option.type === 'apps') {
        cliApps = parseJsonOption(option, text);
        continue;
      } else if (TYPES[option.type].json && /^'?\s*\{/.test(text.trim())) {
        raw = parseJsonOption(option, text);
      } else if (TYPES[option.type].text) { // as written, quotes that came through literally removed
        raw = text.trim().replace(/^'(.*)'$|^"(.*)"$/, (_, a, b) => (a !== undefined ? a : b));
      } else {
        try {
          raw = parseLiteral(text);
        } catch (err) {
          throw cliError(`invalid value for ${option.cli}: ${err.message}`, option.name);
        }
      }
    }
    given[option.name] = checkOne(option, coerceCliValue(option, raw), option.cli);
  }

  let fromFile = { options: {}, apps: undefined, label: '' };
  if (configFile !== undefined) fromFile = require('../config').loadConfig(configFile);

  // Parts given by their own flags complete the option given whole (on the
  // command line, or else in the file); they turn it on when it was off.
  for (const name of Object.keys(parts)) {
    if (Object.keys(parts[name]).length === 0) continue;
    const option = BY_NAME.get(name);
    if (given[name] === false || given[name] === null) {
      throw cliError(`${partFlag[name]} cannot be combined with --no-${option.cli.slice(2)}`, name);
    }
    const base = given[name] !== undefined ? given[name] : fromFile.options[name];
    let merged;
    if (name === 'tls') {
      merged = base ? tlsAsWritten(base) : {};
      for (const [k, v] of Object.entries(parts.tls)) merged[k] = v;
    } else {
      merged = Object.assign({}, base && base !== true ? base : {}, parts[name]);
    }
    given[name] = checkOne(option, merged, partLabel(option));
  }

  // The command line overrides the file, option by option (apps as a whole).
  const options = Object.assign({}, fromFile.options, given);
  const appsOption = BY_NAME.get('apps');
  if (cliApps !== undefined) {
    options.apps = checkOne(appsOption, cliApps, appsOption.cli, { modules: options.modules });
  } else if (fromFile.apps !== undefined) {
    options.apps = checkOne(appsOption, fromFile.apps, `${fromFile.label}: apps`, { modules: options.modules });
  }
  // Rules across options, with names as they are written on the command line.
  const together = Object.assign(normalizeDefaultsOnly(), options);
  clampDefaults(together, options);
  checkTogether(together, (n) => BY_NAME.get(n).cli);
  const result = { options, help: false };
  if (configFile !== undefined) result.config = fromFile.file;
  return result;
}

// --apps takes JSON (an object cannot be written as a literal of parseLiteral).
function parseJsonOption(option, text) {
  let s = text.trim();
  // Quotes that came through literally (spawned without a shell).
  if (s.length >= 2 && s[0] === "'" && s[s.length - 1] === "'") s = s.slice(1, -1);
  try {
    return JSON.parse(s);
  } catch (err) {
    throw cliError(`invalid value for ${option.cli}: not JSON (${err.message})`, option.name);
  }
}

module.exports = { parseArgv };
