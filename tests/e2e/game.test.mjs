// A whole game in real headless Chromium against the real server: a host
// creates a room and picks topics, three players join in separate browser
// contexts (one on a 360 px phone, one in Russian), then a buzz round with
// judging, a vote round with a live tally and reveal, a self-assessment
// round during which a player refreshes and keeps the seat, a typed-answer
// round with a peer vote, the leaderboard, the CSV download and the end.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { chainedSteps, joinRoom, keyTexts, LAPTOP, newPage, optionByText, overflowsX, PHONE, PROJECTOR, shot, useServerAndBrowser, waitText, wrongOption } from './harness.mjs';

const pages = {};
let code = '';

/**
 * Cleo's WebSocket goes through a proxy the test controls, so it can cut
 * the connection (as a lost network would) and keep it down for a while.
 */
const network = { down: false, sockets: [] };
async function proxySocket(page) {
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (network.down) {
      ws.close({ code: 1001, reason: 'network down' });
      return;
    }
    const server = ws.connectToServer();
    network.sockets.push({ page: ws, server });
  });
}

const env = useServerAndBrowser();

/** Opens /join/CODE in a new context and joins as `name`. */
const join = (name, device, label, beforeGoto) => joinRoom(env, code, name, { device, label, beforeGoto });

/** Tries to join and returns the error text shown. */
async function joinError(page, roomCode, name) {
  await page.goto(`${env.server.base}/join/${roomCode}`);
  await page.locator('#name').fill(name);
  await page.locator('form.join-form button[type=submit]').click();
  const alert = page.locator('#form-error');
  await alert.waitFor();
  return alert.textContent();
}

async function chooseMode(mode) {
  await pages.host.locator(`.segmented input[value=${mode}]`).check({ force: true });
}

/** Waits until every player page shows question `seq` open for input. */
async function questionOnPlayers(seq) {
  for (const page of [pages.alice, pages.boris, pages.cleo]) {
    await page.locator(`.question[data-qid="${seq}"]`).waitFor();
  }
}

async function hostState() {
  return pages.host.getByTestId('q-state').getAttribute('class');
}

/** Waits until the server holds no live room (an ended room is removed). */
async function waitRoomsGone() {
  for (let i = 0; i < 100; i += 1) {
    const text = await (await fetch(`${env.server.base}/metrics`)).text();
    if (/^quizroom_rooms 0$/m.test(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the ended room stayed in memory');
}

test('a full game in the browser', async (t) => {
  // Steps build on each other: after a failure the rest are skipped.
  const step = chainedSteps(t);
  await step('host creates a room and sees its code, link and QR', async () => {
    pages.host = await newPage(env.browser, LAPTOP, 'host');
    pages.host.on('dialog', (d) => d.accept());
    await pages.host.goto(`${env.server.base}/host`);
    await pages.host.getByTestId('create-room').click();
    await pages.host.waitForURL(/\/host\/[A-Z0-9]{6}$/);
    code = (await pages.host.getByTestId('room-code').textContent()).trim();
    assert.match(code, /^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/);
    await pages.host.locator('.conn-online').waitFor();
    const qr = pages.host.locator('img.qr-host');
    await qr.waitFor();
    assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'QR image loads');
    assert.match(await pages.host.locator('.join-link').textContent(), new RegExp(`/join/${code}$`));
  });

  await step('host picks topics: a parent selects its children', async () => {
    const host = pages.host;
    const parent = host.locator('.tree > li', { has: host.locator('label', { hasText: /^Computer Science$/ }) });
    await parent.locator(':scope > .tree-row .twisty').click();
    await parent.locator(':scope > .tree-row input').check();
    const child = parent.locator('ul .tree-row', { hasText: 'Networking' }).locator('input');
    assert.equal(await child.isChecked(), true, 'checking a parent checks its children');
    await parent.locator(':scope > .tree-row input').uncheck();
    assert.equal(await child.isChecked(), false);
    // A whole bank can be chosen too, and dropped again from the chosen list.
    await host.locator('.banks .chip', { hasText: 'classroom' }).click();
    await host.locator('.banks .chip.chip-on[aria-pressed=true]', { hasText: 'classroom' }).waitFor();
    await waitText(host.getByTestId('topic-count'), '18 questions in the chosen topics');
    await host.locator('.chosen .chip', { hasText: 'classroom' }).locator('.chip-x').click();
    await host.locator('.banks .chip[aria-pressed=false]', { hasText: 'classroom' }).waitFor();
    await host.locator('.tree-row', { hasText: /^\s*Geography/ }).locator('input').first().check();
    await waitText(host.getByTestId('topic-count'), /\d+ questions in the chosen topics/);
  });

  await step('the big screen shows the join code and QR', async () => {
    pages.screen = await newPage(env.browser, PROJECTOR, 'screen');
    await pages.screen.goto(`${env.server.base}/screen/${code}`);
    await waitText(pages.screen.getByTestId('screen-code'), code);
    await pages.screen.locator('img.qr-screen').waitFor();
  });

  await step('three players join; names are shown as text', async () => {
    pages.alice = await join('Alice', LAPTOP, 'alice');
    pages.boris = await join('Борис', { viewport: { width: 800, height: 900 }, locale: 'ru-RU' }, 'boris');
    pages.cleo = await join('<i>Cleo</i>', PHONE, 'cleo', proxySocket);
    await waitText(pages.host.getByRole('heading', { name: /Players \(3\)/ }), /3/);
    const names = await pages.host.locator('.player-list .p-name').allTextContents();
    assert.deepEqual([...names].sort(), ['<i>Cleo</i>', 'Alice', 'Борис'].sort());
    assert.equal(await pages.host.locator('.player-list i').count(), 0, 'no markup from a nickname');
    await waitText(pages.screen.locator('.name-cloud'), '<i>Cleo</i>');
    assert.equal(await overflowsX(pages.cleo), false);
    assert.equal(await pages.boris.evaluate(() => document.documentElement.lang), 'ru');
    await shot(pages.host, 'host-lobby', { fullPage: true });
    await shot(pages.screen, 'screen-lobby');
    await shot(pages.cleo, 'player-phone-lobby');
  });

  await step('joining shows clear errors: wrong code, name taken, room locked', async () => {
    const dana = await newPage(env.browser, PHONE, 'dana');
    const wrong = code === 'ZZZZZZ' ? 'YYYYYY' : 'ZZZZZZ';
    assert.match(await joinError(dana, wrong, 'Dana'), /no room with this code/);
    assert.match(await joinError(dana, code, 'alice'), /already has this nickname/);
    await pages.host.getByTestId('lock').click();
    await pages.host.locator('[data-testid=lock][aria-pressed=true]').waitFor();
    assert.match(await joinError(dana, code, 'Dana'), /locked this room/);
    await pages.host.getByTestId('lock').click();
    await pages.host.locator('[data-testid=lock][aria-pressed=false]').waitFor();
    // Unlocked again: Dana gets in, then the host removes her for good.
    await dana.locator('form.join-form button[type=submit]').click();
    await dana.getByTestId('me').waitFor();
    await waitText(pages.host.getByRole('heading', { name: /Players \(4\)/ }), /4/);
    await pages.host.getByRole('button', { name: 'Remove Dana' }).click();
    await dana.getByTestId('view-kicked').waitFor();
    await waitText(pages.host.getByRole('heading', { name: /Players \(3\)/ }), /3/);
    // A new nickname from the same browser does not get her back in.
    await dana.goto(`${env.server.base}/join/${code}`);
    await dana.locator('#name').fill('Dana again');
    await dana.locator('form.join-form button[type=submit]').click();
    await dana.getByTestId('view-kicked').waitFor();
    await dana.context().close();
  });

  await step('buzz round: queue, floor, judged wrong then right', async () => {
    const { host, alice, boris, cleo } = pages;
    await chooseMode('buzz');
    await host.getByTestId('draw').click();
    await questionOnPlayers(1);
    await boris.locator('[data-testid=buzz]:enabled').waitFor();
    await boris.keyboard.press('Space');
    await boris.locator('.buzz-btn.floor').waitFor();
    await alice.getByTestId('buzz').click();
    await waitText(alice.locator('.ack'), /#2 in the queue/);
    await waitText(cleo.locator('.ack'), /Борис is answering/);
    await host.locator('[data-testid=queue] li').nth(1).waitFor();
    const queue = await host.locator('[data-testid=queue] .q-name').allTextContents();
    assert.deepEqual(queue, ['Борис', 'Alice']);
    assert.match(await host.locator('[data-testid=queue] li.floor').textContent(), /Борис/);
    // Both browsers answered the server's clock probes and sent their press
    // time: the host sees each press's arrival next to its compensated time.
    assert.equal(await host.locator('[data-testid=queue] [data-testid=arrival]').count(), 2);
    await pages.screen.locator('.screen-queue li').nth(1).waitFor();
    assert.equal(await pages.screen.locator('.screen-queue li.floor').textContent(), '1Борис');
    await shot(host, 'host-buzz', { fullPage: true });
    await shot(cleo, 'player-phone-buzz');
    await host.getByTestId('judge-wrong').click();
    await alice.locator('.buzz-btn.floor').waitFor();
    // The host judges the floor its console shows: wait until that is
    // Alice (a loaded machine may draw Alice's phone first; a "right"
    // pressed while the console still showed Борис was refused).
    await host.locator('[data-testid=queue] li.floor', { hasText: 'Alice' }).waitFor();
    await host.keyboard.press('y');
    await host.getByTestId('reveal').click();
    await waitText(alice.getByTestId('points'), /\+1000 points/);
    await waitText(alice.getByTestId('my-score'), /1000/);
    // The host's player list follows the scores without asking for them.
    await waitText(host.locator('.player-list li', { hasText: 'Alice' }).locator('.p-score'), /^1000$/);
    await waitText(boris.getByTestId('points'), /без очков/);
  });

  await step('vote round: picked question, live tally, reveal', async () => {
    const { host, alice, boris, cleo, screen } = pages;
    await chooseMode('vote');
    await host.locator('#limit').selectOption('60');
    await host.locator('.pick summary').click();
    await host.locator('#pick-search').fill('capital of Australia');
    await host.locator('.pick-list li', { hasText: 'capital of Australia' }).getByRole('button').click();
    await questionOnPlayers(2);
    await waitText(host.getByTestId('host-prompt'), 'capital of Australia');
    // The prompt sits in a live region so screen readers announce each question.
    await waitText(cleo.locator('#prompt[aria-live=polite]'), 'capital of Australia');
    const options = await host.locator('.host-options li').allTextContents();
    const right = options.findIndex((o) => o.includes('Canberra'));
    assert.ok(right >= 0, 'Canberra is an option');
    assert.match(options[right], /correct/, 'the host sees the key');
    // Options are shuffled: each player taps the key by its text.
    const [key] = await keyTexts(host);
    const wrong = options.findIndex((o, i) => i !== right);
    // A time limit shows a countdown that the host can pause.
    await cleo.locator('.countdown').waitFor();
    await host.getByTestId('pause').click();
    await cleo.locator('.countdown.paused').waitFor();
    await screen.locator('.countdown.paused').waitFor();
    await host.getByTestId('pause').click();
    await cleo.locator('.countdown:not(.paused)').waitFor();
    // Players never see the key before the reveal.
    assert.equal(await alice.locator('.opt.correct, .bar-row.correct').count(), 0);
    await optionByText(alice, key).click();
    await boris.keyboard.press(String((await wrongOption(boris, [key])).index + 1));
    await optionByText(cleo, key).tap();
    await waitText(alice.locator('.ack'), /your answer is in/);
    await waitText(boris.locator('.ack'), /ответ учтён/);
    await waitText(cleo.locator('.ack'), /your answer is in/);
    await waitText(host.getByTestId('answered'), '3 of 3 answered');
    await waitText(screen.locator('.answered'), '3 / 3 answered');
    const counts = await host.locator('.tally-live .bar-count').allTextContents();
    assert.match(counts[right], /^2/);
    assert.match(counts[wrong], /^1/);
    await shot(host, 'host-vote-tally', { fullPage: true });
    await shot(screen, 'screen-vote-tally');
    await shot(cleo, 'player-phone-vote');
    assert.equal(await overflowsX(cleo), false, 'the question fits a 360 px phone');
    await host.keyboard.press('r');
    await screen.locator('.bar-row.correct').waitFor();
    await waitText(alice.getByTestId('points'), /\+\d+ points/);
    await waitText(boris.getByTestId('points'), /без очков/);
    await cleo.locator('.bar-row.correct.mine').waitFor();
    await shot(cleo, 'player-phone-vote-reveal');
    await shot(screen, 'screen-vote-reveal');
  });

  await step('self-assessment round; a player refreshes and keeps the seat', async () => {
    const { host, alice, boris, cleo } = pages;
    await chooseMode('self');
    await host.locator('#limit').selectOption('0');
    await host.getByTestId('draw').click();
    await questionOnPlayers(3);
    await waitText(cleo.locator('.q-timer'), 'No time limit');
    assert.equal(await cleo.locator('.countdown').count(), 0, 'no countdown without a limit');
    assert.equal(await cleo.locator('.opt').count(), 3);
    await alice.locator('.opt[data-index="0"]').click();
    await boris.locator('.opt[data-index="1"]').click();
    await waitText(boris.locator('.ack'), /ответ учтён/);
    const scoreBefore = await boris.getByTestId('my-score').textContent();
    await boris.reload();
    await boris.locator('.question[data-qid="3"]').waitFor();
    await boris.locator('.opt[data-index="1"][aria-pressed=true]').waitFor();
    assert.equal(await boris.getByTestId('my-score').textContent(), scoreBefore);
    assert.match(await boris.getByTestId('me').textContent(), /Борис/);
    await cleo.locator('.opt[data-index="2"]').click();
    await waitText(host.getByTestId('answered'), '3 of 3 answered');
    assert.equal(await host.locator('.player-list li').count(), 3, 'no extra seat after the refresh');
    await host.locator('.player-list li.offline').waitFor({ state: 'detached' });
    await shot(cleo, 'player-phone-self');
    await host.getByTestId('reveal').click();
    await cleo.locator('.reveal .bar-row.mine').waitFor();
  });

  await step('poll round: players see the live tally and may change their vote', async () => {
    const { host, alice, boris, cleo } = pages;
    await chooseMode('poll');
    await host.locator('#pick-search').fill('largest country');
    await host.locator('.pick-list li', { hasText: 'largest country' }).getByRole('button').click();
    await questionOnPlayers(4);
    await alice.locator('.opt[data-index="0"]').click();
    await waitText(alice.locator('.ack'), /change it until the host closes/);
    await boris.locator('.opt[data-index="1"]').click();
    await alice.locator('.q-result .histogram').waitFor();
    await waitText(alice.locator('.q-result .bar-count').nth(1), /^1/);
    await alice.locator('.opt[data-index="1"]').click();
    await waitText(alice.locator('.q-result .bar-count').nth(1), /^2/);
    await cleo.locator('.opt[data-index="0"]').click();
    await waitText(host.getByTestId('answered'), '3 of 3 answered');
    await host.getByTestId('close').click();
    await cleo.locator('.opt:disabled').first().waitFor();
    await host.getByTestId('reveal').click();
    await alice.locator('.reveal .bar-row.mine').waitFor();
  });

  await step('a lost connection shows "reconnecting" and comes back to the same seat', async () => {
    const { host, cleo } = pages;
    const scoreBefore = await cleo.getByTestId('my-score').textContent();
    network.down = true;
    for (const ws of network.sockets.splice(0)) {
      await ws.server.close({ code: 1001, reason: 'network down' });
      await ws.page.close({ code: 1001, reason: 'network down' });
    }
    await cleo.getByTestId('reconnecting').waitFor();
    await shot(cleo, 'player-phone-reconnecting');
    network.down = false;
    await cleo.getByTestId('reconnecting').waitFor({ state: 'detached', timeout: 20_000 });
    await cleo.locator('.conn-online').waitFor();
    assert.equal(await cleo.getByTestId('my-score').textContent(), scoreBefore);
    await host.locator('.player-list li.offline').waitFor({ state: 'detached' });
    assert.equal(await host.locator('.player-list li').count(), 3);
  });

  await step('typed-answer round with marking and a peer vote', async () => {
    const { host, alice, boris, cleo } = pages;
    await chooseMode('text');
    // Typed answers fit open and short-answer questions only: the one
    // short-answer question of the topic (the self round may have drawn it,
    // so it is picked by hand).
    await host.locator('#pick-search').fill('How many continents');
    await host.locator('.pick-list li', { hasText: 'How many continents' }).getByRole('button').click();
    await questionOnPlayers(5);
    await waitText(host.getByTestId('host-prompt'), 'How many continents');
    const typed = { alice: 'Seven', boris: 'Шесть', cleo: 'Five, I think' };
    for (const [who, text] of Object.entries(typed)) {
      await pages[who].locator('#answer').fill(text);
      await pages[who].locator('#answer').press('Enter');
    }
    await waitText(alice.locator('.ack'), /Answer sent/);
    await waitText(cleo.locator('.ack'), /Answer sent/);
    await cleo.locator('#answer:disabled').waitFor();
    await host.locator('[data-testid=answers] li').nth(2).waitFor();
    const aliceRow = host.locator('[data-testid=answers] li', { hasText: 'Seven' });
    await aliceRow.locator('button.ok').click();
    await host.locator('[data-testid=answers] li.marked-right').waitFor();
    // The host console survives a refresh: token from the browser, state from the server.
    await host.reload();
    await host.locator('.conn-online').waitFor();
    await host.locator('[data-testid=answers] li').nth(2).waitFor();
    await host.locator('[data-testid=answers] li.marked-right', { hasText: 'Seven' }).waitFor();
    await host.locator('.chosen', { hasText: 'Geography' }).waitFor();
    await shot(host, 'host-text-answers', { fullPage: true });
    await shot(cleo, 'player-phone-text');
    await host.getByTestId('peer-vote').click();
    for (const [who, text] of Object.entries(typed)) {
      const page = pages[who];
      await page.locator('.options .opt').first().waitFor();
      const labels = await page.locator('.options .opt-text').allTextContents();
      const pick = labels.findIndex((l) => l !== text);
      await page.locator(`.opt[data-index="${pick}"]`).click();
    }
    await waitText(cleo.locator('.ack'), /your answer is in/);
    await shot(cleo, 'player-phone-peer-vote');
    assert.equal(await overflowsX(cleo), false);
    await waitText(host.getByTestId('answered'), '3 of 3 answered');
    await host.getByTestId('reveal').click();
    await waitText(alice.getByTestId('points'), /\+\d+ points/);
  });

  await step('leaderboard on every screen', async () => {
    const { host, screen, cleo } = pages;
    await host.getByTestId('show-scores').click();
    await screen.locator('.leaderboard li').nth(2).waitFor();
    const first = await screen.locator('.leaderboard li').first().locator('.lb-name').textContent();
    assert.equal(first, 'Alice');
    await cleo.locator('.leaderboard li.me').waitFor();
    await shot(screen, 'screen-leaderboard');
    await shot(cleo, 'player-phone-leaderboard');
  });

  await step('host downloads the results as CSV', async () => {
    const { host } = pages;
    const [download] = await Promise.all([host.waitForEvent('download'), host.getByTestId('csv').click()]);
    assert.equal(download.suggestedFilename(), `quizroom-${code}-results.csv`);
    const raw = fs.readFileSync(await download.path(), 'utf8');
    assert.ok(raw.startsWith('\ufeff'), 'the CSV starts with a UTF-8 BOM so spreadsheets read it as UTF-8');
    const csv = raw.slice(1);
    const lines = csv.trim().split(/\r?\n/);
    assert.equal(
      lines[0],
      'qid,seq,question_id,topic,mode,prompt,player_id,name,answered,choices,text,self,buzzed,correct,response_ms,points,choice_ids',
    );
    for (const mode of ['buzz', 'vote', 'self', 'poll', 'text']) assert.ok(lines.some((l) => l.includes(`,${mode},`) || l.includes(`,"${mode}",`)), `a ${mode} row`);
    assert.ok(csv.includes('Борис') && csv.includes('Alice') && csv.includes('<i>Cleo</i>'));
    assert.ok(csv.includes('capital of Australia'));
    assert.ok(csv.includes('Canberra'));
    assert.ok(lines.length >= 1 + 5 * 3, 'a row per player per question');
    const [jsonDownload] = await Promise.all([host.waitForEvent('download'), host.getByTestId('json').click()]);
    const results = JSON.parse(fs.readFileSync(await jsonDownload.path(), 'utf8'));
    assert.equal(results.code, code);
    assert.deepEqual(
      results.questions.map((q) => q.mode),
      ['buzz', 'vote', 'self', 'poll', 'text'],
    );
    assert.equal(results.players.filter((p) => !p.kicked).length, 3);
    assert.deepEqual(results.players.filter((p) => p.kicked).map((p) => p.name), ['Dana']);
    // The summary by topic comes from the same results.
    await host.getByTestId('summary').locator('summary').click();
    const row = host.locator('.summary-list li', { hasText: 'Geography' });
    await waitText(row, /% right/);
    await waitText(row, /knowledge \d+%/);
    await shot(host, 'host-summary', { fullPage: true });
  });

  await step('host ends the game: podium on the screen, final place for players', async () => {
    const { host, screen, cleo, alice } = pages;
    await host.getByTestId('end').click();
    await screen.locator('.podium .step-1').waitFor();
    assert.equal(await screen.locator('.podium .step-1 .step-name').textContent(), 'Alice');
    await waitText(alice.locator('.final'), /You finished 1 of 3/);
    await cleo.locator('.final').waitFor();
    await shot(screen, 'screen-podium');
    await shot(cleo, 'player-phone-final');
    await shot(host, 'host-ended', { fullPage: true });
  });

  await step('after the room leaves memory every screen keeps its final view, also across a reload', async () => {
    const { host, screen, cleo, alice, boris } = pages;
    await waitRoomsGone();
    // Past the removal and the reconnect backoff: nothing was wiped.
    await host.waitForTimeout(1500);
    await screen.locator('.podium .step-1').waitFor();
    await waitText(alice.locator('.final'), /You finished 1 of 3/);
    await host.locator('.results').waitFor();
    await host.getByText(/The game has ended/).waitFor();
    for (const page of [host, screen, alice]) assert.equal(await page.locator('.banner-error').count(), 0, 'no error banner');
    // Reloads within retention: the same final views come from storage.
    await screen.reload();
    await screen.locator('.podium .step-1').waitFor();
    assert.equal(await screen.locator('.podium .step-1 .step-name').textContent(), 'Alice');
    assert.equal(await screen.locator('.banner-error').count(), 0);
    await alice.reload();
    await waitText(alice.locator('.final'), /You finished 1 of 3/);
    await cleo.reload();
    await cleo.locator('.final').waitFor();
    await boris.reload();
    await waitText(boris.locator('.final'), /Ваше место: \d из 3/);
    await host.reload();
    await host.getByText(/The game has ended/).waitFor();
    await host.locator('.summary[open]').waitFor();
    await waitText(host.locator('.summary-list li', { hasText: 'Geography' }), /% right/);
    assert.equal(await host.locator('.banner-error').count(), 0);
    const [later] = await Promise.all([host.waitForEvent('download'), host.getByTestId('csv').click()]);
    assert.match(fs.readFileSync(await later.path(), 'utf8'), /capital of Australia/);
    await shot(screen, 'screen-podium-reload');
    await shot(cleo, 'player-phone-final-reload');
    await shot(host, 'host-summary-reload', { fullPage: true });
    // The same views in Russian.
    await screen.locator('.lang-switch button[lang=ru]').click();
    await waitText(screen.locator('.screen-title'), /Итоги/);
    await shot(screen, 'screen-podium-reload-ru');
    await shot(boris, 'player-phone-final-reload-ru');
    await host.locator('.lang-switch button[lang=ru]').click();
    await host.getByText(/Игра завершена/).waitFor();
    await shot(host, 'host-summary-reload-ru', { fullPage: true });
    await host.locator('.lang-switch button[lang=en]').click();
    await screen.locator('.lang-switch button[lang=en]').click();
    // A newcomer is told the game has ended, not that there is no such room.
    const late = await newPage(env.browser, PHONE, 'late');
    await late.goto(`${env.server.base}/join/${code}`);
    await late.locator('#name').fill('Latecomer');
    await late.locator('form.join-form button[type=submit]').click();
    await waitText(late.getByTestId('view-over'), /This game has ended/);
    assert.equal(await late.locator('.final').count(), 0);
    await late.context().close();
    for (const [name, page] of Object.entries(pages)) assert.deepEqual(page.errors, [], `${name} had no script errors`);
  });
});
