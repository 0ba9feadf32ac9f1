// rolegate's real-browser test: Debian's Chromium, driven by playwright-core,
// registers a passkey and signs in with it (no password, no username) through
// passkey.html, with the DevTools virtual authenticator standing in for the
// platform's (a CTAP2 internal authenticator with resident keys and user
// verification). No stand-in for navigator.credentials: the browser's own
// WebAuthn implementation makes and checks every call.
//
//   ROLEGATE_BIN=target/debug/rolegate node tests/browser/passkey.mjs
//
// Starts rolegate (test profile, SQLite in a temporary folder) on a free
// port, and a small server on http://localhost:PAGE_PORT that serves the page
// and forwards /api/ to rolegate (one origin, as behind a reverse proxy);
// rolegate's webauthn.origins is that origin and its rp_id "localhost".

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.ROLEGATE_BIN ?? path.join(here, '../../target/debug/rolegate');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const freePort = () => new Promise((resolve, reject) => {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  srv.on('error', reject);
});

function assert(cond, message) {
  if (!cond) throw new Error('assertion failed: ' + message);
}

async function waitFor(url) {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(url)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'rolegate-browser-'));
const apiPort = await freePort();
const pagePort = await freePort();
const origin = `http://localhost:${pagePort}`;
const api = `http://127.0.0.1:${apiPort}`;

const rolegate = spawn(bin, ['serve'], {
  env: {
    ...process.env,
    ROLEGATE_ENV: 'test',
    ROLEGATE__SERVER__PORT: String(apiPort),
    ROLEGATE__DATABASE__URL: `sqlite://${path.join(dir, 'rolegate.db')}?mode=rwc`,
    ROLEGATE__DATA__DIR: dir,
    ROLEGATE__AUTH__JWT_SECRET: 'browser-test-secret-' + Math.random().toString(36).slice(2).padEnd(24, 'x'),
    ROLEGATE__WEBAUTHN__RP_ID: 'localhost',
    ROLEGATE__WEBAUTHN__ORIGINS: origin,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});

const page_html = readFileSync(path.join(here, 'passkey.html'));
const pages = http.createServer((req, res) => {
  if (req.url === '/' || req.url === '/passkey.html') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page_html);
    return;
  }
  if (req.url === '/favicon.ico') { res.writeHead(204); res.end(); return; }
  if (!req.url.startsWith('/api/')) { res.writeHead(404); res.end(); return; }
  const upstream = http.request(`${api}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  upstream.on('error', () => { res.writeHead(502); res.end(); });
  req.pipe(upstream);
});
await new Promise((r) => pages.listen(pagePort, '127.0.0.1', r));

let browser;
let failed = false;
try {
  await waitFor(`${api}/healthz`);
  const username = 'browser_' + Math.random().toString(36).slice(2, 10);
  const password = 'a good long password';
  const signup = await fetch(`${api}/api/auth/signup`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.com`, password }),
  });
  assert(signup.status === 201, `sign-up: ${signup.status}`);
  const signin = await (await fetch(`${api}/api/auth/signin`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  })).json();
  assert(signin.accessToken, 'password sign-in gives a token');

  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  await page.goto(`${origin}/`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  const registered = await page.evaluate(([t]) => window.registerPasskey(t, 'Chromium'), [signin.accessToken]);
  assert(registered.status === 201, `registration: ${JSON.stringify(registered)}`);
  assert(registered.body.name === 'Chromium', 'the passkey is named');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert(credentials.length === 1 && credentials[0].isResidentCredential, 'one discoverable credential in the authenticator');
  assert(credentials[0].rpId === 'localhost', `bound to rp_id localhost: ${credentials[0].rpId}`);

  // Passwordless and usernameless: the authenticator picks the account.
  const signedIn = await page.evaluate(() => window.signInWithPasskey());
  assert(signedIn.status === 200, `passkey sign-in: ${JSON.stringify(signedIn)}`);
  assert(signedIn.body.username === username, 'signed in as the passkey\'s owner');
  const me = await fetch(`${api}/api/auth/me`, { headers: { Authorization: `Bearer ${signedIn.body.accessToken}` } });
  assert(me.status === 200, `/api/auth/me with the passkey's token: ${me.status}`);
  assert((await me.json()).username === username, '/api/auth/me names the user');

  // With a username too; the counter went up and the passkey shows its last use.
  const again = await page.evaluate(([u]) => window.signInWithPasskey(u), [username]);
  assert(again.status === 200, `passkey sign-in with a username: ${JSON.stringify(again)}`);
  const list = await (await fetch(`${api}/api/auth/passkeys`, { headers: { Authorization: `Bearer ${signin.accessToken}` } })).json();
  assert(list.length === 1 && list[0].lastUsedAt, `listed with its last use: ${JSON.stringify(list)}`);
  console.log('browser passkey test: registration and passwordless sign-in in Chromium passed');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  if (browser) await browser.close();
  pages.close();
  rolegate.kill('SIGTERM');
  await new Promise((r) => rolegate.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
