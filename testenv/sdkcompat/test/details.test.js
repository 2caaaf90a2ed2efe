// Protocol details that applications meet through the SDK's fallback:
// a fallbackUrl with a trailing slash, context facts, wildcard query
// results and a paginated listing that fails over between pages (local
// authorization: test/local.test.js).

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Oso, typedVar } from "oso-cloud";

import { Chaos, ControlPlane, Node, Spy, WRITE_KEY, closeAll, offsetSeq } from "../lib/harness.js";
import { acme, alice, anvil, bob, gizmo, seed } from "../lib/fixtures.js";

const FETCH_TIMEOUT_MS = 200;
let cp, chaos, node, spy, oso, bindings;
const cleanup = [];

before(async () => {
  cp = await ControlPlane.start();
  cleanup.push(cp);
  chaos = await Chaos.start(cp.addr);
  cleanup.push(chaos);
  node = await Node.start({ controlPlaneURL: cp.url });
  cleanup.push(node);
  spy = await Spy.start(node.url);
  cleanup.push(spy);
  const writer = new Oso(cp.url, WRITE_KEY);
  await seed(writer);
  await node.caughtUp(offsetSeq(writer.api.lastOffset));
  oso = new Oso(chaos.url, WRITE_KEY, { fallbackUrl: spy.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS });
  bindings = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-")), "bindings.yaml");
  fs.writeFileSync(bindings, `facts:\n  "has_role(User:_, String:_, Organization:_)":\n    query: SELECT user_id, role, org_id FROM org_roles\nsql_types:\n  User: text\n  Organization: text\n`);
});

after(async () => {
  await closeAll(cleanup);
  if (bindings) fs.rmSync(path.dirname(bindings), { recursive: true, force: true });
});

describe("details", () => {
  it("a fallbackUrl with a trailing slash (//api/... requests) is served, not redirected", async () => {
    await chaos.set("refuse");
    const client = new Oso(chaos.url, WRITE_KEY, { fallbackUrl: spy.url + "/", fetchTimeoutMillis: FETCH_TIMEOUT_MS });
    const mark = spy.mark();
    assert.equal(await client.authorize(alice, "read", anvil), true);
    const ex = spy.since(mark);
    assert.equal(ex.length, 1);
    assert.equal(ex[0].path, "//api/authorize");
    assert.equal(ex[0].status, 200);
  });

  it("response headers: X-Request-ID echoed, Server-Timing oso;dur=N, X-Outpost-Revision", async () => {
    await chaos.set("refuse");
    const mark = spy.mark();
    await oso.actions(bob, gizmo);
    const [ex] = spy.since(mark);
    assert.equal(ex.resHeaders["x-request-id"], ex.reqHeaders["x-request-id"]);
    assert.match(ex.resHeaders["server-timing"], /^oso;dur=\d+$/);
    assert.match(ex.resHeaders["x-outpost-revision"], /^\d+$/);
    assert.equal(ex.resHeaders["content-type"], "application/json");
  });

  it("context facts are honoured by the node", async () => {
    await chaos.set("refuse");
    const carol = { type: "User", id: "carol" };
    assert.equal(await oso.authorize(carol, "read", anvil), false);
    assert.equal(await oso.authorize(carol, "read", anvil, [["has_role", carol, "member", acme]]), true);
    assert.deepEqual((await oso.list(carol, "read", "Repository", [["has_role", carol, "reader", anvil]])).sort(), ["anvil"]);
    assert.deepEqual((await oso.actions(carol, gizmo, [["has_role", carol, "maintainer", gizmo]])).sort(), ["push", "read"]);
  });

  it("query builder: wildcard results come back as \"*\", and every evaluate() shape works", async () => {
    await chaos.set("refuse");
    const user = typedVar("User");
    const repo = typedVar("Repository");
    assert.equal(await oso.buildQuery(["allow", alice, "read", anvil]).evaluate(), true);
    assert.deepEqual((await oso.buildQuery(["allow", user, "read", gizmo]).evaluate(user)).sort(), ["alice", "bob"]);
    const pairs = await oso.buildQuery(["allow", user, "push", repo]).evaluate([user, repo]);
    assert.deepEqual(pairs, [["bob", "gizmo"]]);
    const byUser = await oso.buildQuery(["allow", user, "read", repo]).evaluate(new Map([[user, repo]]));
    assert.deepEqual(Object.fromEntries([...byUser].map(([k, v]) => [k, [...v].sort()])), { alice: ["anvil", "gizmo"], bob: ["gizmo"] });
    const limited = await oso.buildQuery(["allow", user, "read", repo]).in(repo, ["anvil"]).evaluate(user);
    assert.deepEqual(limited, ["alice"]);
    // Anyone may read a public repository: a null cell, shown as "*".
    const readers = await oso.buildQuery(["allow", user, "read", anvil]).withContextFacts([["is_public", anvil]]).evaluate(user);
    assert.deepEqual([...readers].sort(), ["*", "alice"]);
    assert.equal(await oso.authorize({ type: "User", id: "zed" }, "read", anvil, [["is_public", anvil]]), true);
  });

  it("listPaginated: pages from the node, and a listing that fails over between pages", async () => {
    await chaos.set("refuse");
    const p1 = await oso.listPaginated(alice, "read", "Repository", 1);
    assert.deepEqual(p1.results, ["anvil"]);
    assert.ok(p1.nextPageToken, "a next page token");
    const p2 = await oso.listPaginated(alice, "read", "Repository", 1, p1.nextPageToken);
    assert.deepEqual(p2.results, ["gizmo"]);
    assert.equal(p2.nextPageToken, null);

    // Page 1 from the control plane, page 2 from the node.
    await chaos.set("pass");
    const c1 = await oso.listPaginated(alice, "read", "Repository", 1);
    await chaos.set("refuse");
    const c2 = await oso.listPaginated(alice, "read", "Repository", 1, c1.nextPageToken);
    assert.deepEqual([...c1.results, ...c2.results], ["anvil", "gizmo"]);
    assert.equal(c2.nextPageToken, null);
  });
});
