// TLS scenario: the SDK's fallbackUrl is an https:// Outpost node whose
// certificate a test CA signed (made here with openssl), trusted through
// NODE_EXTRA_CA_CERTS. The SDK calls run in a child node process
// (lib/tls-client.js), since node reads NODE_EXTRA_CA_CERTS only at
// start; the primary URL refuses connections, so every call goes to the
// node. Without the variable the same calls fail: the trust comes from the
// CA, not from a lax client.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Oso } from "oso-cloud";

import { ControlPlane, ENV, READ_KEY, WRITE_KEY, buildBinaries, closeAll, eventually, freePort, offsetSeq } from "../lib/harness.js";
import { CALLS, seed } from "../lib/fixtures.js";

const here = path.dirname(fileURLToPath(import.meta.url));
let cp, node, dir, refusedURL;
const cleanup = [];

function openssl(...args) {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.error) throw new Error(`openssl is needed to make the test certificates: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
}

/** A test CA and a certificate for 127.0.0.1 and localhost that it signed. */
function makeCertificates() {
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", "/CN=sdkcompat test CA", "-keyout", "ca-key.pem", "-out", "ca.pem",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=outpost node",
    "-keyout", "node-key.pem", "-out", "node.csr");
  fs.writeFileSync(path.join(dir, "ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
  openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
    "-days", "1", "-extfile", "ext.cnf", "-out", "node.pem");
}

function binary(name) {
  let bin = process.env.OUTPOST_SDKCOMPAT_BIN;
  if (!bin) {
    bin = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-bin-"));
    buildBinaries(bin);
    cleanup.push({ close: async () => fs.rmSync(bin, { recursive: true, force: true }) });
  }
  return path.join(bin, name);
}

/** GET over https, trusting the test CA. */
function httpsGet(url) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: fs.readFileSync(path.join(dir, "ca.pem")), agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url}: timeout`)));
  });
}

/** Starts an Outpost node serving HTTPS with the test certificate. */
async function startTLSNode(controlPlaneURL) {
  const n = { dir: fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-tlsnode-")), output: "" };
  const port = await freePort();
  n.url = `https://127.0.0.1:${port}`;
  n.child = spawn(binary("outpost"), ["--control-plane-url", controlPlaneURL, "--api-token", READ_KEY, "--environment", ENV,
    "--listen", `127.0.0.1:${port}`, "--directory", n.dir, "--poll-wait", "2s", "--log-level", "warn",
    "--tls-cert-file", path.join(dir, "node.pem"), "--tls-key-file", path.join(dir, "node-key.pem")],
  { stdio: ["ignore", "pipe", "pipe"] });
  n.exited = new Promise((r) => n.child.on("exit", r));
  n.child.stdout.on("data", (c) => (n.output += c));
  n.child.stderr.on("data", (c) => (n.output += c));
  n.close = async () => {
    if (n.child.exitCode === null) {
      n.child.kill("SIGTERM");
      await n.exited;
    }
    fs.rmSync(n.dir, { recursive: true, force: true });
  };
  await eventually("TLS node healthy", async () => {
    if (n.child.exitCode !== null) throw new Error(`node exited:\n${n.output}`);
    return (await httpsGet(n.url + "/healthcheck")).status === 200;
  }, 30000);
  return n;
}

/** Runs lib/tls-client.js with env and returns its answers by call name. */
function runClient(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, "../lib/tls-client.js"), refusedURL, node.url, WRITE_KEY],
      { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    const t = setTimeout(() => child.kill("SIGKILL"), 60000);
    child.on("exit", (code) => {
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`tls-client exited ${code}:\n${err}`));
      resolve(Object.fromEntries(out.trim().split("\n").map((l) => JSON.parse(l)).map((r) => [r.name, r])));
    });
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-tls-"));
  cleanup.push({ close: async () => fs.rmSync(dir, { recursive: true, force: true }) });
  makeCertificates();
  cp = await ControlPlane.start();
  cleanup.push(cp);
  const writer = new Oso(cp.url, WRITE_KEY);
  await seed(writer);
  node = await startTLSNode(cp.url);
  cleanup.push(node);
  const seq = offsetSeq(writer.api.lastOffset);
  await eventually(`TLS node at seq ${seq}`, async () => JSON.parse((await httpsGet(node.url + "/status")).body).revision >= seq);
  refusedURL = `http://127.0.0.1:${await freePort()}`; // nothing listens there
});

after(() => closeAll(cleanup));

describe("https fallback", () => {
  it("the SDK trusting the test CA through NODE_EXTRA_CA_CERTS gets every answer from the TLS node", async () => {
    const got = await runClient({ ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, "ca.pem") });
    for (const call of CALLS) {
      const r = got[call.name];
      assert.ok(r, `${call.name}: no answer`);
      if (call.viaFallback) {
        assert.equal(r.status, call.viaFallback.status, `${call.name}: ${r.error}`);
        assert.match(r.error, call.viaFallback.message);
      } else {
        assert.equal(r.error, undefined, `${call.name}: ${r.error}`);
        assert.deepEqual(r.answer, call.want, call.name);
      }
    }
    const st = JSON.parse((await httpsGet(node.url + "/status")).body);
    assert.equal(st.tls.subject, "CN=outpost node");
  });

  it("without NODE_EXTRA_CA_CERTS the SDK refuses the node's certificate", async () => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const got = await runClient(env);
    for (const call of CALLS) {
      assert.ok(got[call.name].error, `${call.name}: answered ${JSON.stringify(got[call.name].answer)} from an untrusted node`);
    }
  });
});
