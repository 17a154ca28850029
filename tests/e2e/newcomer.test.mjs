// What a newcomer meets first, in real headless Chromium: readable bank
// names (full title on hover, a display name of the host's own), a warning
// when the chosen topics have nothing for the mode, an emoji nickname drawn
// in colour on every screen, a vote reveal that names who was right, and
// every view laid out without sideways scrolling or wrapped headings at
// 360, 390, 768, 1280 and 1920 px in English and Russian.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, chainedSteps, keyTexts, LAPTOP, newPage, optionByText, PHONE, PROJECTOR, useServerAndBrowser, wrongOption } from './harness.mjs';

const WIDTHS = [360, 390, 768, 1280, 1920];
const FOX = '🦊 Лиса';

const env = useServerAndBrowser();

/** Coloured pixels when `text` is drawn in the font of the first `selector` match. */
async function colourPixels(page, selector, text) {
  return page.evaluate(
    ([sel, txt]) => {
      const el = document.querySelector(sel);
      if (!el) return -1;
      const canvas = document.createElement('canvas');
      canvas.width = 80;
      canvas.height = 80;
      const ctx = canvas.getContext('2d');
      ctx.font = `56px ${getComputedStyle(el).fontFamily}`;
      ctx.fillStyle = '#000';
      ctx.fillText(txt, 4, 64);
      const data = ctx.getImageData(0, 0, 80, 80).data;
      let coloured = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        if (a > 100 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured += 1;
      }
      return coloured;
    },
    [selector, text],
  );
}

/**
 * Layout faults of the page as it is drawn now: sideways scrolling, and
 * section headings (not question prompts) that wrap onto a second line or
 * stick out of their box.
 */
async function layoutFaults(page) {
  return page.evaluate(() => {
    const faults = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth + 1) {
      // Name the outermost element that sticks out, so the fault is findable.
      const out = [...document.body.querySelectorAll('*')].find((el) => el.getBoundingClientRect().right > doc.clientWidth + 1);
      const what = out ? `${out.tagName.toLowerCase()}.${[...out.classList].join('.')} "${(out.textContent || '').trim().slice(0, 30)}"` : '?';
      faults.push(`page scrolls sideways (${doc.scrollWidth} > ${doc.clientWidth}): ${what}`);
    }
    const prompts = '.prompt, .host-prompt, .screen-prompt, .screen-title, .final';
    for (const el of document.querySelectorAll('h1, h2, h3')) {
      if (el.closest(prompts) || el.matches(prompts)) continue;
      const box = el.getBoundingClientRect();
      if (!box.width || !box.height || getComputedStyle(el).visibility === 'hidden') continue;
      const range = document.createRange();
      range.selectNodeContents(el);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      if (tops.size > 1) faults.push(`heading wraps: "${el.textContent.trim()}"`);
      if (el.scrollWidth > el.clientWidth + 1) faults.push(`heading cut: "${el.textContent.trim()}"`);
      if (box.right > doc.clientWidth + 1) faults.push(`heading off screen: "${el.textContent.trim()}"`);
    }
    return faults;
  });
}

/** Checks one page at every width in one language and saves the shots. */
async function checkLayout(page, view, langCode, faults) {
  await page.locator(`.lang-switch button[lang=${langCode}]`).first().click();
  await page.waitForFunction((l) => document.documentElement.lang === l, langCode);
  const dir = path.join(ARTIFACTS, 'layout');
  fs.mkdirSync(dir, { recursive: true });
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width < 700 ? 780 : 900 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    for (const f of await layoutFaults(page)) faults.push(`${view} ${langCode} ${width}px: ${f}`);
    await page.screenshot({ path: path.join(dir, `${view}-${langCode}-${width}.png`) });
  }
}

test('a newcomer: bank names, mode warnings, emoji names, who was right, layout', async (t) => {
  const step = chainedSteps(t);
  const pages = {};
  let code = '';

  await step('bank chips show readable titles, the full one on hover, and a host name', async () => {
    const host = (pages.host = await newPage(env.browser, LAPTOP, 'host'));
    await host.goto(`${env.server.base}/host`);
    await host.getByTestId('create-room').click();
    await host.waitForURL(/\/host\/[A-Z0-9]{6}$/);
    code = (await host.getByTestId('room-code').textContent()).trim();
    const chips = host.locator('.banks .chip');
    await chips.first().waitFor();
    const labels = await chips.locator('.chip-label').allTextContents();
    for (const label of labels) assert.doesNotMatch(label, /^\d{3}_[0-9a-f]{8,}/, `a file name as a title: ${label}`);
    assert.ok(labels.some((l) => l.startsWith('Вопросы для собеседования Python')), labels.join(' | '));
    assert.ok(labels.includes('Викторина для класса (формат GIFT)'), labels.join(' | '));
    const long = chips.filter({ hasText: 'Вопросы для собеседования Python' });
    const full = await long.getAttribute('title');
    assert.match(full, /по вероятности появления/);
    assert.match(full, /001_e22965f9a153005a\.txt/);
    // The label is cut to fit; the whole title is in the tooltip.
    assert.ok(await long.locator('.chip-label').evaluate((el) => el.scrollWidth > el.clientWidth), 'the long title is cut');
    host.once('dialog', (d) => d.accept('Собеседование: 930 вопросов'));
    await host.locator(`.bank-chip:has(.chip[title*="по вероятности"]) .chip-edit`).click();
    await host.locator('.banks .chip-label', { hasText: 'Собеседование: 930 вопросов' }).waitFor();
    await host.reload();
    await host.locator('.banks .chip-label', { hasText: 'Собеседование: 930 вопросов' }).waitFor();
    assert.match(await host.locator('.banks .chip', { hasText: 'Собеседование' }).getAttribute('title'), /по вероятности появления/);
  });

  await step('a topic with nothing for the chosen mode is named in the console', async () => {
    const { host } = pages;
    const python = host.locator('.tree > li', { has: host.locator(':scope > .tree-row label', { hasText: /^Python$/ }) });
    await python.locator(':scope > .tree-row .twisty').click();
    await python.locator('ul .tree-row', { hasText: /^\s*Основы/ }).locator('input').check();
    await host.locator('.segmented input[value=text]').check({ force: true });
    await host.getByTestId('mode-warning').filter({ hasText: /No questions for Typed answer in: Python › Основы/ }).waitFor();
    await host.locator('.segmented input[value=vote]').check({ force: true });
    await host.getByTestId('mode-warning').waitFor({ state: 'detached' });
  });

  await step('an emoji nickname is drawn in colour on host, phone and screen', async () => {
    const { host } = pages;
    pages.screen = await newPage(env.browser, PROJECTOR, 'screen');
    await pages.screen.goto(`${env.server.base}/screen/${code}`);
    for (const [key, name, options] of [
      ['fox', FOX, { ...PHONE, locale: 'ru-RU' }],
      ['alice', 'Alice', PHONE],
    ]) {
      const page = (pages[key] = await newPage(env.browser, options, key));
      await page.goto(`${env.server.base}/join/${code}`);
      await page.locator('#name').fill(name);
      await page.locator('form.join-form button[type=submit]').click();
      await page.getByTestId('me').waitFor();
    }
    await host.locator('.player-list .p-name', { hasText: FOX }).waitFor();
    await pages.screen.locator('.name-cloud .name-tag', { hasText: FOX }).waitFor();
    assert.match(await pages.fox.getByTestId('me').textContent(), /🦊 Лиса/);
    assert.ok((await colourPixels(host, '.player-list .p-name', '🦊')) > 50, 'host: the fox is in colour');
    assert.ok((await colourPixels(pages.fox, '[data-testid=me] strong', '🦊')) > 50, 'phone: the fox is in colour');
    assert.ok((await colourPixels(pages.screen, '.name-cloud .name-tag', '🦊')) > 50, 'screen: the fox is in colour');
    // A check that can fail: a character no font has is drawn without colour.
    assert.equal(await colourPixels(host, '.player-list .p-name', '\u{10FFFD}'), 0);
    // Chromium here finds the emoji font through fontconfig whatever the
    // page asks for; browsers that do not need the page's font stack to name
    // one, so every view's names end their stack with the emoji fonts.
    for (const [page, selector] of [
      [host, '.player-list .p-name'],
      [pages.fox, '[data-testid=me] strong'],
      [pages.screen, '.name-cloud .name-tag'],
    ]) {
      const family = await page.locator(selector, { hasText: FOX }).first().evaluate((el) => getComputedStyle(el).fontFamily);
      assert.match(family, /Noto Color Emoji/, `${selector}: ${family}`);
      assert.match(family, /Apple Color Emoji/, `${selector}: ${family}`);
    }
  });

  await step('lobby views fit every width in both languages', async () => {
    const faults = [];
    for (const lang of ['en', 'ru']) {
      await checkLayout(pages.host, 'host-lobby', lang, faults);
      await checkLayout(pages.alice, 'phone-lobby', lang, faults);
      await checkLayout(pages.screen, 'screen-lobby', lang, faults);
    }
    assert.deepEqual(faults, []);
  });

  await step('a vote reveal names who was right: all on the host, the fastest on the screen', async () => {
    const { host, alice, fox, screen } = pages;
    await host.setViewportSize(LAPTOP.viewport);
    await host.locator('.lang-switch button[lang=en]').click();
    // A single-choice question of the Russian keyed bank (a drawn one may be multi-select).
    await host.locator('.pick summary').click();
    await host.locator('#pick-search').fill('неизменяемый');
    await host.locator('.pick-list li', { hasText: 'неизменяемый' }).getByRole('button').click();
    await alice.locator('.question .opt').first().waitFor();
    await fox.locator('.question .opt').first().waitFor();
    const options = await host.locator('.host-options li').allTextContents();
    const right = options.findIndex((o) => /correct/.test(o));
    assert.ok(right >= 0, `a keyed question: ${options.join(' | ')}`);
    const key = await keyTexts(host);
    await optionByText(alice, key[0]).click();
    await (await wrongOption(fox, key)).button.click();
    await host.getByTestId('answered').filter({ hasText: '2 of 2 answered' }).waitFor();
    await host.getByTestId('reveal').click();
    const names = host.getByTestId('right-names');
    await names.filter({ hasText: 'Right: 1' }).waitFor();
    assert.deepEqual(await names.locator('.p-name').allTextContents(), ['Alice']);
    await screen.getByTestId('screen-right').filter({ hasText: 'Alice' }).waitFor();
    assert.equal(await screen.getByTestId('screen-right').filter({ hasText: 'Лиса' }).count(), 0);
    // Players do not get the list.
    assert.equal(await alice.locator('[data-testid=right-names], [data-testid=screen-right]').count(), 0);
    // A reload mid-reveal keeps the names on the host and the screen.
    await host.reload();
    await host.getByTestId('right-names').filter({ hasText: 'Right: 1' }).waitFor();
    assert.deepEqual(await host.getByTestId('right-names').locator('.p-name').allTextContents(), ['Alice']);
    await screen.reload();
    await screen.getByTestId('screen-right').filter({ hasText: 'Alice' }).waitFor();
    await alice.reload();
    await alice.locator('.reveal').waitFor();
    assert.equal(await alice.locator('[data-testid=right-names], [data-testid=screen-right]').count(), 0);
  });

  await step('question and reveal views fit every width in both languages', async () => {
    const faults = [];
    for (const lang of ['en', 'ru']) {
      await checkLayout(pages.host, 'host-reveal', lang, faults);
      await checkLayout(pages.alice, 'phone-reveal', lang, faults);
      await checkLayout(pages.screen, 'screen-reveal', lang, faults);
    }
    assert.deepEqual(faults, []);
  });

  await step('final views fit every width in both languages', async () => {
    const { host } = pages;
    await host.setViewportSize(LAPTOP.viewport);
    host.once('dialog', (d) => d.accept());
    await host.getByTestId('end').click();
    await pages.screen.locator('.podium').waitFor();
    await pages.alice.locator('.final').waitFor();
    const faults = [];
    for (const lang of ['en', 'ru']) {
      await checkLayout(pages.host, 'host-ended', lang, faults);
      await checkLayout(pages.alice, 'phone-ended', lang, faults);
      await checkLayout(pages.screen, 'screen-ended', lang, faults);
    }
    assert.deepEqual(faults, []);
    for (const [name, page] of Object.entries(pages)) assert.deepEqual(page.errors, [], `${name} had no script errors`);
  });
});
