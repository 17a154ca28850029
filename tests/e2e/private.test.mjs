// A private (screening) room in the browser: players see only their own
// answers, verdict, points and place; the big screen shows no names.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinRoom, LAPTOP, newPage, optionByText, PROJECTOR, shot, useServerAndBrowser, wrongOption } from './harness.mjs';

const env = useServerAndBrowser();

const join = (code, name) => joinRoom(env, code, name);

test('private room: own results only, no names on the big screen', async () => {
  const host = await newPage(env.browser, LAPTOP, 'host');
  await host.goto(`${env.server.base}/host`);
  await host.locator('#room-private').check();
  await host.getByTestId('create-room').click();
  await host.waitForURL(/\/host\/[A-Z0-9]{6}$/);
  const code = (await host.getByTestId('room-code').textContent()).trim();
  await host.locator('.conn-online').waitFor();
  await host.getByTestId('private').waitFor();

  const screen = await newPage(env.browser, PROJECTOR, 'screen');
  await screen.goto(`${env.server.base}/screen/${code}`);
  await screen.getByTestId('screen-code').waitFor();

  const ann = await join(code, 'Ann');
  const bob = await join(code, 'Bob');
  await host.locator('.player-list li').nth(1).waitFor();
  await screen.locator('.player-count', { hasText: '2 players' }).waitFor();
  await ann.locator('.lobby', { hasText: '2 players in the room' }).waitFor();

  await host.locator('.segmented input[value=vote]').check({ force: true });
  await host.locator('.pick summary').click();
  await host.locator('#pick-search').fill('capital of Australia');
  await host.locator('.pick-list li', { hasText: 'capital of Australia' }).getByRole('button').click();
  await ann.locator('.question').waitFor();
  await bob.locator('.question').waitFor();
  const options = await host.locator('.host-options li').allTextContents();
  const right = options.findIndex((o) => o.includes('Canberra'));
  await optionByText(ann, 'Canberra').click();
  await (await wrongOption(bob, ['Canberra'])).button.click();
  await host.getByTestId('answered').filter({ hasText: '2 of 2 answered' }).waitFor();
  await host.getByTestId('reveal').click();

  await ann.locator('.verdict.right').waitFor();
  await bob.locator('.verdict.wrong').waitFor();
  await ann.getByTestId('points').filter({ hasText: '+1000 points' }).waitFor();
  await ann.locator('.outcome li.correct.mine', { hasText: 'Canberra' }).waitFor();
  await bob.locator('.outcome li.correct:not(.mine)', { hasText: 'Canberra' }).waitFor();
  assert.equal(await ann.locator('.histogram').count(), 0, 'no counts for players in a private room');

  await host.getByTestId('show-scores').click();
  await ann.getByTestId('standing').filter({ hasText: 'Place: 1 of 2' }).waitFor();
  await bob.getByTestId('standing').filter({ hasText: 'Place: 2 of 2' }).waitFor();
  assert.equal(await ann.locator('.leaderboard li').count(), 0, 'no one else’s score');
  await ann.getByTestId('points').filter({ hasText: '+1000 points' }).waitFor();
  await shot(ann, 'private-player-reveal');

  for (const page of [screen, ann, bob]) {
    const text = await page.locator('body').innerText();
    const other = page === bob ? 'Ann' : 'Bob';
    assert.ok(!text.includes(other), `no ${other} on ${page === screen ? 'the screen' : 'a player page'}`);
  }
  await shot(screen, 'private-screen');
  for (const page of [host, screen, ann, bob]) assert.deepEqual(page.errors, []);
});
