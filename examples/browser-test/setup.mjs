// What the page tests share: where the example's binary, the browser and the artifacts
// are, a check that the first two are there, and a way to start the real `signup-http`.
//
// SIGNUP_HTTP names the binary (default: $CARGO_TARGET_DIR or <repo>/target, then
// debug/signup-http); ARTIFACTS the screenshots' directory (default:
// <repo>/target/artifacts); CHROMIUM the browser (default: /usr/bin/chromium).

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(repo, process.env.CARGO_TARGET_DIR)
  : path.join(repo, "target");

export const binary = process.env.SIGNUP_HTTP || path.join(targetDir, "debug", "signup-http");
export const artifacts = process.env.ARTIFACTS || path.join(repo, "target", "artifacts");
export const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

for (const [what, file, fix] of [
  ["the example's binary", binary, "cargo build -p herald-examples --features http --bin signup-http"],
  ["Chromium", executablePath, "apt-get install -y chromium"],
]) {
  if (!existsSync(file)) {
    console.error(`error: ${what} is not at ${file}; ${fix}`);
    process.exit(1);
  }
}

/**
 * Starts `signup-http` in `cwd` on a port the system picks, with `env` added (and on its
 * SQLite file, whatever DATABASE_URL the environment has); resolves once it listens, to
 * `{ child, exited, base, port }`.
 */
export function startServer(cwd, env) {
  const { DATABASE_URL: _, ...inherited } = process.env;
  const child = spawn(binary, [], {
    cwd,
    env: { ...inherited, HERALD_ADDR: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      // `signup-http: sqlite store, listening on http://127.0.0.1:<port>`
      const match = /listening on (http:\/\/[\d.]+:(\d+))/.exec(line);
      if (!match) return reject(new Error(`signup-http said ${JSON.stringify(line)}`));
      lines.on("line", () => {}); // keep draining its output
      resolve({ child, exited, base: match[1], port: Number(match[2]) });
    });
    exited.then(({ code, signal }) => reject(new Error(`signup-http exited (${code ?? signal}) before listening`)));
  });
}
