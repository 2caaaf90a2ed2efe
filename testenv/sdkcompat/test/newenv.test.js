// A new environment (no policy set yet) through the SDK, on the control
// plane and on a node that follows it, and Oso Migrate's parity handle
// (authorize with a ParityHandle, then expect(), which POSTs /api/expect to
// the client's primary URL) against both.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Oso, ParityHandle } from "oso-cloud";

import { ControlPlane, Node, READ_KEY, WRITE_KEY, closeAll, eventually, offsetSeq, parseMetrics, sumMetric, httpGet } from "../lib/harness.js";
import { acme, alice, anvil, seed } from "../lib/fixtures.js";

let cp, node;
const cleanup = [];

before(async () => {
  cp = await ControlPlane.start();
  cleanup.push(cp);
  // A node following an environment that never had a policy still becomes
  // healthy (Node.start waits for /healthcheck 200).
  node = await Node.start({ controlPlaneURL: cp.url });
  cleanup.push(node);
});

after(() => closeAll(cleanup));

const EMPTY_METADATA = { resources: { global: { roles: [], permissions: [], relations: {} } } };

describe("a new environment", () => {
  it("answers reads as an empty policy does, on the control plane and on a node", async () => {
    for (const [name, url] of [["control plane", cp.url], ["node", node.url]]) {
      const oso = new Oso(url, READ_KEY);
      assert.equal(await oso.authorize(alice, "read", anvil), false, name);
      assert.deepEqual(await oso.list(alice, "read", "Repository"), [], name);
      assert.deepEqual(await oso.actions(alice, anvil), [], name);
      assert.deepEqual(await oso.getPolicyMetadata(), EMPTY_METADATA, name);
      assert.deepEqual(await oso.get(["has_role", alice, null, null]), [], name);
    }
  });

  it("refuses inserts until a policy is set, and accepts deletes", async () => {
    const writer = new Oso(cp.url, WRITE_KEY);
    await assert.rejects(writer.insert(["has_role", alice, "member", acme]), (e) => {
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /this environment has no policy yet/);
      return true;
    });
    await writer.delete(["has_role", alice, null, null]);
    await seed(writer);
    await node.caughtUp(offsetSeq(writer.api.lastOffset));
    assert.equal(await new Oso(node.url, READ_KEY).authorize(alice, "read", anvil), true);
  });
});

describe("parity handle", () => {
  it("expect() after authorize reaches the control plane and a node used as the primary", async () => {
    for (const [name, url, metric, read] of [
      ["control plane", cp.url, "controlplane_expect_reports_total", async () => parseMetrics((await httpGet(cp.url + "/metrics")).body)],
      ["node", node.url, "outpost_expect_reports_total", async () => parseMetrics((await httpGet(node.url + "/metrics")).body)],
    ]) {
      const oso = new Oso(url, READ_KEY);
      const handle = new ParityHandle();
      assert.equal(await oso.authorize(alice, "read", anvil, { parityHandle: handle }), true, name);
      handle.expect(true); // fired without awaiting, as applications do
      const early = new ParityHandle();
      early.expect(false); // set before the check: sent once the check answers
      assert.equal(await oso.authorize(alice, "delete", anvil, { parityHandle: early }), false, name);
      await eventually(`${name} counted both reports`, async () => {
        const samples = await read();
        return sumMetric(samples, metric, { expected: "true" }) === 1 && sumMetric(samples, metric, { expected: "false" }) === 1;
      });
    }
  });
});
