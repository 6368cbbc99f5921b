// Herald's trace page (the router serves it at `/v1/trace/`) in headless Chromium:
// Debian's /usr/bin/chromium, driven by playwright-core (which downloads no browser).
//
// The real `signup-http` binary runs on a scratch SQLite file on a loopback port. A
// sign-up's event is handled after the commit by the eventual projector `profiles` and
// the eventual processor `welcome`, which sends the command `Welcome`. The page, opened
// with the operator's token, must list the tenant's commands (none of another tenant's),
// filter them by route pattern, show the sign-up's tree (its timed steps, its event, both
// consumers handled, the welcome command under the processor with its own event), show
// a node's detail when clicked, follow a link to the caused command's own tree, fold a
// node, and say why when the token lacks the trace role. A screenshot is kept.
//
// Then it measures how long the page takes to draw a tree of 1,000 nodes (a tree made in
// the page, as the route would answer it: the time from the call to the layout done,
// with performance.now()), and prints the figure. A measurement, not a timed test: it
// fails on nothing but a broken page.
//
//   cargo build -p herald-examples --features http --bin signup-http
//   cd examples/browser-test && npm ci && node trace-page.test.mjs
//
// setup.mjs says where the binary, the browser and the screenshots are (and how to say
// otherwise).

import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { chromium } from "playwright-core";

import { artifacts, executablePath, startServer as start } from "./setup.mjs";

const ACME = "acme-dev-token"; // ada, tenant acme, no role
const OPS = "acme-ops-token"; // ops, tenant acme, role operator: sees the traces
const GLOBEX = "globex-dev-token"; // bob, tenant globex
const PATIENCE = 15_000;
const NODES = 1_000;

const scratch = mkdtempSync(path.join(tmpdir(), "herald-trace-page-"));

const startServer = () => start(scratch, { HERALD_DB: path.join(scratch, "signup.db"), HERALD_TOKEN: ACME, HERALD_OPS_TOKEN: OPS });

async function api(base, token, route, init = {}) {
  const response = await fetch(`${base}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers || {}) },
  });
  const body = await response.json();
  assert.equal(response.status, 200, `${route}: ${JSON.stringify(body)}`);
  return body;
}

const signUp = (base, token, id) =>
  api(base, token, "/v1/commands/SignUp", {
    method: "POST",
    body: JSON.stringify({ user_id: id, name: `User ${id}`, email: `${id}@example.com` }),
  });

/** Waits until the eventual processor has welcomed `user`. */
async function welcomed(base, user) {
  const deadline = Date.now() + PATIENCE;
  while (Date.now() < deadline) {
    const page = await api(base, OPS, "/v1/trace/commands?patterns=welcome.*");
    if (page.commands.some((c) => c.route === `welcome.user.${user}`)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`user ${user} was never welcomed`);
}

/** The rows of the tree as drawn: kind, label, status, indentation. */
const treeRows = (page) =>
  page.$$eval("#tree .row[data-id]", (rows) =>
    rows.map((row) => ({
      id: Number(row.dataset.id),
      kind: row.dataset.kind,
      status: row.dataset.status,
      label: row.querySelector(".name").title,
      indent: parseFloat(row.querySelector(".name").style.paddingLeft) || 0,
      bar: row.querySelector(".bar") !== null,
    })),
  );

/** The detail panel, as key → text. */
const detail = (page) =>
  page.$$eval("#detail tr[data-key]", (rows) => Object.fromEntries(rows.map((r) => [r.dataset.key, r.children[1].textContent])));

/** A tree of `count` nodes in the route's shape: a command with its steps, events with
 *  their consumers, caused commands under processors, and so on down. */
function syntheticTree(count) {
  const nodes = [];
  const add = (parent, kind, label, start, took, status) => {
    nodes.push({ id: nodes.length, parent, kind, label, start_us: start, took_us: took, status, detail: { n: nodes.length, route: label } });
    return nodes.length - 1;
  };
  const command = (parent, at, n) => {
    const id = add(parent, "command", `order.${n}.place`, at, 4000, "ok");
    for (const [i, op] of ["authorize", "begin", "load", "handle", "append", "commit"].entries()) {
      add(id, "step", `${op} Order::place`, at + i * 600, 500, i === 4 && n % 7 === 0 ? "conflict" : "ok");
    }
    return id;
  };
  const queue = [[null, 0, 0]];
  while (nodes.length < count && queue.length) {
    const [parent, at, n] = queue.shift();
    const c = command(parent, at, n);
    for (let e = 0; e < 3 && nodes.length < count; e++) {
      const event = add(c, "event", `order.${n}.placed.${e}`, at + 3000, null, "ok");
      const proj = add(event, "consumer", "order_rows", at + 3000, null, "handled");
      const proc = add(event, "consumer", "ship_it", at + 3000, 2500, n % 11 === 0 ? "parked" : "handled");
      void proj;
      queue.push([proc, at + 5500, n * 3 + e + 1]);
    }
  }
  return { command_id: "00000000-0000-0000-0000-000000000000", correlation_id: "00000000-0000-0000-0000-000000000000", origin: new Date().toISOString(), nodes: nodes.slice(0, count), truncated: false };
}

const server = await startServer();
const browser = await chromium.launch({ executablePath });
let page;
let failed = false;
try {
  const ada = `ada-${Date.now().toString(36)}`;
  const grace = `grace-${Date.now().toString(36)}`;
  const signedUp = await signUp(server.base, ACME, ada);
  await signUp(server.base, ACME, grace);
  await signUp(server.base, GLOBEX, "globex-only");
  await welcomed(server.base, ada);
  await welcomed(server.base, grace);

  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  const elsewhere = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("request", (request) => {
    if (!request.url().startsWith(server.base)) elsewhere.push(request.url());
  });
  await page.goto(`${server.base}/v1/trace/#token=${OPS}`);

  // The tenant's recent commands, newest first, none of globex's.
  await page.waitForFunction(() => document.querySelectorAll("#commands tr").length >= 4, null, { timeout: PATIENCE });
  const listed = await page.$$eval("#commands tr", (trs) => trs.map((tr) => tr.dataset.route));
  assert.deepEqual(
    [...listed].sort(),
    [`sign_up.user.${ada}`, `sign_up.user.${grace}`, `welcome.user.${ada}`, `welcome.user.${grace}`].sort(),
    "the listed commands",
  );
  assert.equal(listed.at(-1), `sign_up.user.${ada}`, "the oldest last");

  // Filtered by route pattern.
  await page.fill("#pattern", "sign_up.*");
  await page.click("#filters button[type=submit]");
  await page.waitForFunction(() => [...document.querySelectorAll("#commands tr")].every((tr) => tr.dataset.route.startsWith("sign_up.")), null, { timeout: PATIENCE });
  assert.equal(await page.locator("#commands tr").count(), 2, "sign-ups only");

  // Into ada's sign-up: its whole tree on one axis.
  await page.click(`#commands tr[data-route="sign_up.user.${ada}"]`);
  await page.waitForFunction((id) => window.traceExplorer.state.tree?.command_id === id, signedUp.command_id, { timeout: PATIENCE });
  const rows = await treeRows(page);
  const find = (kind, label) => rows.filter((r) => r.kind === kind && r.label === label);
  assert.equal(rows[0].kind, "command");
  assert.equal(rows[0].label, `sign_up.user.${ada}`);
  const steps = rows.filter((r) => r.kind === "step").map((r) => r.label);
  for (const step of ["authorize ada", "hook email_is_free", "handle User::sign_up", `project emails user.${ada}.signed_up`]) {
    assert.ok(steps.some((s) => s.startsWith(step)), `the step ${step} in ${JSON.stringify(steps)}`);
  }
  assert.ok(rows.filter((r) => r.kind === "step").every((r) => r.bar), "every step has its bar on the axis");
  const [event] = find("event", `user.${ada}.signed_up`);
  assert.ok(event, "the sign-up's event");
  const [profiles] = find("consumer", "profiles");
  const [welcome] = find("consumer", "welcome");
  assert.equal(profiles?.status, "handled", "the eventual projector handled it");
  assert.equal(welcome?.status, "handled", "the eventual processor handled it");
  const [caused] = find("command", `welcome.user.${ada}`);
  const [welcomedEvent] = find("event", `user.${ada}.welcomed`);
  assert.ok(caused && welcomedEvent, "the processor's command and its event");
  const order = (row) => rows.indexOf(row);
  assert.ok(order(event) < order(welcome) && order(welcome) < order(caused) && order(caused) < order(welcomedEvent), "drawn in causal order");
  assert.ok(event.indent < welcome.indent && welcome.indent < caused.indent && caused.indent < welcomedEvent.indent, "nested below what caused it");
  assert.ok(!rows.some((r) => r.label.includes("globex")), "nothing of globex");

  // A node clicked shows its detail.
  await page.click(`#tree .row[data-id="${event.id}"]`);
  let shown = await detail(page);
  assert.equal(shown.node, "event");
  assert.equal(shown.command_id, signedUp.command_id, "the event's command");
  assert.equal(shown.causation_id, signedUp.command_id, "caused by the command");
  assert.ok(shown.payload.includes(`${ada}@example.com`), `its payload: ${shown.payload}`);
  await page.click(`#tree .row[data-id="${caused.id}"]`);
  shown = await detail(page);
  assert.equal(shown.node, "command");
  assert.equal(shown.correlation_id, signedUp.command_id, "the same correlation");
  await page.click(`#tree .row[data-id="${welcomedEvent.id}"]`);
  shown = await detail(page);
  assert.equal(shown.causation_id, (await page.evaluate((id) => window.traceExplorer.state.tree.nodes[id].detail.event_id, event.id)), "the welcome was caused by the sign-up's event");
  await page.click(`#tree .row[data-id="${welcome.id}"]`);
  shown = await detail(page);
  assert.equal(shown.node, "consumer");
  assert.equal(shown.kind, "processor");
  assert.equal(shown.status, "handled");
  assert.equal(shown.consumer, "welcome");

  // Folded: what is below the processor goes out of sight, then comes back.
  await page.click(`#tree .row[data-id="${welcome.id}"] .toggle`);
  assert.equal(await page.locator(`#tree .row[data-id="${caused.id}"]`).count(), 0, "folded away");
  await page.click(`#tree .row[data-id="${welcome.id}"] .toggle`);
  assert.equal(await page.locator(`#tree .row[data-id="${caused.id}"]`).count(), 1, "unfolded");

  // The caused command's own tree, through the link in its detail.
  await page.click(`#tree .row[data-id="${caused.id}"]`);
  await page.click("#detail a[data-open]");
  await page.waitForFunction((route) => window.traceExplorer.state.tree?.nodes[0].label === route, `welcome.user.${ada}`, { timeout: PATIENCE });

  // Without the trace role the tree is refused, and the page says why.
  await page.fill("#token", ACME);
  await page.dispatchEvent("#token", "change");
  await page.evaluate((id) => window.traceExplorer.openCommand(id), signedUp.command_id);
  await page.waitForFunction(() => /403.*operator/.test(document.getElementById("message").textContent), null, { timeout: PATIENCE });

  // Back as the operator, for the screenshot: the sign-up's tree, its event chosen.
  await page.fill("#token", OPS);
  await page.dispatchEvent("#token", "change");
  await page.evaluate((id) => window.traceExplorer.openCommand(id), signedUp.command_id);
  await page.waitForFunction(() => document.getElementById("message").textContent === "" && window.traceExplorer.state.tree, null, { timeout: PATIENCE });
  await page.click(`#tree .row[data-id="${event.id}"]`);

  assert.deepEqual(errors, [], "errors on the page");
  assert.deepEqual(elsewhere, [], "requests anywhere but the API");
  console.log(`ok: the trace page lists the tenant's commands, filters them, and shows ${rows.length} nodes of a sign-up's tree down to the command its processor caused`);
  mkdirSync(artifacts, { recursive: true });
  const shot = path.join(artifacts, "trace-page.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);

  // The measurement: a tree of 1,000 nodes drawn, a few times.
  // Each run: the call and its layout (what `render` returns), and to the next frame
  // painted after it (a frame, then a task after that frame).
  const timings = await page.evaluate(async (tree) => {
    const runs = [];
    const framed = [];
    for (let i = 0; i < 7; i++) {
      const began = performance.now();
      runs.push(window.traceExplorer.render(tree));
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      framed.push(performance.now() - began);
    }
    return { runs, framed, rows: document.querySelectorAll("#tree .row[data-id]").length };
  }, syntheticTree(NODES));
  assert.equal(timings.rows, NODES, "every node drawn");
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const slowest = (xs) => Math.max(...xs);
  console.log(
    `render of a ${NODES}-node tree (${timings.runs.length} runs): drawn and laid out in ${median(timings.runs).toFixed(1)} ms median ` +
      `(first ${timings.runs[0].toFixed(1)}, slowest ${slowest(timings.runs).toFixed(1)}); to the next frame painted ` +
      `${median(timings.framed).toFixed(1)} ms median (slowest ${slowest(timings.framed).toFixed(1)}); goal: under 300 ms`,
  );
} catch (error) {
  failed = true;
  console.error(error);
  if (page) {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, "trace-page.png"), fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
  server.child.kill("SIGTERM");
  const { code, signal } = await server.exited;
  if (code !== 0) {
    failed = true;
    console.error(`signup-http stopped with ${code ?? signal}`);
  }
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
