// The join page explains a full room, and a game that is over, in words.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, PHONE, startServer } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer(['--room-capacity', '1']);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function joinAttempt(code, name) {
  const page = await newPage(browser, PHONE, name);
  await page.goto(`${server.base}/join/${code}`);
  await page.locator('#name').fill(name);
  await page.locator('form.join-form button[type=submit]').click();
  return page;
}

test('a full room says so; the seated player is unaffected', async () => {
  const res = await fetch(`${server.base}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 201);
  const { code } = await res.json();
  const first = await joinAttempt(code, 'First');
  await first.getByTestId('me').waitFor();
  const second = await joinAttempt(code, 'Second');
  await second.locator('#form-error', { hasText: 'This room is full.' }).waitFor();
  assert.equal(await second.locator('#name').inputValue(), 'Second', 'the typed name stays');
  assert.equal(await first.locator('.conn-online').count(), 1);
  for (const page of [first, second]) assert.deepEqual(page.errors, []);
});
