// Fallback scenarios: the SDK's primary URL is a chaos proxy in front of the
// control plane, its fallbackUrl an Outpost node following the control
// plane by polling. Each call's answer is checked, and so is which server
// answered, from the control plane's controlplane_http_requests_total and
// the node's oso_fallback_http_requests.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Oso } from "oso-cloud";

import { Chaos, ControlPlane, Node, WRITE_KEY, closeAll, offsetSeq } from "../lib/harness.js";
import { CALLS, UNRESOLVABLE_HOST, alice, anvil, normalized, patchDNS, quietly, seed } from "../lib/fixtures.js";

const FETCH_TIMEOUT_MS = 200;

let cp, chaos, node, oso;
const cleanup = [];

before(async () => {
  cp = await ControlPlane.start();
  cleanup.push(cp);
  chaos = await Chaos.start(cp.addr);
  cleanup.push(chaos);
  node = await Node.start({ controlPlaneURL: cp.url });
  cleanup.push(node);
  const writer = new Oso(cp.url, WRITE_KEY);
  await seed(writer);
  await node.caughtUp(offsetSeq(writer.api.lastOffset));
  oso = new Oso(chaos.url, WRITE_KEY, { fallbackUrl: node.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS });
});

after(() => closeAll(cleanup));

/**
 * Runs call.run(client) and reports its answer or error and how many
 * requests for call.path the control plane and the node answered meanwhile.
 */
async function measure(call, client) {
  const cpBefore = await cp.requests(call.path);
  const nodeBefore = await node.requests(call.path);
  const start = Date.now();
  let answer, error;
  try {
    answer = await call.run(client);
  } catch (e) {
    error = e;
  }
  const ms = Date.now() - start;
  return {
    answer,
    error,
    ms,
    cp: (await cp.requests(call.path)) - cpBefore,
    node: (await node.requests(call.path)) - nodeBefore,
  };
}

/**
 * Asserts that every call was answered by the node with the right answer.
 * thrown: the primary failed with a connection error rather than an HTTP
 * status, which makes the SDK ask the fallback twice when it answers 400.
 */
async function expectAllFromNode(client, thrown, extra = async () => {}) {
  for (const call of CALLS) {
    const r = await measure(call, client);
    if (call.viaFallback) {
      assert.ok(r.error, `${call.name}: expected an error via the fallback, got ${JSON.stringify(r.answer)}`);
      assert.equal(r.error.statusCode, call.viaFallback.status, `${call.name}: ${r.error.message}`);
      assert.match(r.error.message, call.viaFallback.message);
      assert.equal(r.node, thrown ? 2 : 1, `${call.name}: node requests`);
    } else {
      assert.ifError(r.error);
      assert.deepEqual(normalized(call, r.answer), call.want, call.name);
      assert.equal(r.node, call.requests, `${call.name}: node requests`);
    }
    assert.equal(r.cp, 0, `${call.name}: control plane requests`);
    await extra(call, r);
  }
}

describe("fallback", () => {
  it("normal operation: every check method answers from the control plane", async () => {
    await chaos.set("pass");
    for (const call of CALLS) {
      const r = await measure(call, oso);
      assert.ifError(r.error);
      assert.deepEqual(normalized(call, r.answer), call.want, call.name);
      assert.equal(r.cp, call.requests, `${call.name}: control plane requests`);
      assert.equal(r.node, 0, `${call.name}: node requests`);
    }
  });

  it("control plane refuses connections: same answers, from the node", async () => {
    await chaos.set("refuse");
    await expectAllFromNode(oso, true);
  });

  for (const status of [500, 503]) {
    it(`control plane answers ${status}: retried, then answered by the node`, async () => {
      await chaos.set("http5xx", { status });
      const answeredBefore = (await chaos.stats()).answered;
      await expectAllFromNode(oso, false);
      // Every HTTP call was tried three times on the primary (fetch-retry).
      const calls = CALLS.reduce((n, c) => n + c.requests, 0);
      assert.equal((await chaos.stats()).answered - answeredBefore, 3 * calls, "requests the chaos proxy answered");
    });
  }

  it("control plane hangs past fetchTimeoutMillis: each attempt aborts, then the node answers", async () => {
    await chaos.set("hang");
    const heldBefore = (await chaos.stats()).held;
    await expectAllFromNode(oso, true, async (call, r) => {
      // Three attempts of FETCH_TIMEOUT_MS each before the fallback.
      assert.ok(r.ms >= 3 * FETCH_TIMEOUT_MS * call.requests, `${call.name} answered after ${r.ms} ms`);
    });
    const calls = CALLS.reduce((n, c) => n + c.requests, 0);
    assert.equal((await chaos.stats()).held - heldBefore, 3 * calls, "held connections");
  });

  it("control plane slower than usual but within fetchTimeoutMillis: no fallback", async () => {
    await chaos.set("delay", { delay_ms: FETCH_TIMEOUT_MS / 2 });
    const call = CALLS[0];
    const r = await measure(call, oso);
    assert.ifError(r.error);
    assert.deepEqual(r.answer, call.want);
    assert.equal(r.cp, call.requests);
    assert.equal(r.node, 0);
  });

  it("control plane resets connections: the SDK reports an error and does not fall back", async () => {
    await chaos.set("reset");
    const call = CALLS[0];
    const r = await quietly(() => measure(call, oso));
    assert.ok(r.error, "expected an error");
    assert.equal(r.error.message, "Oso Cloud error: Unexpected fetch error");
    assert.equal(r.node, 0, "node requests");
    assert.equal(r.cp, 0, "control plane requests");
  });

  it("control plane host does not resolve: the SDK reports an error and does not fall back", async () => {
    patchDNS();
    const client = new Oso(`http://${UNRESOLVABLE_HOST}:8080`, WRITE_KEY, { fallbackUrl: node.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS });
    for (const call of CALLS) {
      const r = await quietly(() => measure(call, client));
      assert.ok(r.error, `${call.name}: expected an error`);
      assert.equal(r.error.message, "Oso Cloud error: Unexpected fetch error", call.name);
      assert.equal(r.node, 0, `${call.name}: node requests`);
    }
  });

  it("control plane answers 400: re-sent to the node, whose message the caller sees", async () => {
    await chaos.set("pass");
    const call = {
      name: "authorize with an undeclared type",
      path: "/api/authorize",
      run: (c) => c.authorize({ type: "Robot", id: "r2" }, "read", anvil),
    };
    const r = await measure(call, oso);
    assert.ok(r.error, "expected an error");
    assert.equal(r.error.statusCode, 400);
    assert.match(r.error.message, /^Oso Cloud error: .*Robot.* \(Request ID: [0-9a-f-]{36}\)$/);
    assert.equal(r.cp, 3, "control plane requests (three attempts)");
    assert.equal(r.node, 1, "node requests");
  });

  // Last: stops the control plane process for good.
  it("control plane process stopped: same answers, from the node", async () => {
    const direct = new Oso(cp.url, WRITE_KEY, { fallbackUrl: node.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS });
    assert.equal(await direct.authorize(alice, "read", anvil), true);
    const nodeBefore = await node.requests("/api/authorize");
    const cpRequests = cp.requests.bind(cp);
    await cp.stop();
    cp.requests = async () => 0; // the control plane is gone; nothing more reaches it
    try {
      await expectAllFromNode(direct, true);
    } finally {
      cp.requests = cpRequests;
    }
    assert.ok((await node.requests("/api/authorize")) - nodeBefore >= 2);
  });
});
