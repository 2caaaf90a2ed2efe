// Entry point of `npm test`: builds the Go binaries once, then runs every
// test file with node's test runner, one file at a time (the scenarios are
// timing-sensitive and the machine has two cores).
//
//   node run.js [test files...]     default: every test/*.test.js

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { buildBinaries } from "./lib/harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
let dir = process.env.OUTPOST_SDKCOMPAT_BIN;
let built = false;
if (!dir) {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-bin-"));
  built = true;
  const start = Date.now();
  buildBinaries(dir);
  console.log(`# built Go binaries in ${Date.now() - start} ms`);
}
let files = process.argv.slice(2);
if (files.length === 0) {
  files = fs.readdirSync(path.join(here, "test")).filter((f) => f.endsWith(".test.js")).sort().map((f) => path.join("test", f));
}
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...files], {
  cwd: here,
  stdio: "inherit",
  env: { ...process.env, OUTPOST_SDKCOMPAT_BIN: dir },
});
if (built) fs.rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
