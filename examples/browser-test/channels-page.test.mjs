// The sign-up example's page (`signup-http` serves it at `/`) in headless Chromium:
// Debian's /usr/bin/chromium, driven by playwright-core (which downloads no browser).
//
// The real `signup-http` binary runs on a scratch SQLite file on a loopback port; the
// page reaches it through a TCP proxy of this test's own, which can cut every connection
// and refuse new ones (the network going away), and follows the server when it restarts
// on another port. Sign-ups are made by another client (fetch from node, straight to the
// server, not through the page) and by the page's form. The page must show each of its
// tenant's sign-ups once, in the order they committed, across:
//   1. a sign-up made elsewhere while it is live,
//   2. its socket cut with no close frame, sign-ups committed while it cannot reconnect,
//   3. the server stopped (1001) and started again on the same file.
// A sign-up of another tenant never shows. A screenshot is kept as an artifact.
//
//   cargo build -p herald-examples --features http --bin signup-http
//   cd examples/browser-test && npm ci && npm test
//
// setup.mjs says where the binary, the browser and the screenshots are (and how to say
// otherwise).

import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { chromium } from "playwright-core";

import { artifacts, executablePath, startServer as start } from "./setup.mjs";

const ACME = "acme-dev-token";
const GLOBEX = "globex-dev-token";
/// How long the page has to show what it should.
const PATIENCE = 15_000;

// ---------------------------------------------------------------------------------------
// The server: the real binary, on a scratch file.

const scratch = mkdtempSync(path.join(tmpdir(), "herald-page-"));
const database = path.join(scratch, "signup.db");

const startServer = () => start(scratch, { HERALD_DB: database, HERALD_TOKEN: ACME });

/** Stops it with SIGTERM, as an operator would; it must stop cleanly. */
async function stopServer(server) {
  server.child.kill("SIGTERM");
  const { code, signal } = await server.exited;
  assert.equal(code, 0, `signup-http stopped with ${code ?? signal}`);
}

// ---------------------------------------------------------------------------------------
// The network between the page and the server: a TCP proxy that can go down.

function proxy(initialPort) {
  let upstreamPort = initialPort;
  let down = false;
  const open = new Set();
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    const pair = { client, upstream };
    open.add(pair);
    const end = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return {
    listen: () => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port))),
    /** Every connection dropped at once, no close frame; new ones refused. */
    cut() {
      down = true;
      for (const { client, upstream } of open) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      open.clear();
    },
    restore() {
      down = false;
    },
    to(port) {
      upstreamPort = port;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
    get open() {
      return open.size;
    },
  };
}

// ---------------------------------------------------------------------------------------
// Another client: sign-ups sent from node, straight to the server.

async function signUp(base, token, user) {
  const response = await fetch(`${base}/v1/commands/SignUp`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": user.user_id },
    body: JSON.stringify(user),
  });
  const body = await response.json();
  assert.equal(response.status, 200, `sign-up of ${user.user_id}: ${JSON.stringify(body)}`);
  return body.events[0].position;
}

const user = (id) => ({ user_id: id, name: `User ${id}`, email: `${id}@example.com` });

// ---------------------------------------------------------------------------------------
// What the page shows.

/** The rows of the page's table: user id and position, top to bottom. */
const rows = (page) =>
  page.$$eval("#events tr", (trs) => trs.map((tr) => ({ user: tr.dataset.user, position: tr.dataset.position })));

const pageState = (page) =>
  page.evaluate(() => {
    const s = window.signupPage;
    return { status: s.status, after: s.after, received: s.received, reconnects: s.reconnects, duplicates: s.duplicates, lastClose: s.lastClose };
  });

/** Waits until the page shows exactly `users`, in this order. */
async function expectRows(page, users, what) {
  try {
    await page.waitForFunction(
      (n) => document.querySelectorAll("#events tr").length >= n,
      users.length,
      { timeout: PATIENCE },
    );
  } catch (error) {
    throw new Error(`${what}: the page shows ${JSON.stringify(await rows(page))}, expected ${users.length} rows: ${error.message}`);
  }
  // A duplicate or a late extra would come right behind: give it a moment.
  await page.waitForTimeout(300);
  const shown = await rows(page);
  assert.deepEqual(shown.map((r) => r.user), users, `${what}: the page's rows`);
  assert.equal(new Set(shown.map((r) => r.position)).size, shown.length, `${what}: a position shown twice`);
  assert.equal((await pageState(page)).duplicates, 0, `${what}: the page saw an event twice`);
  return shown;
}

async function waitForStatus(page, status, what) {
  await page.waitForFunction((s) => window.signupPage.status === s, status, { timeout: PATIENCE }).catch(async (e) => {
    throw new Error(`${what}: the page is ${JSON.stringify(await pageState(page))}, not ${status}: ${e.message}`);
  });
}

// ---------------------------------------------------------------------------------------

let server = await startServer();
const net_ = proxy(server.port);
const proxyPort = await net_.listen();
const pageBase = `http://127.0.0.1:${proxyPort}`;
const browser = await chromium.launch({ executablePath });
let page;
let failed = false;
try {
  const expected = [];
  // Before the page opens: it shows what was committed before it came.
  await signUp(server.base, ACME, user("early"));
  expected.push("early");
  // Another tenant's sign-up, which the page must never show.
  await signUp(server.base, GLOBEX, user("globex-only"));

  page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${pageBase}/#token=${ACME}`);
  await waitForStatus(page, "live", "opening");
  await expectRows(page, expected, "the sign-ups before the page opened");

  // 1. A sign-up by another client shows live.
  await signUp(server.base, ACME, user("live-1"));
  expected.push("live-1");
  await expectRows(page, expected, "a sign-up by another client");

  // A sign-up from the page's own form, through the HTTP API.
  await page.fill("input[name=name]", "Grace Hopper");
  await page.fill("input[name=email]", "grace@example.com");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("#events tr").length === 3, null, { timeout: PATIENCE });
  const fromForm = (await rows(page))[2].user;
  assert.match(fromForm, /^u-[0-9a-f]{16}$/, "the form's user id");
  expected.push(fromForm);
  await expectRows(page, expected, "a sign-up from the page's form");

  // 2. The socket is cut (no close frame) and stays down while sign-ups commit.
  const before = await pageState(page);
  net_.cut();
  await page.waitForFunction((n) => window.signupPage.reconnects > n, before.reconnects, { timeout: PATIENCE });
  for (const id of ["while-down-1", "while-down-2", "while-down-3"]) {
    await signUp(server.base, ACME, user(id));
    expected.push(id);
  }
  // It tries again (and fails: the network is down) and shows none of them yet.
  await page.waitForFunction((n) => window.signupPage.reconnects > n + 1, before.reconnects, { timeout: PATIENCE });
  assert.equal((await rows(page)).length, 3, "the page got sign-ups while its network was down");
  net_.restore();
  await waitForStatus(page, "live", "after the network came back");
  await expectRows(page, expected, "after the socket was cut");
  await signUp(server.base, ACME, user("after-cut"));
  expected.push("after-cut");
  await expectRows(page, expected, "live again after the cut");

  // 3. The server stops (it tells the page where it stopped and closes with 1001) and
  // starts again on the same file, on another port behind the same address.
  await stopServer(server);
  await page.waitForFunction(() => window.signupPage.lastClose?.code === 1001, null, { timeout: PATIENCE });
  server = await startServer();
  net_.to(server.port);
  for (const id of ["after-restart-1", "after-restart-2"]) {
    await signUp(server.base, ACME, user(id));
    expected.push(id);
  }
  await waitForStatus(page, "live", "after the restart");
  const shown = await expectRows(page, expected, "after the server restarted");

  const state = await pageState(page);
  assert.equal(state.received, expected.length, "events received, once each");
  assert.equal(state.after, shown.at(-1).position, "the page resumes after the last position it showed");
  assert.ok(state.reconnects >= 3, `reconnects: ${state.reconnects}`);
  assert.deepEqual(errors, [], "errors on the page");
  console.log(`ok: ${expected.length} sign-ups shown once each, in order, across a cut and a restart (${state.reconnects} reconnects)`);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  if (page) {
    mkdirSync(artifacts, { recursive: true });
    const shot = path.join(artifacts, "channels-page.png");
    await page.screenshot({ path: shot, fullPage: true }).then(
      () => console.log(`screenshot: ${shot}`),
      (error) => console.error(`no screenshot: ${error}`),
    );
  }
  await browser.close();
  await net_.close();
  if (server.child.exitCode === null && server.child.signalCode === null) {
    await stopServer(server).catch((error) => {
      failed = true;
      console.error(error);
    });
  }
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
