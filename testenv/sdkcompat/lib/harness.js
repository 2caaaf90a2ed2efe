// Harness for the SDK compatibility suite: builds the Go binaries once,
// starts the control plane, chaos proxies and Outpost nodes on 127.0.0.1
// ephemeral ports, scrapes their metrics, and tears everything down.
//
// Environment:
//   OUTPOST_SDKCOMPAT_BIN   directory holding prebuilt binaries (run.js sets
//                           it); otherwise they are built into a temp dir.
//   OUTPOST_SDKCOMPAT_VERBOSE=1 copies every process's output to stderr.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

// Keys: the SDK uses the write key for reads and writes (as applications
// do); nodes read the control plane's feeds with the read key.
export const WRITE_KEY = "sdkcompat-write-key";
export const READ_KEY = "sdkcompat-read-key";
export const ENV = "sdk";

const verbose = process.env.OUTPOST_SDKCOMPAT_VERBOSE === "1";

// --- binaries ---------------------------------------------------------------

export const GO_PACKAGES = [
  "./cmd/outpost-controlplane",
  "./cmd/outpost",
  "./cmd/outpost-chaos",
];

/** Builds the Go binaries into dir (go build -o dir/ ...). */
export function buildBinaries(dir) {
  const r = spawnSync(process.env.GO || "go", ["build", "-o", dir + path.sep, ...GO_PACKAGES], {
    cwd: repoRoot,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error(`go build failed with status ${r.status}`);
}

let bins;
function binDir() {
  if (bins) return bins;
  if (process.env.OUTPOST_SDKCOMPAT_BIN) {
    bins = process.env.OUTPOST_SDKCOMPAT_BIN;
  } else {
    bins = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-bin-"));
    buildBinaries(bins);
    process.on("exit", () => fs.rmSync(bins, { recursive: true, force: true }));
  }
  return bins;
}

// --- processes --------------------------------------------------------------

/**
 * A child process whose output is kept (for failure messages) and scanned
 * for lines. Always stop it with stop().
 */
class Proc {
  constructor(name, bin, args) {
    this.name = name;
    this.output = "";
    this.child = spawn(bin, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.child.on("exit", (code, sig) => resolve({ code, sig })));
    this.exitedNow = false;
    this.exited.then(() => (this.exitedNow = true));
    const onData = (chunk) => {
      this.output += chunk;
      if (this.output.length > 1 << 20) this.output = this.output.slice(-(1 << 19));
      if (verbose) process.stderr.write(`[${name}] ${chunk}`);
    };
    this.child.stdout.setEncoding("utf8").on("data", onData);
    this.child.stderr.setEncoding("utf8").on("data", onData);
  }

  /** Resolves with the first match of re in the output. */
  async waitFor(re, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.output.match(re);
      if (m) return m;
      if (this.exitedNow) throw new Error(`${this.name} exited before printing ${re}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms:\n${this.output}`);
      await sleep(20);
    }
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop() {
    if (this.exitedNow) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A free 127.0.0.1 port (for binaries that cannot report port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** GET url and return {status, headers, body} (no keep-alive). */
export function httpGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url}: timeout`)));
  });
}

/** PUT a JSON body and return the parsed JSON answer. */
export function httpPutJSON(url, value) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(value);
    const req = http.request(url, { method: "PUT", agent: false, headers: { "Content-Type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        if (res.statusCode !== 200) reject(new Error(`PUT ${url}: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text));
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Polls cond until it returns a truthy value. */
export async function eventually(what, cond, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms${last ? `: ${last.message}` : ""}`);
    await sleep(25);
  }
}

async function waitHealthy(url, proc) {
  await eventually(`${proc.name} healthy at ${url}`, async () => {
    if (proc.exitedNow) throw new Error(`${proc.name} exited:\n${proc.output}`);
    return (await httpGet(url + "/healthcheck")).status === 200;
  }, 30000);
}

// --- metrics ----------------------------------------------------------------

/** Parses Prometheus text into [{name, labels, value}]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sums the samples of name whose labels include every pair of want. */
export function sumMetric(samples, name, want = {}) {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(want).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

// --- components ---------------------------------------------------------------

/** The reference control plane, optionally with embedded Kafka and NATS. */
export class ControlPlane {
  static async start({ embedKafka = false, embedNats = false } = {}) {
    const cp = new ControlPlane();
    cp.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-cp-"));
    const args = ["-key", `${WRITE_KEY}:write`, "-key", `${READ_KEY}:read`, "-listen", "127.0.0.1:0",
      "-data", cp.dir, "-env", ENV];
    if (embedKafka) args.push("-embed-kafka");
    if (embedNats) args.push("-embed-nats");
    cp.proc = new Proc("controlplane", path.join(binDir(), "outpost-controlplane"), args);
    cp.url = (await cp.proc.waitFor(/^controlplane (http:\/\/\S+)/m))[1];
    cp.addr = cp.url.replace("http://", "");
    if (embedKafka) cp.kafka = (await cp.proc.waitFor(/^kafka (\S+)/m))[1];
    if (embedNats) cp.nats = (await cp.proc.waitFor(/^nats (\S+)/m))[1];
    await waitHealthy(cp.url, cp.proc);
    return cp;
  }

  /** Requests answered, by route path and status (undefined: any). */
  async requests(apiPath, status) {
    const samples = parseMetrics((await httpGet(this.url + "/metrics")).body);
    const want = {};
    if (apiPath !== undefined) want.path = apiPath;
    if (status !== undefined) want.status_code = String(status);
    return sumMetric(samples, "controlplane_http_requests_total", want);
  }

  /** {seq, digest, log_id, facts} from the node feed's status endpoint. */
  async status() {
    const r = await httpGet(`${this.url}/v1/envs/${ENV}/status`, { Authorization: `Bearer ${READ_KEY}` });
    if (r.status !== 200) throw new Error(`control plane status: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }

  async stop() {
    await this.proc.stop();
  }

  async close() {
    await this.proc.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A cmd/outpost-chaos process in front of upstream (host:port). */
export class Chaos {
  static async start(upstream) {
    const c = new Chaos();
    c.proc = new Proc(`chaos→${upstream}`, path.join(binDir(), "outpost-chaos"), ["-upstream", upstream]);
    const m = await c.proc.waitFor(/^proxy (http:\/\/\S+)[\s\S]*^control (http:\/\/\S+)/m);
    c.url = m[1];
    c.addr = c.url.replace("http://", "");
    c.control = m[2];
    return c;
  }

  /** Switches the mode: set("refuse"), set("http5xx", {status: 500}), set("delay", {delay_ms: 300}). */
  set(mode, opts = {}) {
    return httpPutJSON(this.control + "/mode", { mode, ...opts });
  }

  async stats() {
    return JSON.parse((await httpGet(this.control + "/stats")).body);
  }

  async close() {
    await this.proc.stop();
  }
}

/** An Outpost node following controlPlaneURL through source "poll", "kafka" or "nats". */
export class Node {
  static async start({ controlPlaneURL, source = "poll", kafka, nats, consistency = "wait", consistencyWait = "250ms", pollWait = "2s" }) {
    const n = new Node();
    n.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-node-"));
    const port = await freePort();
    n.url = `http://127.0.0.1:${port}`;
    const args = ["--control-plane-url", controlPlaneURL, "--api-token", READ_KEY, "--environment", ENV,
      "--listen", `127.0.0.1:${port}`, "--directory", n.dir, "--source", source,
      "--consistency", consistency, "--consistency-wait", consistencyWait, "--poll-wait", pollWait,
      "--log-level", "warn"];
    if (source === "kafka") args.push("--kafka-brokers", kafka);
    if (source === "nats") args.push("--nats-url", nats);
    n.proc = new Proc(`node(${source},${consistency})`, path.join(binDir(), "outpost"), args);
    await waitHealthy(n.url, n.proc);
    return n;
  }

  /** Requests answered, by path and status (undefined: any), from oso_fallback_http_requests. */
  async requests(apiPath, status) {
    const samples = parseMetrics((await httpGet(this.url + "/metrics")).body);
    const want = {};
    if (apiPath !== undefined) want.path = apiPath;
    if (status !== undefined) want.status_code = String(status);
    return sumMetric(samples, "oso_fallback_http_requests_count", want);
  }

  /** Sums the node's samples of a metric whose labels include want. */
  async metric(name, want = {}) {
    return sumMetric(parseMetrics((await httpGet(this.url + "/metrics")).body), name, want);
  }

  /** The node's /status document. */
  async status() {
    return JSON.parse((await httpGet(this.url + "/status")).body);
  }

  /** The applied revision, from /status. */
  async revision() {
    const st = await this.status();
    return st.revision ?? st.applied;
  }

  /** Waits until the node has applied seq. */
  async caughtUp(seq, timeoutMs = 15000) {
    await eventually(`${this.proc.name} at seq ${seq}`, async () => (await this.revision()) >= seq, timeoutMs);
  }

  async close() {
    await this.proc.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The seq of an OsoOffset token "<logid>:<seq>". */
export function offsetSeq(token) {
  const m = /:(\d+)$/.exec(token || "");
  if (!m) throw new Error(`not an OsoOffset token: ${token}`);
  return Number(m[1]);
}

/**
 * Spy is an HTTP forwarder in front of target that records every exchange
 * ({method, path, reqHeaders, status, resHeaders}), so tests can see the
 * headers the SDK sends (OsoOffset) and receives (X-Outpost-Stale), which
 * the SDK does not expose.
 */
export class Spy {
  static async start(target) {
    const s = new Spy();
    s.exchanges = [];
    const t = new URL(target);
    s.agent = new http.Agent({ keepAlive: true });
    s.server = http.createServer((req, res) => {
      const ex = { method: req.method, path: req.url, reqHeaders: req.headers };
      s.exchanges.push(ex);
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent: s.agent }, (ures) => {
        ex.status = ures.statusCode;
        ex.resHeaders = ures.headers;
        res.writeHead(ures.statusCode, ures.headers);
        ures.pipe(res);
      });
      up.on("error", (e) => {
        ex.error = e.message;
        res.destroy(e);
      });
      req.pipe(up);
    });
    await new Promise((r) => s.server.listen(0, "127.0.0.1", r));
    s.url = `http://127.0.0.1:${s.server.address().port}`;
    return s;
  }

  /** Exchanges recorded since mark(). */
  since(mark) {
    return this.exchanges.slice(mark);
  }

  mark() {
    return this.exchanges.length;
  }

  async close() {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
    this.agent.destroy();
  }
}

/** Closes everything in list, in reverse order, ignoring errors. */
export async function closeAll(list) {
  for (const x of list.reverse()) {
    try {
      if (x) await x.close();
    } catch (e) {
      process.stderr.write(`close: ${e.message}\n`);
    }
  }
}
