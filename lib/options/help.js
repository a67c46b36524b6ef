'use strict';

// What people read about the options: runserver.js --help and the README's table.

const { OPTIONS, PARTS } = require('./table');

function exampleValue(option) {
  switch (option.type) {
    case 'integer': return String(option.default);
    case 'origins': return "['http://example.com']";
    case 'host': return 'example.com';
    case 'tls': return `'{"cert": "cert.pem", "key": "key.pem"}'`;
    default: return option.arg || 'VALUE';
  }
}

function shownDefault(option) {
  if (option.shown) return option.shown;
  return typeof option.default === 'string' ? `'${option.default}'` : String(option.default);
}

// Splits text into lines of at most `width` characters, at spaces.
function wrap(text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

// The rows of --help: [left column, description] per option and part flag.
function helpRows() {
  const rows = [];
  for (const o of OPTIONS) {
    if (o.codeOnly) continue;
    let left;
    if (o.type === 'boolean') left = `${o.cli}, --no-${o.cli.slice(2)}`;
    else if (o.type === 'policyPort') left = `${o.cli}[=${o.arg}]`;
    else if (o.type === 'deflate') left = `${o.cli}[=${o.arg}], --no-${o.cli.slice(2)}`;
    else if (o.type === 'trustProxy') left = `${o.cli}[=${o.arg}]`;
    else left = `${o.cli}=${o.arg}`;
    rows.push([left, `${o.doc} Default: ${shownDefault(o)}.`]);
    if (o.type === 'deflate') {
      for (const p of PARTS.perMessageDeflate) {
        const l = p.type === 'boolean' ? `  ${p.cli}` : `  ${p.cli}=${p.arg}`;
        rows.push([l, `${p.doc} Default: ${p.default}.`]);
      }
    } else if (o.type === 'tls') {
      for (const p of PARTS.tls) {
        if (p.cli) rows.push([`  ${p.cli}=${p.arg}`, `${p.doc}${p.key === 'cert' || p.key === 'key' ? ' Required for wss://.' : ` Default: ${p.shown}.`}`]);
      }
    }
  }
  return rows;
}

/**
 * The text of `runserver.js --help`: usage, then every option with its
 * default and its one-line description.
 * @returns {string}
 */
function helpText() {
  const rows = helpRows();
  rows.push(['--config=FILE', 'Read options and applications from a JSON file: ' +
    '{ "server": { "port": 8080, ... }, "apps": { "chat": { "urls": ["/chat"] } } } ' +
    '(server options may also sit at the top level, beside "apps"). Options on the command line override the file.']);
  rows.push(['-h, --help', 'Show this help and exit.']);
  rows.push(['--version', 'Print node.websocket and its version, and exit.']);
  const codeOnly = OPTIONS.filter((o) => o.codeOnly);
  const codeRows = codeOnly.map((o) => [o.name, `${o.doc} Default: ${shownDefault(o)}.`]);
  const width = Math.max(...rows.concat(codeRows).map((r) => r[0].length)) + 2;
  const format = (list) => list.map(([left, right]) => wrap(right, 100 - 2 - width)
    .map((line, i) => `  ${(i === 0 ? left : '').padEnd(width)}${line}`).join('\n'));
  const lines = [
    'Usage: node runserver.js [--option=value ...]',
    '',
    'Runs a node.websocket server: ws://HOST:PORT/NAME is served by MODULES/NAME.js',
    '(/ by _default.js) and plain HTTP GETs by the files in DOCROOT.',
    '',
    'Values are JavaScript literals, never evaluated: numbers, \'quoted\' or bare',
    'strings, [arrays], true, false. "--name value" works too, and every option',
    'also has a camelCase form (--maxPayload).',
    '',
    'Options:',
    ...format(rows),
    '',
    'Set from code only, with new Server({ ... }): runserver.js always listens itself',
    `and refuses ${codeOnly.map((o) => o.cli).join(', ')}.`,
    ...format(codeRows),
    '',
    'Example:',
    "  node runserver.js --port='8080' --host='some_other_host' --origins=['http://some_allowed_host']",
    '  node runserver.js --config=server.json --port=9000',
    '  node runserver.js --port=443 --host=:: --tls-cert=/etc/ssl/site.pem --tls-key=/etc/ssl/site.key --deflate',
    '',
  ];
  return lines.join('\n');
}

/**
 * The options as a Markdown table (the README pastes it).
 * @returns {string}
 */
function markdownTable() {
  const cell = (text) => text.replace(/\|/g, '\\|');
  const lines = ['| option | command line | default | meaning |', '| --- | --- | --- | --- |'];
  for (const o of OPTIONS) {
    let cli = `\`${o.cli}\``;
    if (o.type === 'apps') cli = `\`${o.cli}=JSON\`, or \`"apps"\` in the \`--config\` file`;
    else if (o.type === 'deflate') cli = `\`${o.cli}\`, \`${o.cli}=JSON\`, \`--no-${o.cli.slice(2)}\``;
    else if (o.type === 'tls') cli = `\`${o.cli}=JSON\`, or the \`--tls-*\` flags below`;
    else if (o.type === 'trustProxy') cli = `\`${o.cli}\`, \`${o.cli}=LIST\``;
    else if (o.type === 'metrics') cli = `\`${o.cli}=${o.arg}\`, \`--no-${o.cli.slice(2)}\``;
    else if (o.codeOnly) cli = 'code only';
    lines.push(`| \`${o.name}\` | ${cli} | ${cell(shownDefault(o))} | ${cell(o.doc)} |`);
    if (o.type === 'deflate') {
      for (const p of PARTS.perMessageDeflate) {
        lines.push(`| \`${o.name}.${p.key}\` | \`${p.cli}${p.type === 'boolean' ? '' : `=${p.arg}`}\` | ${p.default} | ${cell(p.doc)} |`);
      }
    } else if (o.type === 'tls') {
      for (const p of PARTS.tls) {
        const c = p.cli ? `\`${p.cli}=${p.arg}\`` : '`--tls=JSON`, the `--config` file';
        lines.push(`| \`${o.name}.${p.key}\` | ${cell(c)} | ${cell(p.shown)} | ${cell(p.doc)} |`);
      }
    }
  }
  return lines.join('\n');
}

module.exports = { helpText, markdownTable, exampleValue };
