'use strict';

// The option table: one entry per Server option, gathered from the sections
// in the order help, the README and normalization use. Each section file
// exports OPTIONS (its entries), TYPES (how its types are checked and read
// from the command line), and optionally together(opts, label) (rules across
// options), clampDefaults(opts, given) and PARTS (options whose parts have
// flags of their own). A new section is one file and one line below.
//
// An entry:
//  name     camelCase, as in `new Server({ name })`
//  cli      kebab-case command-line form (the camelCase form is accepted too)
//  type     how values are checked: a key of TYPES
//  default  the value used when the option is absent
//  shown    how the default is written in help and README when it is not a literal
//  arg      the value placeholder in --help
//  doc      one line
//  min/max  range for integer types
//  codeOnly set from code only (new Server({ ... })), refused on the command line
//
// A type: { check(option, value, context), flag (may stand alone: --log),
// negatable (--no-log), json (takes a JSON object on the command line),
// optionalValue (takes the next argument only when it is not an option),
// path (a file-system path, resolved against the --config file's folder),
// text (the command-line value is taken as written, not as a literal) }.

const { kebab } = require('./common');

const SECTIONS = [
  require('./core'),
  require('./apps'),
  require('./deflate'),
  require('./tls'),
  require('./attach'),
  require('./workers'),
  require('./redis'),
  require('./gateway'),
  require('./metrics'),
  require('./sockjs'),
];

const OPTIONS = SECTIONS.flatMap((s) => s.OPTIONS);
const TYPES = Object.assign({}, ...SECTIONS.map((s) => s.TYPES));
const PARTS = Object.assign({}, ...SECTIONS.map((s) => s.PARTS || {}));

for (const option of OPTIONS) {
  if (!option.cli) option.cli = '--' + kebab(option.name);
  if (!TYPES[option.type]) throw new Error(`option ${option.name}: no section defines type ${option.type}`);
}

const BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));
const BY_CLI = new Map();
for (const o of OPTIONS) {
  BY_CLI.set(o.cli.slice(2), o);
  BY_CLI.set(o.name, o);
  for (const alias of o.aliases || []) BY_CLI.set(alias, o);
}
// --deflate-threshold=N and the like: one part of a structured option.
const PART_CLI = new Map();
for (const [name, params] of Object.entries(PARTS)) {
  for (const p of params) if (p.cli) PART_CLI.set(p.cli.slice(2), { option: BY_NAME.get(name), param: p });
}

module.exports = { SECTIONS, OPTIONS, TYPES, PARTS, BY_NAME, BY_CLI, PART_CLI };
