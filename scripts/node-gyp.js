'use strict';
// Where node-gyp and Node's headers are, for scripts/build.js and scripts/prebuild.js.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

/** node-gyp's bin script: a local dependency, else the one npm ships. */
function findNodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch (_) { /* not a local dependency: look beside npm */ }
  const prefix = path.dirname(path.dirname(process.execPath));
  const candidates = [
    path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  if (process.env.npm_config_node_gyp) candidates.unshift(process.env.npm_config_node_gyp);
  return candidates.find((p) => fs.existsSync(p));
}

/** Node's headers installed beside the running node (a build against them is offline), or null. */
function localNodeDir() {
  const prefix = path.dirname(path.dirname(process.execPath));
  return fs.existsSync(path.join(prefix, 'include/node/common.gypi')) ? prefix : null;
}

/** The newest modification time of binding.gyp, native/ and the given extra files. */
function newestSourceTime(...extra) {
  let newest = 0;
  for (const f of [path.join(root, 'binding.gyp'), ...extra]) newest = Math.max(newest, fs.statSync(f).mtimeMs);
  for (const name of fs.readdirSync(path.join(root, 'native'))) {
    newest = Math.max(newest, fs.statSync(path.join(root, 'native', name)).mtimeMs);
  }
  return newest;
}

module.exports = { root, findNodeGyp, localNodeDir, newestSourceTime };
