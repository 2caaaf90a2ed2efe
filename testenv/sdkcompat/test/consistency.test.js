// Read-your-writes (DESIGN.md §6, check-api.md §7). The SDK's primary URL
// is a chaos proxy in front of the control plane; two nodes follow the
// control plane by polling *through a second chaos proxy*, so the test can
// hold their ingest back. One node waits for an OsoOffset it has not
// reached and then answers stale, the other is strict and answers 503.
// A spy in front of each node records the headers the SDK sends and the
// node returns.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Oso } from "oso-cloud";

import { Chaos, ControlPlane, Node, Spy, WRITE_KEY, closeAll, offsetSeq } from "../lib/harness.js";
import { acme, alice, anvil, seed } from "../lib/fixtures.js";

const WAIT_MS = 400;
const FETCH_TIMEOUT_MS = 200;
const carol = { type: "User", id: "carol" };
const dave = { type: "User", id: "dave" };

let cp, primary, ingest, nodeWait, nodeStrict, spyWait, spyStrict;
const cleanup = [];

before(async () => {
  cp = await ControlPlane.start();
  cleanup.push(cp);
  primary = await Chaos.start(cp.addr);
  cleanup.push(primary);
  ingest = await Chaos.start(cp.addr);
  cleanup.push(ingest);
  const writer = new Oso(cp.url, WRITE_KEY);
  await seed(writer);
  const opts = { controlPlaneURL: ingest.url, consistencyWait: `${WAIT_MS}ms`, pollWait: "1s" };
  [nodeWait, nodeStrict] = await Promise.all([Node.start(opts), Node.start({ ...opts, consistency: "strict" })]);
  cleanup.push(nodeWait, nodeStrict);
  const seq = offsetSeq(writer.api.lastOffset);
  await Promise.all([nodeWait.caughtUp(seq), nodeStrict.caughtUp(seq)]);
  spyWait = await Spy.start(nodeWait.url);
  cleanup.push(spyWait);
  spyStrict = await Spy.start(nodeStrict.url);
  cleanup.push(spyStrict);
});

after(() => closeAll(cleanup));

function client(fallback) {
  return new Oso(primary.url, WRITE_KEY, { fallbackUrl: fallback.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS });
}

/** Writes through the primary and returns the write's OsoOffset. */
async function write(oso, f) {
  await primary.set("pass");
  await f(oso);
  const tok = oso.api.lastOffset;
  assert.match(tok ?? "", /^\S+:\d+$/, "OsoOffset from the control plane");
  return tok;
}

/** Reads through the node behind spy: the primary refuses connections. */
async function readViaFallback(spy, f) {
  await primary.set("refuse");
  const mark = spy.mark();
  const start = Date.now();
  let answer, error;
  try {
    answer = await f();
  } catch (e) {
    error = e;
  }
  return { answer, error, ms: Date.now() - start, exchanges: spy.since(mark) };
}

describe("read-your-writes", () => {
  it("a client that has not written sends no OsoOffset", async () => {
    const oso = client(spyWait);
    const r = await readViaFallback(spyWait, () => oso.authorize(alice, "read", anvil));
    assert.ifError(r.error);
    assert.equal(r.answer, true);
    assert.equal(r.exchanges.length, 1);
    assert.equal(r.exchanges[0].reqHeaders.osooffset, undefined);
  });

  it("after a write the SDK sends OsoOffset on its next read; a caught-up node answers fresh", async () => {
    const oso = client(spyWait);
    const tok = await write(oso, (o) => o.insert(["has_role", dave, "member", acme]));
    await nodeWait.caughtUp(offsetSeq(tok));
    const r = await readViaFallback(spyWait, () => oso.authorize(dave, "read", anvil));
    assert.ifError(r.error);
    assert.equal(r.answer, true);
    assert.equal(r.exchanges.length, 1);
    const ex = r.exchanges[0];
    assert.equal(ex.reqHeaders.osooffset, tok, "OsoOffset sent to the fallback");
    assert.equal(ex.status, 200);
    assert.equal(ex.resHeaders["x-outpost-stale"], undefined);
    assert.ok(Number(ex.resHeaders["x-outpost-revision"]) >= offsetSeq(tok), "X-Outpost-Revision");
  });

  it("a node that is behind waits up to the bound, then answers with X-Outpost-Stale: true", async () => {
    await ingest.set("hang"); // the nodes' event feed stops delivering
    const oso = client(spyWait);
    const tok = await write(oso, (o) => o.insert(["has_role", carol, "member", acme]));
    const before = await nodeWait.revision();
    assert.ok(before < offsetSeq(tok), `node at ${before} should be behind ${tok}`);

    const r = await readViaFallback(spyWait, () => oso.authorize(carol, "read", anvil));
    assert.ifError(r.error);
    assert.equal(r.answer, false, "the stale answer does not include the write yet");
    assert.ok(r.ms >= WAIT_MS, `answered after ${r.ms} ms, want >= ${WAIT_MS}`);
    assert.equal(r.exchanges.length, 1);
    const ex = r.exchanges[0];
    assert.equal(ex.reqHeaders.osooffset, tok);
    assert.equal(ex.status, 200);
    assert.equal(ex.resHeaders["x-outpost-stale"], "true");
    assert.equal(Number(ex.resHeaders["x-outpost-revision"]), before);
  });

  it("in strict mode a node that is behind answers 503, and the SDK surfaces it", async () => {
    const oso = client(spyStrict);
    const tok = await write(oso, (o) => o.insert(["has_role", carol, "admin", acme]));
    const r = await readViaFallback(spyStrict, () => oso.authorize(carol, "invite", acme));
    assert.ok(r.error, `expected an error, got ${r.answer}`);
    assert.equal(r.error.statusCode, 503);
    assert.match(r.error.message, /^Oso Cloud error: .+ \(Request ID: [0-9a-f-]{36}\)$/);
    // After a refused connection, a 5xx from the fallback makes the SDK ask
    // the fallback once more, with the same request: two waits of WAIT_MS.
    assert.equal(r.exchanges.length, 2);
    for (const ex of r.exchanges) {
      assert.equal(ex.status, 503);
      assert.equal(ex.reqHeaders.osooffset, tok);
    }
    assert.equal(r.exchanges[0].reqHeaders["x-request-id"], r.exchanges[1].reqHeaders["x-request-id"]);
    assert.ok(r.ms >= 2 * WAIT_MS, `failed after ${r.ms} ms, want >= ${2 * WAIT_MS}`);
  });

  it("once ingest resumes both nodes answer fresh, without the stale marker", async () => {
    await ingest.set("pass");
    const seq = (await cp.status()).seq;
    await Promise.all([nodeWait.caughtUp(seq), nodeStrict.caughtUp(seq)]);
    for (const [spy, check] of [
      [spyWait, (o) => o.authorize(carol, "read", anvil)],
      [spyStrict, (o) => o.authorize(carol, "invite", acme)],
    ]) {
      const oso = client(spy);
      await write(oso, (o) => o.insert(["has_role", dave, "admin", acme]));
      await (spy === spyWait ? nodeWait : nodeStrict).caughtUp(offsetSeq(oso.api.lastOffset));
      const r = await readViaFallback(spy, () => check(oso));
      assert.ifError(r.error);
      assert.equal(r.answer, true);
      assert.equal(r.exchanges[0].resHeaders["x-outpost-stale"], undefined);
    }
  });

  it("an OsoOffset from another log (e.g. minted by Oso Cloud) is ignored", async () => {
    const oso = client(spyWait);
    oso.api.lastOffset = "some-other-log:999999";
    const ignored = () => nodeWait.metric("outpost_consistency_waits_total", { outcome: "ignored" });
    const before = await ignored();
    const r = await readViaFallback(spyWait, () => oso.authorize(alice, "read", anvil));
    assert.ifError(r.error);
    assert.equal(r.answer, true);
    assert.equal(r.exchanges[0].reqHeaders.osooffset, "some-other-log:999999");
    assert.equal(r.exchanges[0].resHeaders["x-outpost-stale"], undefined);
    assert.equal((await ignored()) - before, 1, "outpost_consistency_waits_total{outcome=ignored}");
  });
});
