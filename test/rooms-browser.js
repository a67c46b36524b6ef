'use strict';
// Two Chromium tabs on two servers (ports) share the chatroom and the chat
// pages: used by the Redis and the workers-with-Redis suites.

const assert = require('assert/strict');
const { launchChromium, waitUntil, withoutPreload } = require('./helpers');

async function twoTabsInOneRoom(portA, portB, topic) {
  const browser = await launchChromium({ env: withoutPreload() }); // the sanitizer run preloads libasan for the addon only
  try {
    const tab = async () => {
      const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
      page.errors = [];
      page.on('pageerror', (err) => page.errors.push(err));
      return page;
    };
    const pa = await tab();
    const pb = await tab();
    for (const [page, port, nick] of [[pa, portA, 'tabalice'], [pb, portB, 'tabbob']]) {
      await page.goto(`http://127.0.0.1:${port}/chatroom.html`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
      await page.fill('#nick', nick);
      await page.press('#nick', 'Enter');
      await page.locator('#log li', { hasText: `welcome, ${nick}` }).waitFor({ timeout: 5000 });
    }
    await pa.locator('#users li', { hasText: 'tabbob' }).waitFor({ timeout: 5000 });
    await pb.fill('#message', 'hello from the other server');
    await pb.press('#message', 'Enter');
    await pa.locator('#log li.received', { hasText: '<tabbob> hello from the other server' }).waitFor({ timeout: 5000 });
    await pa.fill('#message', `/topic ${topic}`);
    await pa.press('#message', 'Enter');
    await pb.locator('#topic-text', { hasText: `${topic} — set by tabalice` }).waitFor({ timeout: 5000 });

    for (const [page, port] of [[pa, portA], [pb, portB]]) {
      await page.goto(`http://127.0.0.1:${port}/chat.html`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
    }
    await waitUntil(async () => {
      await pa.fill('#message', 'chat across');
      await pa.press('#message', 'Enter');
      return (await pb.locator('#log li', { hasText: 'chat across' }).count()) > 0;
    }, 10000, 'a chat line from one tab in the other');
    assert.deepEqual(pa.errors, []);
    assert.deepEqual(pb.errors, []);
  } finally {
    await browser.close();
  }
}

module.exports = { twoTabsInOneRoom };
