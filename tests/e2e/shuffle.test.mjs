// Answer order in the browser: the host chooses per-player shuffling when
// creating the room; every phone shows its own order of the options, each
// player taps the answer by its text, and the server counts and scores each
// tap as the option that player saw.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinRoom, LAPTOP, newPage, optionByText, shownOptions, useServerAndBrowser } from './harness.mjs';

const env = useServerAndBrowser();

const join = (code, name) => joinRoom(env, code, name);

test('per-player answer order: own order on each phone, every tap counted as seen', async () => {
  const host = await newPage(env.browser, LAPTOP, 'host');
  await host.goto(`${env.server.base}/host`);
  assert.equal(await host.getByTestId('room-shuffle').inputValue(), 'room', 'shuffled for everyone by default');
  await host.getByTestId('room-shuffle').selectOption('player');
  await host.getByTestId('create-room').click();
  await host.waitForURL(/\/host\/[A-Z0-9]{6}$/);
  const code = (await host.getByTestId('room-code').textContent()).trim();
  await host.locator('.conn-online').waitFor();

  const names = ['Ann', 'Bob', 'Cid', 'Dee'];
  const phones = [];
  for (const name of names) phones.push(await join(code, name));
  await host.locator('.player-list li').nth(names.length - 1).waitFor();

  await host.locator('.segmented input[value=vote]').check({ force: true });
  await host.locator('.pick summary').click();
  await host.locator('#pick-search').fill('capital of Australia');
  await host.locator('.pick-list li', { hasText: 'capital of Australia' }).getByRole('button').click();
  const orders = [];
  for (const phone of phones) {
    await phone.locator('.question .opt').first().waitFor();
    const shown = await shownOptions(phone);
    assert.ok(shown.includes('Canberra'), shown.join(' | '));
    orders.push(shown.join(' | '));
  }
  assert.ok(new Set(orders).size > 1, `four phones, one order: ${orders[0]}`);
  for (const phone of phones) await optionByText(phone, 'Canberra').click();
  await host.getByTestId('answered').filter({ hasText: `${names.length} of ${names.length} answered` }).waitFor();
  // The host's live tally counts every tap on Canberra, wherever each phone showed it.
  const hostOptions = await host.locator('.host-options li').allTextContents();
  const canberra = hostOptions.findIndex((o) => o.includes('Canberra'));
  assert.match(await host.locator('.tally-live .bar-count').nth(canberra).textContent(), new RegExp(`^${names.length}`));

  await host.getByTestId('reveal').click();
  for (const phone of phones) {
    await phone.getByTestId('points').filter({ hasText: /\+\d+ points/ }).waitFor();
    // The reveal marks Canberra, in this phone's own order, as right and as its answer.
    await phone.locator('.reveal .bar-row.correct.mine', { hasText: 'Canberra' }).waitFor();
  }
});
