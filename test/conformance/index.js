'use strict';
// The conformance cases, in Autobahn's section order.

const sections = [
  ['1', 'Framing', require('./section1')],
  ['2', 'Pings and pongs', require('./section2')],
  ['3', 'Reserved bits', require('./section3')],
  ['4', 'Reserved opcodes', require('./section4')],
  ['5', 'Fragmentation', require('./section5')],
  ['6', 'UTF-8 handling', require('./section6')],
  ['7', 'Close handling', require('./section7')],
  ['9', 'Limits and performance (scaled down)', require('./section9')],
  ['10', 'Auto-fragmentation', require('./section10')],
];

function allSections() {
  return sections.map(([n, name, mod]) => ({ section: n, name, cases: mod.cases() }));
}

module.exports = { allSections };
