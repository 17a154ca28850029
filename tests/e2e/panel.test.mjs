// An interview panel in the browser: the owner invites two interviewers
// by link, three candidates join a private room, a mixed session (typed
// answers scored and noted by both interviewers, a buzz judged by one),
// then the per-candidate report is opened and printed to PDF by Chromium.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, joinRoom, LAPTOP, newPage, shot, startServer, useServerAndBrowser } from './harness.mjs';

const env = useServerAndBrowser();

const join = (code, name) => joinRoom(env, code, name);

/** Gives each typed answer (by its text) a score and, optionally, a note. */
async function score(page, marks) {
  for (const [text, value, note] of marks) {
    const row = page.locator('[data-testid=answers] li', { hasText: text });
    await row.locator(`button.score[data-score="${value}"]`).click();
    await row.locator(`button.score.on[data-score="${value}"]`).waitFor();
    if (note) {
      await row.getByTestId('note').fill(note);
      await row.getByTestId('note').press('Enter');
      await row.getByTestId('note').blur();
      await row.locator('[data-testid=marks] li', { hasText: note }).waitFor();
    }
  }
}

test('interview panel: two interviewers, three candidates, a printed report', async () => {
  const owner = await newPage(env.browser, LAPTOP, 'owner');
  owner.on('dialog', (d) => d.accept());
  await owner.goto(`${env.server.base}/host`);
  await owner.locator('#room-private').check();
  await owner.getByTestId('create-room').click();
  await owner.waitForURL(/\/host\/[A-Z0-9]{6}$/);
  const code = (await owner.getByTestId('room-code').textContent()).trim();
  await owner.locator('.conn-online').waitFor();

  // Two interviewers, each with a link of their own.
  for (const name of ['Irina', 'Oleg']) {
    await owner.locator('#interviewer-name').fill(name);
    await owner.getByTestId('add-interviewer').click();
    await owner.locator('[data-testid=panel-link]', { hasText: name }).waitFor();
  }
  const links = await owner.locator('[data-testid=panel-link]').evaluateAll((as) => as.map((a) => a.href));
  assert.equal(links.length, 2);
  assert.notEqual(links[0], links[1], 'each interviewer has its own token');
  const [irina, oleg] = [await newPage(env.browser, LAPTOP, 'irina'), await newPage(env.browser, LAPTOP, 'oleg')];
  await irina.goto(links[0]);
  await oleg.goto(links[1]);
  await irina.getByTestId('panel-me').filter({ hasText: 'Irina' }).waitFor();
  await oleg.getByTestId('panel-me').filter({ hasText: 'Oleg' }).waitFor();
  for (const page of [irina, oleg]) {
    assert.equal(await page.getByTestId('draw').count(), 0, 'interviewers do not ask');
    assert.equal(await page.getByTestId('end').count(), 0, 'interviewers do not end');
    assert.equal(await page.getByTestId('panel').count(), 0, 'interviewers do not manage the panel');
  }

  const cands = { Ann: await join(code, 'Ann'), Bob: await join(code, 'Bob'), Cid: await join(code, 'Cid') };
  await irina.locator('.player-list li').nth(2).waitFor();

  // Question 1, typed answers: both interviewers score, one marks, one notes.
  await owner.locator('.segmented input[value=text]').check({ force: true });
  await owner.locator('.pick summary').click();
  await owner.locator('#pick-search').fill('How many continents');
  await owner.locator('.pick-list li', { hasText: 'How many continents' }).getByRole('button').click();
  const typed = { Ann: 'Seven continents', Bob: 'Six, counting Eurasia', Cid: 'Five' };
  for (const [who, text] of Object.entries(typed)) {
    await cands[who].locator('.question[data-qid="1"]').waitFor();
    await cands[who].locator('#answer').fill(text);
    await cands[who].locator('#answer').press('Enter');
  }
  for (const page of [owner, irina, oleg]) await page.locator('[data-testid=answers] li').nth(2).waitFor();
  await irina.locator('[data-testid=answers] li', { hasText: 'Seven' }).locator('button.ok').click();
  await owner.locator('[data-testid=answers] li.marked-right', { hasText: 'Seven' }).waitFor();
  await score(irina, [['Seven', 3, 'Knew it at once'], ['Six', 2, 'Reasoned well'], ['Five', 1]]);
  await score(oleg, [['Seven', 2], ['Six', 2], ['Five', 0, 'Guessed']]);
  // Side by side and averaged, for the owner and the other interviewer.
  const annRow = owner.locator('[data-testid=answers] li', { hasText: 'Seven' });
  await annRow.locator('[data-testid=marks] li', { hasText: 'Irina: 3/3 — Knew it at once' }).waitFor();
  await annRow.locator('[data-testid=marks] li', { hasText: 'Oleg: 2/3' }).waitFor();
  await annRow.getByTestId('avg').filter({ hasText: '2.5' }).waitFor();
  await oleg.locator('[data-testid=answers] li', { hasText: 'Seven' }).getByTestId('avg').filter({ hasText: '2.5' }).waitFor();
  await shot(irina, 'panel-interviewer', { fullPage: true });
  await owner.getByTestId('reveal').click();

  // Question 2, buzz: an interviewer judges the floor holder.
  await owner.locator('.segmented input[value=buzz]').check({ force: true });
  await owner.getByTestId('draw').click();
  await cands.Bob.locator('.question[data-qid="2"]').waitFor();
  await cands.Bob.locator('[data-testid=buzz]:enabled').click();
  await oleg.getByTestId('judge-right').click();
  await owner.locator('.player-list li', { hasText: 'Bob' }).locator('.p-score', { hasText: '1000' }).waitFor();
  await shot(owner, 'panel-owner', { fullPage: true });

  // The candidates never see the panel's work.
  for (const page of Object.values(cands)) {
    const text = await page.locator('body').innerText();
    for (const secret of ['Irina', 'Oleg', 'Knew it at once', 'Guessed']) assert.ok(!text.includes(secret), `a candidate saw ${secret}`);
  }

  await owner.getByTestId('end').click();
  await owner.getByTestId('reports').waitFor();
  // An interviewer opens the reports with its own panel token.
  await irina.getByTestId('reports').waitFor();
  const irinaLink = await irina.locator('[data-testid=report-link]', { hasText: 'Bob' }).getAttribute('href');
  assert.ok(irinaLink.includes(encodeURIComponent(links[0].split('#')[1])), 'the panel token, not the owner token');
  const viaPanel = await irina.evaluate(async (href) => {
    const r = await fetch(href);
    return { status: r.status, text: await r.text() };
  }, irinaLink);
  assert.equal(viaPanel.status, 200);
  assert.ok(viaPanel.text.includes('Six, counting Eurasia') && viaPanel.text.includes('Reasoned well'));
  const reportUrl = await owner.locator('[data-testid=report-link]', { hasText: 'Ann' }).getAttribute('href');
  const report = await newPage(env.browser, LAPTOP, 'report');
  await report.goto(`${env.server.base}${reportUrl}`);
  await report.locator('section.candidate h1', { hasText: 'Ann' }).waitFor();
  assert.equal(await report.locator('svg.kmap').count(), 1, 'the knowledge map is an inline SVG');
  assert.ok((await report.locator('svg.kmap rect.kbar').count()) >= 1);
  const body = await report.locator('body').innerText();
  for (const text of ['Seven continents', 'Irina', 'Oleg', 'Knew it at once', '2.5', 'right (Irina)']) assert.ok(body.includes(text), `report has ${text}`);
  await shot(report, 'report-candidate', { fullPage: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const pdfPath = path.join(ARTIFACTS, 'report-ann.pdf');
  await report.pdf({ path: pdfPath, format: 'A4', printBackground: true });
  const pdf = fs.readFileSync(pdfPath).toString('latin1');
  assert.equal((pdf.match(/\/Type\s*\/Page[^s]/g) || []).length, 1, 'one candidate prints on one A4 page');

  // Every candidate at once: one page each.
  await report.goto(`${env.server.base}${reportUrl.replace(/&player_id=\d+/, '')}`);
  await report.locator('section.candidate').nth(2).waitFor();
  const allPath = path.join(ARTIFACTS, 'report-all.pdf');
  await report.pdf({ path: allPath, format: 'A4' });
  const all = fs.readFileSync(allPath).toString('latin1');
  assert.equal((all.match(/\/Type\s*\/Page[^s]/g) || []).length, 3, 'three candidates, three pages');
  // The room history on /host lists the screening with its reports and
  // results for the retention period, each format one click away.
  await owner.goto(`${env.server.base}/host`);
  const past = owner.locator(`[data-testid=history-room][data-code="${code}"]`);
  await past.waitFor();
  assert.equal(await past.getAttribute('data-status'), 'ended');
  await past.getByTestId('history-kept').filter({ hasText: /\d/ }).waitFor();
  const fromHistory = await newPage(env.browser, LAPTOP, 'history-report');
  await fromHistory.goto(`${env.server.base}${await past.getByTestId('history-report').getAttribute('href')}`);
  await fromHistory.locator('section.candidate').nth(2).waitFor();
  assert.ok((await fromHistory.locator('body').innerText()).includes('Knew it at once'));
  const fetched = await owner.evaluate(async (hrefs) => {
    const out = [];
    for (const href of hrefs) {
      const r = await fetch(href);
      const bytes = new Uint8Array(await r.arrayBuffer());
      out.push({ status: r.status, type: (r.headers.get('content-type') || '').split(';')[0], head: new TextDecoder().decode(bytes.slice(0, 8)).slice(0, 2) });
    }
    return out;
  }, [await past.getByTestId('history-report-xlsx').getAttribute('href'), await past.getByTestId('history-report-csv').getAttribute('href')]);
  assert.deepEqual(fetched, [
    { status: 200, type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', head: 'PK' },
    { status: 200, type: 'text/csv', head: 'pl' },
  ]);
  const download = owner.waitForEvent('download');
  await past.getByTestId('history-results').click();
  assert.match((await download).suggestedFilename(), new RegExp(`quizroom-${code}-results\\.xlsx`));
  await shot(owner, 'host-history');

  for (const page of [owner, irina, oleg, report, fromHistory]) assert.deepEqual(page.errors, []);
});

test('past the retention period the history marks the room expired and its report link answers so', async () => {
  const short = await startServer(['--retention-hours', '0']);
  try {
    const owner = await newPage(env.browser, LAPTOP, 'owner-expired');
    owner.on('dialog', (d) => d.accept());
    await owner.goto(`${short.base}/host`);
    await owner.getByTestId('create-room').click();
    await owner.waitForURL(/\/host\/[A-Z0-9]{6}$/);
    const code = (await owner.getByTestId('room-code').textContent()).trim();
    await owner.locator('.conn-online').waitFor();
    await owner.getByTestId('end').click();
    await owner.getByTestId('summary').waitFor();
    await owner.goto(`${short.base}/host`);
    const past = owner.locator(`[data-testid=history-room][data-code="${code}"]`);
    await past.waitFor();
    assert.equal(await past.getAttribute('data-status'), 'expired');
    await past.getByTestId('history-status').filter({ hasText: 'deleted' }).waitFor();
    assert.equal(await past.getByTestId('history-report').count(), 0, 'no links to what is gone');
    // A report link kept from earlier gets a typed answer, not a blank page.
    const reply = await owner.evaluate(async (code) => {
      const token = JSON.parse(localStorage.getItem('quizroom.hostToken'));
      const r = await fetch(`/api/rooms/${code}/report?token=${encodeURIComponent(token)}`);
      return { status: r.status, code: (await r.json()).error.code };
    }, code);
    assert.deepEqual(reply, { status: 410, code: 'expired' });
    assert.deepEqual(owner.errors, []);
  } finally {
    await short.stop();
  }
});
