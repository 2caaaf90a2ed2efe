// Deployment 4 (DESIGN.md §1): the node follows the control plane through
// Oso's public read API only (--source oso-api: GET /api/policy and
// GET /api/facts, refreshed on an interval). The SDK's primary URL is a
// dead port (the chaos proxy refusing connections) and its fallbackUrl that
// node: every fallback-eligible call gets the control plane's answer, and a
// later write reaches the node by the next refresh.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Oso } from "oso-cloud";

import { Chaos, ControlPlane, Node, READ_KEY, WRITE_KEY, closeAll, eventually } from "../lib/harness.js";
import { CALLS, alice, bob, acme, anvil, normalized, seed } from "../lib/fixtures.js";

// Children inherit the environment: the node refreshes every 200 ms.
process.env.OUTPOST_REFRESH_INTERVAL = "200ms";

let cp, chaos, node, oso, writer;
const cleanup = [];

before(async () => {
  cp = await ControlPlane.start();
  cleanup.push(cp);
  writer = new Oso(cp.url, WRITE_KEY);
  await seed(writer);
  chaos = await Chaos.start(cp.addr);
  cleanup.push(chaos);
  await chaos.set("refuse");
  node = await Node.start({ controlPlaneURL: cp.url, source: "oso-api" });
  cleanup.push(node);
  // The node accepts the key it uses upstream (--auth tokens on oso-api),
  // so the application uses the read key for both.
  oso = new Oso(chaos.url, READ_KEY, { fallbackUrl: node.url, fetchTimeoutMillis: 200 });
});

after(() => closeAll(cleanup));

describe("oso-api fallback node", () => {
  it("bootstraps from the public API and serves the control plane's answers", async () => {
    const st = await node.status();
    assert.equal(st.node.source, "oso-api");
    assert.equal(st.node.loaded_from, "oso-api");
    for (const call of CALLS) {
      const before = await node.requests(call.path);
      let answer, error;
      try {
        answer = await call.run(oso);
      } catch (e) {
        error = e;
      }
      if (call.viaFallback) {
        assert.ok(error, `${call.name}: expected the fallback's error`);
        assert.equal(error.statusCode, call.viaFallback.status, error.message);
        continue;
      }
      assert.ifError(error);
      assert.deepEqual(normalized(call, answer), call.want, call.name);
      assert.equal((await node.requests(call.path)) - before, call.requests, `${call.name}: node requests`);
    }
  });

  it("a write on the control plane reaches the node by the next refresh", async () => {
    assert.equal(await oso.authorize(bob, "read", anvil), false);
    await writer.insert(["has_role", bob, "member", acme]);
    await eventually("bob can read anvil through the fallback", () => oso.authorize(bob, "read", anvil), 15000);
    assert.deepEqual((await oso.list(bob, "read", "Repository")).sort(), ["anvil", "gizmo"]);
    assert.equal(await oso.authorize(alice, "read", anvil), true);
    const st = await node.status();
    assert.ok(st.oso_api.refreshes >= 2, `refreshes: ${st.oso_api.refreshes}`);
    assert.equal(st.ingest.source, "oso-api");
  });

  it("a key the node does not know is refused", async () => {
    const stranger = new Oso(chaos.url, "not-a-key", { fallbackUrl: node.url, fetchTimeoutMillis: 200 });
    await assert.rejects(() => stranger.authorize(alice, "read", anvil), (e) => e.statusCode === 401);
  });
});
