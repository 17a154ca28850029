// Shared pieces of the browser tests: start the real quizroom binary on a
// free port, launch Debian's Chromium through playwright-core, and save
// screenshots as artifacts.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO = path.resolve(here, '..', '..');
/** Where screenshots go. */
export const ARTIFACTS = path.join(here, 'artifacts');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const START_TIMEOUT_MS = 20_000;

/**
 * Starts the server binary ($QUIZROOM_BIN, default target/debug/quizroom)
 * on 127.0.0.1:0 with a fresh data folder (plus `extraArgs`), and resolves
 * once its log says where it listens. Returns {base, stop(), log()}.
 */
export async function startServer(extraArgs = []) {
  const bin = process.env.QUIZROOM_BIN || path.join(REPO, 'target', 'debug', 'quizroom');
  if (!fs.existsSync(bin)) throw new Error(`server binary not found: ${bin} (build it or set QUIZROOM_BIN)`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quizroom-e2e-'));
  const child = spawn(bin, ['--addr', '127.0.0.1:0', '--data-dir', dataDir, '--seeds', path.join(REPO, 'seeds'), ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', QUIZROOM_LOG: process.env.QUIZROOM_LOG || 'info' },
  });
  let log = '';
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not report its address within ${START_TIMEOUT_MS} ms:\n${log}`)), START_TIMEOUT_MS);
    const onData = (chunk) => {
      log += chunk.toString();
      // Strip colour codes, then find `listening ... addr=127.0.0.1:PORT`.
      const plain = log.replace(/\x1b\[[0-9;]*m/g, '');
      const m = plain.match(/listening.*?addr"?[=:]\s*"?(127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early with ${code}:\n${log}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    base,
    log: () => log,
    async stop() {
      if (child.exitCode == null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Launches headless Chromium (a fresh temporary profile per launch). */
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Viewports the tests use. */
export const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
export const LAPTOP = { viewport: { width: 1366, height: 860 } };
export const PROJECTOR = { viewport: { width: 1600, height: 900 } };

/** A new page in a new context; page errors fail loudly in the log. */
export async function newPage(browser, options = {}, label = 'page') {
  const context = await browser.newContext({ acceptDownloads: true, locale: 'en-US', ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => {
    page.errors.push(err.message);
    console.error(`[${label}] page error: ${err.message}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[${label}] console: ${msg.text()}`);
  });
  page.setDefaultTimeout(10_000);
  return page;
}

/** Saves a screenshot under artifacts/NAME.png. */
export async function shot(page, name, { fullPage = false } = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
}

/** Whether the page scrolls sideways (bad on a phone). */
export async function overflowsX(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}

/** The option texts `page` shows for the current question, in its own order. */
export async function shownOptions(page) {
  return page.locator('.question .opt .opt-text').allTextContents();
}

/**
 * The option button `page` shows with exactly `text`: options are shuffled
 * (per player when the room says so), so a test taps what a person would.
 */
export function optionByText(page, text) {
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return page.locator('.question .opt', { has: page.locator('.opt-text', { hasText: exact }) });
}

/** The texts of the options the host console marks as the key. */
export async function keyTexts(host) {
  return host.locator('.host-options li.correct > span:nth-child(2)').allTextContents();
}

/** The first option `page` shows that is not in `key`, as a button. */
export async function wrongOption(page, key) {
  const shown = await shownOptions(page);
  const i = shown.findIndex((o) => !key.includes(o));
  if (i < 0) throw new Error(`no wrong option among ${shown.join(' | ')}`);
  return { index: i, button: page.locator(`.question .opt[data-index="${i}"]`) };
}

/**
 * One server (started with `extraArgs`) and one browser for all the tests of
 * a file: started before the first test, stopped after the last, so each
 * file pays Chromium's start once. The returned object holds `server` and
 * `browser` once the file's `before` has run.
 */
export function useServerAndBrowser(extraArgs = []) {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer(extraArgs);
    env.browser = await launchBrowser();
  });
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.server) await env.server.stop();
  });
  return env;
}

/**
 * Opens /join/CODE in a new context of `env.browser` and joins as `name`,
 * the way a person does on a phone. Resolves once the player is seated,
 * unless `seated` is false (for a join the server is expected to refuse).
 * `beforeGoto` may prepare the page first (e.g. route its WebSocket).
 */
export async function joinRoom(env, code, name, { device = PHONE, label = name, beforeGoto, seated = true } = {}) {
  const page = await newPage(env.browser, device, label);
  if (beforeGoto) await beforeGoto(page);
  await page.goto(`${env.server.base}/join/${code}`);
  await page.locator('#name').fill(name);
  await page.locator('form.join-form button[type=submit]').click();
  if (seated) await page.getByTestId('me').waitFor();
  return page;
}

/** Waits until some element of `locator` shows text matching `pattern`. */
export async function waitText(locator, pattern) {
  await locator.filter({ hasText: pattern }).first().waitFor();
}

/**
 * Subtests of `t` that build on each other: once one fails, the rest are
 * skipped (and say why) instead of failing for the same cause.
 */
export function chainedSteps(t) {
  let failed = false;
  return (name, fn) =>
    t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });
}
