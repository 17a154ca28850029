// The join page explains a full room, and a game that is over, in words.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { joinRoom, useServerAndBrowser } from './harness.mjs';

const env = useServerAndBrowser(['--room-capacity', '1']);

const joinAttempt = (code, name) => joinRoom(env, code, name, { seated: false });

test('a full room says so; the seated player is unaffected', async () => {
  const res = await fetch(`${env.server.base}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
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
