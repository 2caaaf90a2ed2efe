// Writes through the SDK (policy, insert, delete, batch) go to the control
// plane and reach Outpost nodes through each ingest source: poll, Kafka and
// NATS JetStream (the control plane's embedded brokers). After each write
// every node converges to the control plane's state digest and answers the
// SDK's checks with the new state.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Oso } from "oso-cloud";

import { ControlPlane, Node, WRITE_KEY, closeAll, offsetSeq } from "../lib/harness.js";
import { EXPECTED_METADATA, POLICY, acme, alice, anvil, bob, gizmo, normalizeMetadata } from "../lib/fixtures.js";

const SOURCES = ["poll", "kafka", "nats"];
const carol = { type: "User", id: "carol" };

let cp, writer;
const nodes = {};
const readers = {};
const cleanup = [];

before(async () => {
  cp = await ControlPlane.start({ embedKafka: true, embedNats: true });
  cleanup.push(cp);
  writer = new Oso(cp.url, WRITE_KEY);
  await writer.policy(POLICY); // nodes need a policy to report healthy
  const started = await Promise.all(SOURCES.map((source) =>
    Node.start({ controlPlaneURL: cp.url, source, kafka: cp.kafka, nats: cp.nats, pollWait: "1s" })));
  SOURCES.forEach((s, i) => {
    nodes[s] = started[i];
    cleanup.push(started[i]);
    // The node as the SDK's only URL: every answer below comes from it.
    readers[s] = new Oso(started[i].url, WRITE_KEY);
  });
});

after(() => closeAll(cleanup));

/** Waits until every node has applied the writer's last write and has the control plane's digest. */
async function converge() {
  const seq = offsetSeq(writer.api.lastOffset);
  const want = await cp.status();
  assert.equal(want.seq, seq, "the control plane's head is the writer's last OsoOffset");
  await Promise.all(SOURCES.map((s) => nodes[s].caughtUp(seq)));
  for (const s of SOURCES) {
    const st = await nodes[s].status();
    assert.equal(st.digest, want.digest, `${s}: state digest`);
  }
}

/** Runs check against every node's reader. */
async function onEveryNode(check) {
  for (const s of SOURCES) {
    const before = await nodes[s].requests();
    await check(readers[s], s);
    assert.ok((await nodes[s].requests()) > before, `${s}: the node answered`);
  }
}

describe("writes reach every ingest source", () => {
  it("policy", async () => {
    const before = writer.api.lastOffset;
    await writer.policy(POLICY);
    assert.equal(writer.api.lastOffset, before, "an identical policy changes nothing (same OsoOffset)");
    await converge();
    await onEveryNode(async (r, s) => assert.deepEqual(normalizeMetadata(await r.getPolicyMetadata()), EXPECTED_METADATA, s));
  });

  it("insert", async () => {
    await writer.insert(["has_role", alice, "member", acme]);
    await writer.insert(["has_relation", anvil, "parent", acme]);
    await converge();
    await onEveryNode(async (r, s) => {
      assert.equal(await r.authorize(alice, "read", anvil), true, s);
      assert.deepEqual(await r.get(["has_role", alice, null, null]), [["has_role", alice, { type: "String", id: "member" }, acme]], s);
    });
  });

  it("batch (inserts and deletes, in order, atomically)", async () => {
    await writer.batch((tx) => {
      tx.insert(["has_role", bob, "maintainer", gizmo]);
      tx.insert(["has_relation", gizmo, "parent", acme]);
      tx.insert(["has_role", carol, "member", acme]);
      tx.delete(["has_role", carol, "member", acme]);
    });
    await converge();
    await onEveryNode(async (r, s) => {
      assert.deepEqual((await r.actions(bob, gizmo)).sort(), ["push", "read"], s);
      assert.deepEqual((await r.list(alice, "read", "Repository")).sort(), ["anvil", "gizmo"], s);
      assert.equal(await r.authorize(carol, "read", anvil), false, s);
    });
  });

  it("delete with a wildcard", async () => {
    await writer.delete(["has_role", alice, null, null]);
    await converge();
    await onEveryNode(async (r, s) => {
      assert.equal(await r.authorize(alice, "read", anvil), false, s);
      assert.deepEqual(await r.list(alice, "read", "Repository"), [], s);
    });
  });

  it("policy change", async () => {
    await writer.policy(POLICY.replace(`permissions = ["read", "push"];`, `permissions = ["read", "push", "delete"];\n  "delete" if "maintainer";`));
    await converge();
    await onEveryNode(async (r, s) => {
      assert.deepEqual((await r.actions(bob, gizmo)).sort(), ["delete", "push", "read"], s);
      const md = normalizeMetadata(await r.getPolicyMetadata());
      assert.deepEqual(md.resources.Repository.permissions, ["delete", "push", "read"], s);
    });
  });

  it("a write sent to a node is refused with 405 and the SDK surfaces the message", async () => {
    for (const s of SOURCES) {
      await assert.rejects(readers[s].insert(["has_role", alice, "member", acme]), (e) => {
        assert.equal(e.statusCode, 405, s);
        assert.match(e.message, /^Oso Cloud error: this node is a read-only replica; send writes to the control plane \(Request ID: [0-9a-f-]{36}\)$/);
        return true;
      });
    }
  });
});
