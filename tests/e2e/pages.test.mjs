// Browser tests that need no game: app routes and asset serving, both
// languages complete, language choice, the join form's checks, QR codes,
// and the phone layout.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LAPTOP, newPage, overflowsX, PHONE, REPO, shot, useServerAndBrowser } from './harness.mjs';

/** The app's script sources, by file name. */
function appSources() {
  const dir = path.join(REPO, 'web', 'js');
  return Object.fromEntries(fs.readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

const env = useServerAndBrowser();

test('every app route serves the app; assets carry types and ETags', async () => {
  for (const route of ['/', '/host', '/host/ABC234', '/join', '/join/ABC234', '/screen/ABC234']) {
    const res = await fetch(env.server.base + route);
    assert.equal(res.status, 200, route);
    assert.match(res.headers.get('content-type'), /^text\/html; charset=utf-8/, route);
    assert.match(res.headers.get('content-security-policy') || '', /default-src 'self'/, route);
    assert.match(await res.text(), /<div id="app"/, route);
  }
  const js = await fetch(`${env.server.base}/assets/js/main.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  const etag = js.headers.get('etag');
  assert.ok(etag, 'an ETag');
  const again = await fetch(`${env.server.base}/assets/js/main.js`, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  const css = await fetch(`${env.server.base}/assets/app.css`);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(`${env.server.base}/assets/nope.js`)).status, 404);
});

test('QR codes are SVG and long text is refused', async () => {
  const res = await fetch(`${env.server.base}/api/qr.svg?text=${encodeURIComponent('http://10.0.0.2:8080/join/ABC234')}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^image\/svg\+xml/);
  assert.match(await res.text(), /<svg/);
  const long = await fetch(`${env.server.base}/api/qr.svg?text=${'x'.repeat(600)}`);
  assert.equal(long.status, 400);
  assert.equal((await long.json()).error.code, 'text_too_long');
});

test('English and Russian have the same keys and no empty text', async () => {
  const page = await newPage(env.browser, LAPTOP, 'i18n');
  await page.goto(env.server.base + '/');
  const report = await page.evaluate(async () => {
    const { DICTS } = await import('/assets/js/i18n.js');
    const en = Object.keys(DICTS.en).sort();
    const ru = Object.keys(DICTS.ru).sort();
    return {
      missingInRu: en.filter((k) => !(k in DICTS.ru)),
      missingInEn: ru.filter((k) => !(k in DICTS.en)),
      empty: [...en.filter((k) => !DICTS.en[k]), ...ru.filter((k) => !DICTS.ru[k])],
      count: en.length,
    };
  });
  assert.deepEqual(report.missingInRu, []);
  assert.deepEqual(report.missingInEn, []);
  assert.deepEqual(report.empty, []);
  assert.ok(report.count > 100);
  // Every literal key the scripts ask for exists.
  const used = new Set();
  for (const src of Object.values(appSources())) for (const m of src.matchAll(/\bt\('([\w.]+)'/g)) used.add(m[1]);
  const known = await page.evaluate(async () => Object.keys((await import('/assets/js/i18n.js')).DICTS.en));
  assert.deepEqual([...used].filter((k) => !known.includes(k)), []);
  assert.ok(used.size > 100);
  await page.context().close();
});

test('the scripts never build markup from strings', () => {
  for (const [file, src] of Object.entries(appSources())) {
    const code = src.replace(/^\s*\/\/.*$/gm, '');
    assert.doesNotMatch(code, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, file);
  }
});

test('language follows the env.browser and the switch changes it', async () => {
  const page = await newPage(env.browser, { ...LAPTOP, locale: 'ru-RU' }, 'lang');
  await page.goto(env.server.base + '/');
  await page.getByRole('heading', { name: 'Присоединиться' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'ru');
  await shot(page, 'home-ru');
  await page.getByRole('button', { name: 'EN', exact: true }).click();
  await page.getByRole('heading', { name: 'Join a quiz' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Join a quiz' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await shot(page, 'home-en');
  await page.context().close();
});

test('the join form checks the code and the nickname before connecting', async () => {
  const page = await newPage(env.browser, PHONE, 'join-form');
  await page.goto(env.server.base + '/join');
  await page.locator('#code').fill('ab');
  await page.locator('#name').fill('Alice');
  await page.getByRole('button', { name: 'Join the room' }).click();
  await page.getByRole('alert').filter({ hasText: '6 letters' }).waitFor();
  await page.locator('#code').fill('abc-234');
  await page.locator('#name').fill('   ');
  await page.getByRole('button', { name: 'Join the room' }).click();
  await page.getByRole('alert').filter({ hasText: 'nickname of 1 to 24' }).waitFor();
  assert.equal(await page.locator('#code').inputValue(), 'ABC234');
  assert.equal(await overflowsX(page), false, 'no sideways scroll on a 360 px phone');
  await shot(page, 'player-join-form-phone');
  await page.context().close();
});

test('home page fits a phone; a typed code and Enter open the join page', async () => {
  const page = await newPage(env.browser, PHONE, 'home-phone');
  await page.goto(env.server.base + '/');
  assert.equal(await overflowsX(page), false);
  await page.locator('#home-code').focus();
  await page.keyboard.type('xyz789');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/join\/XYZ789$/);
  await page.locator('#name').waitFor();
  await page.context().close();
});
