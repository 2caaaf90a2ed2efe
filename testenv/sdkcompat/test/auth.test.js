// Authentication: the node checks the SDK's API key against the key hashes
// the control plane publishes (tokens events). A wrong key is refused with
// 401, which the SDK never retries nor sends to a fallback.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Oso } from "oso-cloud";

import { Chaos, ControlPlane, Node, READ_KEY, WRITE_KEY, closeAll, offsetSeq } from "../lib/harness.js";
import { alice, anvil, seed } from "../lib/fixtures.js";

let cp, chaos, node;
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
});

after(() => closeAll(cleanup));

async function authorizeCounting(oso) {
  const cpBefore = await cp.requests("/api/authorize");
  const nodeBefore = await node.requests("/api/authorize", 401);
  let answer, error;
  try {
    answer = await oso.authorize(alice, "read", anvil);
  } catch (e) {
    error = e;
  }
  return {
    answer,
    error,
    cp: (await cp.requests("/api/authorize")) - cpBefore,
    node401: (await node.requests("/api/authorize", 401)) - nodeBefore,
  };
}

describe("auth", () => {
  it("a wrong API key is refused by the node with 401 and the SDK surfaces the message", async () => {
    await chaos.set("refuse");
    const oso = new Oso(chaos.url, "not-a-key-anyone-issued", { fallbackUrl: node.url, fetchTimeoutMillis: 200 });
    const r = await authorizeCounting(oso);
    assert.ok(r.error, "expected an error");
    assert.equal(r.error.statusCode, 401);
    assert.match(r.error.message, /^Oso Cloud error: invalid API key \(Request ID: [0-9a-f-]{36}\)$/);
    assert.equal(r.node401, 1, "one 401 from the node, no retry");
    assert.equal(r.cp, 0);
  });

  it("a wrong API key refused by the control plane is not sent to the node", async () => {
    await chaos.set("pass");
    const oso = new Oso(chaos.url, "not-a-key-anyone-issued", { fallbackUrl: node.url, fetchTimeoutMillis: 200 });
    const r = await authorizeCounting(oso);
    assert.ok(r.error, "expected an error");
    assert.equal(r.error.statusCode, 401);
    assert.equal(r.cp, 1, "one 401 from the control plane, no retry");
    assert.equal(r.node401, 0, "nothing reached the node");
  });

  it("the node accepts every key the control plane issued, read and write", async () => {
    await chaos.set("refuse");
    for (const key of [WRITE_KEY, READ_KEY, `  ${WRITE_KEY}\n`]) {
      const oso = new Oso(chaos.url, key, { fallbackUrl: node.url, fetchTimeoutMillis: 200 });
      assert.equal(await oso.authorize(alice, "read", anvil), true, JSON.stringify(key));
    }
  });
});
