// Local authorization through Oso's Node SDK: authorizeLocal, listLocal,
// actionsLocal, evaluateLocalSelect (with and without columns) and
// evaluateLocalFilter against the control plane, and against a node as the
// fallback behind a refusing chaos proxy. Every SQL answer runs on a real
// PostgreSQL through the pg driver and its rows are checked.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Oso, typedVar } from "oso-cloud";

import { Chaos, ControlPlane, Node, WRITE_KEY, closeAll, offsetSeq } from "../lib/harness.js";
import { acme, alice, anvil, bob, gizmo, seed } from "../lib/fixtures.js";
import { Postgres } from "../lib/postgres.js";

const FETCH_TIMEOUT_MS = 500;
let cp, chaos, node, db, direct, fallback, bindingsDir;
const cleanup = [];

// Repositories live in the application's database: their organization and
// whether they are public. Roles stay in the control plane.
const BINDINGS = `facts:
  "has_relation(Repository:_, String:parent, Organization:_)":
    query: SELECT id, org_id FROM repos
  is_public(Repository:_):
    query: |-
      select "Id" from "Public Repos"
    db: app
sql_types:
  Repository: TEXT
`;

before(async () => {
  db = await Postgres.start();
  cleanup.push(db);
  await db.rows(`CREATE TABLE repos (id text PRIMARY KEY, org_id text, public boolean NOT NULL DEFAULT false)`);
  await db.rows(`INSERT INTO repos VALUES ('anvil', 'acme', false), ('gizmo', 'acme', false), ('widget', 'other', false),
    ('pub', 'other', true), ('o''hara', 'acme', false), ('back\\slash', 'other', false)`);
  await db.rows(`CREATE VIEW "Public Repos" AS SELECT id AS "Id" FROM repos WHERE public`);
  cp = await ControlPlane.start();
  cleanup.push(cp);
  chaos = await Chaos.start(cp.addr);
  cleanup.push(chaos);
  node = await Node.start({ controlPlaneURL: cp.url });
  cleanup.push(node);
  const writer = new Oso(cp.url, WRITE_KEY);
  await seed(writer);
  await node.caughtUp(offsetSeq(writer.api.lastOffset));
  bindingsDir = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-bindings-"));
  const file = path.join(bindingsDir, "bindings.yaml");
  fs.writeFileSync(file, BINDINGS);
  direct = new Oso(cp.url, WRITE_KEY, { dataBindings: file });
  fallback = new Oso(chaos.url, WRITE_KEY, { fallbackUrl: node.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS, dataBindings: file });
});

after(async () => {
  await closeAll(cleanup);
  if (bindingsDir) fs.rmSync(bindingsDir, { recursive: true, force: true });
});

const sorted = (a) => [...a].sort();

/** Every local call, run with client, its SQL executed on Postgres. */
async function scenarios(oso) {
  const out = {};
  const allowed = async (...args) => (await db.rows(`SELECT allowed FROM (${await oso.authorizeLocal(...args)}) AS x`))[0].allowed;
  out.authorize = [await allowed(alice, "read", anvil), await allowed(alice, "push", anvil), await allowed(bob, "push", gizmo),
    await allowed(bob, "read", { type: "Repository", id: "pub" }), await allowed(bob, "read", anvil)];
  const list = async (...args) => sorted((await db.rows(`SELECT id FROM repos WHERE ${await oso.listLocal(...args)} AND id <> 'none'`)).map((r) => r.id));
  out.listAlice = await list(alice, "read", "Repository", "repos.id");
  out.listBob = await list(bob, "push", "Repository", "id");
  out.listNone = await list(alice, "push", "Repository", "repos.id");
  out.actions = sorted((await db.rows(await oso.actionsLocal(alice, anvil))).map((r) => r.actions));
  out.actionsBob = sorted((await db.rows(await oso.actionsLocal(bob, gizmo))).map((r) => r.actions));
  const repo = typedVar("Repository");
  const q = () => oso.buildQuery(["allow", alice, "read", repo]);
  out.select = sorted((await db.rows(await q().evaluateLocalSelect({ repo_id: repo }))).map((r) => r.repo_id));
  out.selectResult = await db.rows(await q().evaluateLocalSelect());
  out.filter = sorted((await db.rows(`SELECT id FROM repos WHERE ${await q().evaluateLocalFilter("id", repo)}`)).map((r) => r.id));
  return out;
}

const WANT = {
  authorize: [true, false, true, true, false],
  listAlice: sorted(["anvil", "gizmo", "o'hara", "pub"]),
  listBob: ["gizmo"],
  listNone: [],
  actions: ["read"],
  actionsBob: ["push", "read"],
  select: sorted(["anvil", "gizmo", "o'hara", "pub"]),
  selectResult: [{ result: true }],
  filter: sorted(["anvil", "gizmo", "o'hara", "pub"]),
};

describe("local authorization", () => {
  it("the control plane answers all five local calls with SQL that Postgres runs", async () => {
    await chaos.set("pass");
    assert.deepEqual(await scenarios(direct), WANT);
  });

  it("a node answers them as the fallback when the control plane refuses connections", async () => {
    await chaos.set("refuse");
    const before = await node.requests();
    assert.deepEqual(await scenarios(fallback), WANT);
    for (const p of ["/api/authorize_query", "/api/list_query", "/api/actions_query", "/api/evaluate_query_local"]) {
      assert.ok((await node.requests(p, 200)) > 0, `node served ${p}`);
    }
    assert.ok((await node.requests()) > before);
  });

  it("a bad bindings file is a 400 naming the problem, from the node too", async () => {
    await chaos.set("refuse");
    const file = path.join(bindingsDir, "bad.yaml");
    fs.writeFileSync(file, "facts:\n  is_public(Repository:_):\n    sql: SELECT id FROM repos\n");
    const client = new Oso(chaos.url, WRITE_KEY, { fallbackUrl: node.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS, dataBindings: file });
    await assert.rejects(client.authorizeLocal(alice, "read", anvil), (e) => {
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /is_public\(Repository:_\).*no query key/);
      return true;
    });
  });

  it("a signature the policy cannot use is left out, as Oso does, from the node too", async () => {
    await chaos.set("refuse");
    const file = path.join(bindingsDir, "ghost.yaml");
    fs.writeFileSync(file, "facts:\n  has_role(Ghost:_, String:_, Repository:_):\n    query: SELECT 1, 2, 3\n");
    const client = new Oso(chaos.url, WRITE_KEY, { fallbackUrl: node.url, fetchTimeoutMillis: FETCH_TIMEOUT_MS, dataBindings: file });
    const sql = await client.authorizeLocal(alice, "read", anvil);
    const rows = await db.rows(sql);
    assert.equal(rows.length, 1);
    assert.equal(typeof rows[0].allowed, "boolean");
  });

  it("context facts count like stored facts", async () => {
    await chaos.set("pass");
    const sql = await direct.listLocal(bob, "read", "Repository", "repos.id", [["has_role", bob, "member", acme]]);
    const rows = sorted((await db.rows(`SELECT id FROM repos WHERE ${sql}`)).map((r) => r.id));
    assert.deepEqual(rows, sorted(["anvil", "gizmo", "o'hara", "pub"]));
  });
});
