// The library editor in real headless Chromium against the real server, in
// English and in Russian: a host writes a 5-question quiz from scratch
// (topics, single and multiple choice, true/false, a code block, an open
// question with notes), sees inline errors for a bad save, deletes and
// undoes; gives a keyless seed question four options and a key; runs both
// in a room with two players; downloads the results as .xlsx and reads
// the workbook back.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { strFromU8, unzipSync } from 'fflate';
import { chainedSteps, keyTexts, LAPTOP, newPage, optionByText, PHONE, REPO, shot, useServerAndBrowser, waitText, wrongOption } from './harness.mjs';

const SEED_PROMPT = 'Что такое переменная в Python?';

const env = useServerAndBrowser();

/**
 * Clicks the save button `testid` and resolves with the save's answer as
 * the page shows it: the click puts up "Saving…" at once, so an earlier
 * status ("Not saved", "Saved.") is never taken for this save's answer.
 */
async function save(page, testid) {
  await page.getByTestId(testid).click();
  const status = page.locator('[data-testid=save-status]:not([aria-busy])');
  await status.waitFor();
  return status.textContent();
}

/** The sheets of an .xlsx file: {name: [[cell, ...], ...]} (strings and numbers as text). */
function readXlsx(file) {
  const zip = unzipSync(new Uint8Array(fs.readFileSync(file)));
  const xml = (name) => (zip[name] ? strFromU8(zip[name]) : '');
  const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  const shared = [...xml('xl/sharedStrings.xml').matchAll(/<si>([\s\S]*?)<\/si>/g)].map((m) => unescape([...m[1].matchAll(/<t[^>]*>([\s\S]*?)<\/t>/g)].map((t) => t[1]).join('')));
  const names = [...xml('xl/workbook.xml').matchAll(/<sheet [^>]*name="([^"]+)"/g)].map((m) => unescape(m[1]));
  const out = {};
  names.forEach((name, i) => {
    const rows = [];
    for (const row of xml(`xl/worksheets/sheet${i + 1}.xml`).matchAll(/<row [^>]*>([\s\S]*?)<\/row>/g)) {
      const cells = [];
      for (const c of row[1].matchAll(/<c r="([A-Z]+)\d+"([^>]*?)(?:\/>|>([\s\S]*?)<\/c>)/g)) {
        const col = [...c[1]].reduce((n, ch) => n * 26 + ch.charCodeAt(0) - 64, 0) - 1;
        const v = /<v>([\s\S]*?)<\/v>/.exec(c[3] || '');
        const value = v ? (/t="s"/.test(c[2]) ? shared[Number(v[1])] : unescape(v[1])) : '';
        cells[col] = value;
      }
      rows.push(Array.from(cells, (x) => x ?? ''));
    }
    out[name] = rows;
  });
  return out;
}

/** Fills question card `i` (0-based). */
async function fillQuestion(page, i, { prompt, kind, mode, options = [], correct = [], points, time, answer, notes }) {
  const card = page.locator(`.q-edit[data-question="${i}"]`);
  await card.getByTestId('question-prompt').fill(prompt);
  if (kind) await card.getByTestId('question-kind').selectOption(kind);
  for (let j = 0; j < options.length; j++) {
    if ((await card.getByTestId('option-text').count()) <= j) await card.getByTestId('option-add').click();
    await card.getByTestId('option-text').nth(j).fill(options[j]);
  }
  for (let j = 0; j < options.length && kind !== 'short'; j++) {
    const box = card.getByTestId('option-correct').nth(j);
    if (correct.includes(j)) await box.check();
    else if (kind === 'multi') await box.uncheck();
  }
  if (mode) await card.getByTestId('question-mode').selectOption(mode);
  if (points) await card.getByTestId('question-points').selectOption(points);
  if (time != null) await card.getByTestId('question-time').selectOption(String(time));
  if (answer) await card.getByTestId('question-answer').fill(answer);
  if (notes) await card.getByTestId('question-notes').fill(notes);
}

test('write a quiz, edit a seed question, run both, read the results workbook', async (t) => {
  const step = chainedSteps(t);
  const host = await newPage(env.browser, LAPTOP, 'host');
  host.on('dialog', (d) => d.accept());
  let code = '';

  await step('the library opens from the home page', async () => {
    await host.goto(env.server.base);
    await host.getByTestId('home-library').click();
    await host.waitForURL(/\/edit$/);
    await waitText(host.locator('main'), 'No quizzes yet');
  });

  await step('a 5-question quiz written from scratch, with inline errors first (English)', async () => {
    await host.getByTestId('quiz-new').click();
    await host.waitForURL(/\/edit\/new$/);
    await host.getByTestId('quiz-title').fill('Python warm-up');
    await host.getByTestId('topic-add').click();
    await host.getByTestId('topic-title-0').fill('Basics');
    await host.getByTestId('topic-add').click();
    await host.getByTestId('topic-title-1').fill('Code');
    for (let i = 1; i < 5; i++) await host.getByTestId('question-add').click();
    await fillQuestion(host, 0, { prompt: 'Which keyword defines a function?', kind: 'choice', options: ['def', 'fun', 'lambda'], correct: [0], time: 20 });
    await fillQuestion(host, 1, { prompt: 'Which types are immutable?', kind: 'multi', options: ['tuple', 'list', 'frozenset', 'dict'], correct: [0, 2] });
    await fillQuestion(host, 2, { prompt: '`len([])` is `0`.', kind: 'truefalse', correct: [0] });
    await fillQuestion(host, 3, { prompt: 'What does this print?\n\n```python\nprint(2 ** 3)\n```', kind: 'choice', options: ['8', '6', '9'], correct: [0], points: 'double' });
    // The open question is left without its prompt: the save must fail.
    await fillQuestion(host, 4, { prompt: '', kind: 'open', mode: 'text', answer: 'One lock around the interpreter', notes: 'NOTE-FOR-HOST-ONLY' });
    await host.locator('.q-edit[data-question="1"]').getByTestId('question-topic').selectOption({ label: 'Basics' });
    await host.locator('.q-edit[data-question="3"]').getByTestId('question-topic').selectOption({ label: 'Code' });
    // The preview renders the fenced block in monospace, as text.
    const pre = host.locator('.q-edit[data-question="3"] .md-preview pre.md-code');
    assert.equal(await pre.textContent(), 'print(2 ** 3)');
    assert.equal(await host.locator('.q-edit[data-question="2"] .md-preview code').first().textContent(), 'len([])');
    assert.equal(await save(host, 'quiz-save'), 'Not saved: 1 problems to fix.');
    const error = host.locator('[data-error-for="questions[4].prompt"]');
    assert.equal(await error.textContent(), 'Write the question.');
    await shot(host, 'editor-inline-error', { fullPage: true });
    assert.equal(await host.locator('[data-field="questions[4].prompt"][aria-invalid=true]').count(), 1);
    await fillQuestion(host, 4, { prompt: 'Explain the GIL.' });
    // Delete a question and undo it.
    await host.locator('.q-edit[data-question="1"]').getByTestId('question-delete').click();
    assert.equal(await host.locator('.q-edit').count(), 4);
    await host.getByTestId('undo-delete').click();
    assert.equal(await host.locator('.q-edit').count(), 5);
    assert.equal(await host.locator('.q-edit[data-question="1"]').getByTestId('question-prompt').inputValue(), 'Which types are immutable?');
    const answer = await save(host, 'quiz-save');
    const problems = await host.locator('[data-error-for], [data-testid=save-errors] li').evaluateAll((els) => els.map((e) => e.textContent));
    assert.deepEqual(problems, [], 'the quiz saves without field errors');
    assert.equal(answer, 'Saved.');
    await host.waitForFunction(() => /^\/edit\/lz[0-9a-f]{16}$/.test(location.pathname));
    await shot(host, 'editor-quiz', { fullPage: true });
    // It is stored: a reload shows the same quiz.
    await host.reload();
    assert.equal(await host.getByTestId('quiz-title').inputValue(), 'Python warm-up');
    assert.equal(await host.locator('.q-edit').count(), 5);
    assert.equal(await host.locator('.q-edit[data-question="3"]').getByTestId('question-points').inputValue(), 'double');
    assert.equal(await host.locator('.q-edit[data-question="4"]').getByTestId('question-mode').inputValue(), 'text');
  });

  await step('a keyless seed question gets four options and a key (Russian)', async () => {
    await host.goto(`${env.server.base}/edit`);
    await host.locator('.lang-switch button', { hasText: /RU|Рус/i }).first().click();
    await waitText(host.locator('main h1'), 'Библиотека');
    await host.getByTestId('bank-search').fill(SEED_PROMPT);
    const hit = host.locator('.pick-list li', { hasText: SEED_PROMPT }).first();
    await hit.getByRole('link').click();
    await host.waitForURL(/\/edit\/q\//);
    await waitText(host.locator('main'), 'как в банке');
    await host.getByTestId('question-kind').selectOption('choice');
    for (let j = 0; j < 4; j++) {
      if ((await host.getByTestId('option-text').count()) <= j) await host.getByTestId('option-add').click();
      await host.getByTestId('option-text').nth(j).fill(['Имя, связанное с объектом', 'Ячейка памяти фиксированного типа', 'Ключевое слово', 'Модуль'][j]);
    }
    // No option is marked yet: the save fails with the error in Russian.
    assert.equal(await save(host, 'edit-save'), 'Не сохранено: исправьте ошибки (1).');
    const error = host.locator('[data-error-for="options"]');
    assert.equal(await error.textContent(), 'Отметьте хотя бы один верный вариант.');
    await shot(host, 'editor-seed-question-ru', { fullPage: true });
    await host.getByTestId('option-correct').nth(0).check();
    assert.equal(await save(host, 'edit-save'), 'Сохранено как ваша версия.');
    await host.reload();
    await waitText(host.locator('main'), 'изменён вами');
    assert.equal(await host.getByTestId('option-text').count(), 4);
    // The seed file on disk is untouched.
    const seeds = fs.readdirSync(path.join(REPO, 'seeds')).map((f) => fs.readFileSync(path.join(REPO, 'seeds', f), 'utf8'));
    assert.ok(seeds.some((s) => s.includes(SEED_PROMPT)) && !seeds.some((s) => s.includes('Имя, связанное с объектом')));
    await host.locator('.lang-switch button', { hasText: /EN/i }).first().click();
  });

  let players = [];
  await step('the quiz runs in a room with two players', async () => {
    await host.goto(`${env.server.base}/edit`);
    await host.locator('.quiz-list li', { hasText: 'Python warm-up' }).getByRole('button', { name: 'Run in a room' }).click();
    await host.waitForURL(/\/host\/[A-Z0-9]{6}$/);
    code = (await host.getByTestId('room-code').textContent()).trim();
    await host.locator('.conn-online').waitFor();
    await host.locator('.banks .chip.chip-on', { hasText: 'Python warm-up' }).waitFor();
    const ann = await newPage(env.browser, PHONE, 'ann');
    const boris = await newPage(env.browser, { ...PHONE, locale: 'ru-RU' }, 'boris');
    for (const [page, name] of [[ann, 'Ann'], [boris, 'Борис']]) {
      await page.goto(`${env.server.base}/join/${code}`);
      await page.locator('#name').fill(name);
      await page.locator('form.join-form button[type=submit]').click();
      await page.getByTestId('me').waitFor();
    }
    players = [ann, boris];
    await host.locator('.segmented input[value=vote]').check({ force: true });
    // Drawing from the chosen quiz: every vote-able question, one by one.
    for (let seq = 1; seq <= 4; seq++) {
      await host.getByTestId('draw').click();
      for (const p of players) await p.locator(`.question[data-qid="${seq}"]`).waitFor();
      const prompt = await host.getByTestId('host-prompt').textContent();
      if (prompt.includes('print')) {
        // Code reaches players as a monospace block, never as markup.
        assert.equal(await ann.locator('#prompt pre.md-code').textContent(), 'print(2 ** 3)');
        await shot(ann, 'player-phone-code-question');
      }
      const options = await host.locator('.host-options li').allTextContents();
      const right = options.findIndex((o) => /correct/.test(o));
      assert.ok(right >= 0, `a key for ${prompt}`);
      assert.equal(await ann.locator('.opt.correct').count(), 0, 'no key before the reveal');
      const multi = options.filter((o) => /correct/.test(o)).length > 1;
      // Options are shuffled: each player taps the key by its text.
      const key = await keyTexts(host);
      if (multi) {
        for (const text of key) await optionByText(ann, text).click();
        await ann.getByRole('button', { name: 'Send' }).click();
        await (await wrongOption(boris, key)).button.click();
        await boris.getByRole('button', { name: 'Отправить' }).click();
      } else {
        await optionByText(ann, key[0]).click();
        await (await wrongOption(boris, key)).button.click();
      }
      await waitText(host.getByTestId('answered'), '2 of 2 answered');
      await host.getByTestId('reveal').click();
      await waitText(ann.getByTestId('points'), /\+\d+ points/);
    }
    // The open question runs as a buzz round.
    await host.locator('.segmented input[value=buzz]').check({ force: true });
    await host.getByTestId('draw').click();
    await waitText(host.getByTestId('host-prompt'), 'Explain the GIL.');
    await waitText(host.locator('main, body'), 'NOTE-FOR-HOST-ONLY');
    await ann.locator('.question[data-qid="5"]').waitFor();
    assert.equal(await ann.getByText('NOTE-FOR-HOST-ONLY').count(), 0, 'host notes never reach players');
    await host.getByTestId('reveal').click();
  });

  await step('the edited seed question runs as a scored vote', async () => {
    const [ann, boris] = players;
    await host.locator('.segmented input[value=vote]').check({ force: true });
    await host.locator('.pick summary').click();
    await host.locator('#pick-search').fill(SEED_PROMPT);
    const hit = host.locator('.pick-list li', { hasText: SEED_PROMPT }).first();
    await hit.locator('.badge').waitFor();
    await hit.getByRole('button').click();
    for (const p of players) await p.locator('.question[data-qid="6"]').waitFor();
    assert.equal(await ann.locator('.opt').count(), 4);
    const seedKey = await keyTexts(host);
    await optionByText(ann, seedKey[0]).click();
    await (await wrongOption(boris, seedKey)).button.click();
    await waitText(host.getByTestId('answered'), '2 of 2 answered');
    await host.getByTestId('reveal').click();
    await waitText(ann.getByTestId('points'), /\+\d+ points/);
    await waitText(boris.getByTestId('points'), /без очков/);
  });

  await step("a picked question is asked in its own default mode", async () => {
    const [ann] = players;
    // The console is on vote; the open question was written to run as text.
    assert.equal(await host.locator('.segmented input[value=vote]').isChecked(), true);
    await host.locator('#pick-search').fill('Explain the GIL');
    const hit = host.locator('.pick-list li', { hasText: 'Explain the GIL.' }).first();
    assert.equal(await hit.getByTestId('pick-mode').inputValue(), 'text', 'its default mode is preselected');
    await host.locator('#pick-search').fill(SEED_PROMPT);
    const seed = host.locator('.pick-list li', { hasText: SEED_PROMPT }).first();
    assert.equal(await seed.getByTestId('pick-mode').inputValue(), 'vote', 'a question without one takes the console mode');
    await host.locator('#pick-search').fill('Explain the GIL');
    await host.locator('.pick-list li', { hasText: 'Explain the GIL.' }).first().getByRole('button', { name: 'Ask' }).click();
    await ann.locator('.question[data-qid="7"]').waitFor();
    await host.locator('.badge.mode-text').first().waitFor();
    await ann.locator('textarea, input[type=text]').first().waitFor();
    await host.getByTestId('reveal').click();
  });

  await step('the results download as a workbook with three sheets', async () => {
    const [download] = await Promise.all([host.waitForEvent('download'), host.getByTestId('xlsx').click()]);
    assert.equal(download.suggestedFilename(), `quizroom-${code}-results.xlsx`);
    const book = readXlsx(await download.path());
    assert.deepEqual(Object.keys(book), ['players', 'questions', 'topics']);
    assert.deepEqual(book.players[0].slice(0, 3), ['place', 'name', 'score']);
    const names = book.players.slice(1).map((r) => r[1]);
    assert.deepEqual(names.sort(), ['Ann', 'Борис']);
    const ann = book.players.find((r) => r[1] === 'Ann');
    assert.equal(ann[0], '1', 'Ann is first');
    assert.ok(Number(ann[2]) > 4000, `Ann's score ${ann[2]}`);
    const prompts = book.questions.slice(1).map((r) => r[3]);
    assert.equal(prompts.length, 7);
    assert.ok(prompts.some((p) => p.includes('print(2 ** 3)')));
    assert.ok(prompts.includes(SEED_PROMPT), 'the edited seed question is in the results');
    assert.ok(book.topics.length >= 3, 'a row per topic');
  });

  await step('reorder, duplicate, delete and undo, and the quiz as a workbook with its topic paths', async () => {
    await host.goto(`${env.server.base}/edit`);
    await host.locator('.quiz-list li', { hasText: 'Python warm-up' }).locator('a.quiz-title').click();
    await host.waitForFunction(() => /^\/edit\/lz[0-9a-f]{16}$/.test(location.pathname));
    const prompts = async () => {
      await host.locator('.q-edit').first().waitFor();
      return host.getByTestId('question-prompt').evaluateAll((els) => els.map((e) => e.value));
    };
    const before = await prompts();
    assert.equal(before.length, 5);
    // Duplicate the second question, move the copy to the top.
    await host.locator('.q-edit[data-question="1"]').getByTestId('question-duplicate').click();
    await host.locator('.q-edit[data-question="2"]').getByRole('button', { name: 'Move up', exact: true }).click();
    await host.locator('.q-edit[data-question="1"]').getByRole('button', { name: 'Move up', exact: true }).click();
    assert.deepEqual(await prompts(), [before[1], before[0], before[1], ...before.slice(2)]);
    assert.equal(await save(host, 'quiz-save'), 'Saved.');
    await host.reload();
    assert.deepEqual(await prompts(), [before[1], before[0], before[1], ...before.slice(2)], 'the new order is stored');
    // Delete the copy again, and the order is back.
    await host.locator('.q-edit[data-question="0"]').getByTestId('question-delete').click();
    assert.equal(await save(host, 'quiz-save'), 'Saved.');
    await host.reload();
    assert.deepEqual(await prompts(), before);
    // The whole quiz deleted from the list, and the delete undone.
    await host.goto(`${env.server.base}/edit`);
    const row = host.locator('.quiz-list li', { hasText: 'Python warm-up' });
    await row.getByTestId('quiz-delete').click();
    await host.getByTestId('quiz-undo').waitFor();
    assert.equal(await host.locator('.quiz-list li', { hasText: 'Python warm-up' }).count(), 0);
    await host.getByTestId('quiz-undo').click();
    await host.locator('.quiz-list li', { hasText: 'Python warm-up' }).waitFor();
    // Excel export: Kahoot's columns and the topic of each question.
    const [download] = await Promise.all([host.waitForEvent('download'), host.locator('.quiz-list li', { hasText: 'Python warm-up' }).getByTestId('export-xlsx').click()]);
    const sheet = Object.values(readXlsx(await download.path()))[0];
    const topic = sheet[0].indexOf('Topic');
    assert.ok(topic > 0, `a Topic column in ${sheet[0]}`);
    const byPrompt = Object.fromEntries(sheet.slice(1).map((r) => [r[0], r[topic] || '']));
    assert.equal(byPrompt['Which types are immutable?'], 'Basics');
    assert.equal(byPrompt['Which keyword defines a function?'], '');
  });

  await step('screenshots of the editor', async () => {
    await host.goto(`${env.server.base}/edit`);
    await host.locator('.quiz-list li').first().waitFor();
    await shot(host, 'editor-library', { fullPage: true });
    const docs = path.join(REPO, 'docs', 'screenshots');
    if (process.env.QUIZROOM_UPDATE_SCREENSHOTS) {
      for (const name of ['editor-library', 'editor-quiz', 'editor-inline-error', 'editor-seed-question-ru', 'player-phone-code-question']) {
        fs.copyFileSync(path.join(REPO, 'tests', 'e2e', 'artifacts', `${name}.png`), path.join(docs, `${name}.png`));
      }
    }
  });
});
