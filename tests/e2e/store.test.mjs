// The host console warns while the results database is away: a real
// PostgreSQL (initdb in a temporary folder, pg_ctl on a free port) is
// stopped under a running room and started again.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, LAPTOP, newPage, shot, startServer } from './harness.mjs';

let server;
let browser;
let pg;

/** A free loopback port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The newest /usr/lib/postgresql/N/bin, or $QUIZROOM_PG_BIN. */
function pgBin() {
  if (process.env.QUIZROOM_PG_BIN) return process.env.QUIZROOM_PG_BIN;
  const versions = fs
    .readdirSync('/usr/lib/postgresql')
    .filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
    .sort((a, b) => Number(a) - Number(b));
  if (!versions.length) throw new Error('PostgreSQL is not installed');
  return `/usr/lib/postgresql/${versions.at(-1)}/bin`;
}

/** A PostgreSQL server of its own, run as `postgres` when we are root. */
async function startPostgres() {
  const bin = pgBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quizroom-e2e-pg-'));
  const root = process.getuid && process.getuid() === 0;
  if (root) execFileSync('chown', ['postgres:postgres', dir]);
  const run = (program, args) =>
    root ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, program), ...args], { stdio: 'pipe' }) : execFileSync(path.join(bin, program), args, { stdio: 'pipe' });
  const data = path.join(dir, 'data');
  const port = await freePort();
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`;
  const start = () => run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start']);
  const stop = () => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  start();
  run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'quizroom']);
  return { url: `postgres://postgres@127.0.0.1:${port}/quizroom`, start, stop, dir };
}

before(async () => {
  pg = await startPostgres();
  server = await startServer(['--database-url', pg.url]);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (pg) {
    try {
      pg.stop();
    } catch {
      /* already stopped */
    }
    fs.rmSync(pg.dir, { recursive: true, force: true });
  }
});

test('the host sees a banner while the results database is away, and not after', async () => {
  const host = await newPage(browser, LAPTOP, 'host');
  await host.goto(`${server.base}/host`);
  await host.getByTestId('create-room').click();
  await host.waitForURL(/\/host\/[A-Z0-9]{6}$/);
  await host.locator('.conn-online').waitFor();
  assert.equal(await host.getByTestId('store-warning').count(), 0);

  pg.stop();
  const banner = host.getByTestId('store-warning');
  await banner.waitFor({ timeout: 15_000 });
  assert.match(await banner.textContent(), /results database cannot be reached/);
  await shot(host, 'host-store-unavailable');
  const health = await (await fetch(`${server.base}/healthz`)).json();
  assert.equal(health.status, 'degraded');

  pg.start();
  await banner.waitFor({ state: 'detached', timeout: 15_000 });
  assert.equal(await host.locator('.conn-online').count(), 1, 'the socket stayed connected');
  assert.deepEqual(host.errors, []);
});
