// The policy, facts and expected answers every scenario uses, and the six
// fallback-eligible SDK calls as named functions.

import dns from "node:dns";
import { typedVar } from "oso-cloud";

export const POLICY = `actor User {}

resource Organization {
  roles = ["member", "admin"];
  permissions = ["read", "invite"];
  "read" if "member";
  "invite" if "admin";
  "member" if "admin";
}

resource Repository {
  roles = ["reader", "maintainer"];
  permissions = ["read", "push"];
  relations = { parent: Organization };
  "reader" if "member" on "parent";
  "read" if "reader";
  "push" if "maintainer";
  "reader" if "maintainer";
}

# Anyone may read a public repository: a rule whose actor is free, so
# evaluate_query answers it with a wildcard (null) cell.
has_permission(_: User, "read", repo: Repository) if is_public(repo);
`;

export const alice = { type: "User", id: "alice" };
export const bob = { type: "User", id: "bob" };
export const acme = { type: "Organization", id: "acme" };
export const anvil = { type: "Repository", id: "anvil" };
export const gizmo = { type: "Repository", id: "gizmo" };

/** Loads the policy and facts through the SDK (a write client). */
export async function seed(oso) {
  await oso.policy(POLICY);
  await oso.batch((tx) => {
    tx.insert(["has_role", alice, "member", acme]);
    tx.insert(["has_role", bob, "maintainer", gizmo]);
    tx.insert(["has_relation", anvil, "parent", acme]);
    tx.insert(["has_relation", gizmo, "parent", acme]);
  });
}

export const EXPECTED_METADATA = {
  resources: {
    Organization: { roles: ["admin", "member"], permissions: ["invite", "read"], relations: {} },
    Repository: { roles: ["maintainer", "reader"], permissions: ["push", "read"], relations: { parent: "Organization" } },
    // Outpost lists actor blocks too (check-api.md §9 question 6).
    User: { roles: [], permissions: [], relations: {} },
    // and a global entry, empty without a global block (check-api.md §4.8).
    global: { roles: [], permissions: [], relations: {} },
  },
};

/**
 * The fallback-eligible SDK calls (check-api.md §8.1), each with the Check
 * API path it uses and the answer the seeded state gives.
 */
export const CALLS = [
  {
    name: "authorize",
    path: "/api/authorize",
    run: async (oso) => [await oso.authorize(alice, "read", anvil), await oso.authorize(alice, "push", anvil)],
    requests: 2,
    want: [true, false],
  },
  {
    name: "list",
    path: "/api/list",
    run: (oso) => oso.list(alice, "read", "Repository"),
    requests: 1,
    want: ["anvil", "gizmo"],
    sort: true,
  },
  {
    name: "actions",
    path: "/api/actions",
    run: (oso) => oso.actions(bob, gizmo),
    requests: 1,
    want: ["push", "read"],
    sort: true,
  },
  {
    name: "buildQuery().evaluate()",
    path: "/api/evaluate_query",
    run: (oso) => {
      const repo = typedVar("Repository");
      return oso.buildQuery(["allow", alice, "read", repo]).evaluate(repo);
    },
    requests: 1,
    want: ["anvil", "gizmo"],
    sort: true,
  },
  {
    name: "get",
    path: "/api/facts",
    run: (oso) => oso.get(["has_role", alice, null, null]),
    requests: 1,
    want: [["has_role", alice, { type: "String", id: "member" }, acme]],
    // Node 2.6.0 drops the query string when it falls back (check-api.md
    // §4.7, §8.1): the node sees a bare GET /api/facts and must answer 400.
    // After a connection failure, a 400 from the fallback is sent to the
    // fallback once more (two requests); after an HTTP error, once.
    viaFallback: { status: 400, message: /the predicate query parameter is required/ },
  },
  {
    name: "getPolicyMetadata",
    path: "/api/policy_metadata",
    run: (oso) => oso.getPolicyMetadata(),
    requests: 1,
    want: EXPECTED_METADATA,
    normalize: normalizeMetadata,
  },
];

/** Sorts the lists inside policy metadata so answers compare. */
export function normalizeMetadata(m) {
  const out = { resources: {} };
  for (const [k, v] of Object.entries(m.resources)) {
    out.resources[k] = { roles: [...v.roles].sort(), permissions: [...v.permissions].sort(), relations: v.relations };
  }
  return out;
}

/** The answer of a call, normalized for comparison. */
export function normalized(call, answer) {
  if (call.normalize) return call.normalize(answer);
  if (call.sort) return [...answer].sort();
  return answer;
}

// A host name under .invalid (RFC 2606) that the suite's resolver fails
// with ENOTFOUND without asking any DNS server (the machine's resolver is
// not on 127.0.0.1). The error has the shape getaddrinfo's has.
export const UNRESOLVABLE_HOST = "controlplane.sdkcompat.invalid";
let dnsPatched = false;
export function patchDNS() {
  if (dnsPatched) return;
  dnsPatched = true;
  const orig = dns.lookup;
  dns.lookup = function lookup(host, opts, cb) {
    if (typeof opts === "function") {
      cb = opts;
      opts = {};
    }
    if (typeof host === "string" && host.endsWith(".invalid")) {
      const e = new Error(`getaddrinfo ENOTFOUND ${host}`);
      Object.assign(e, { code: "ENOTFOUND", errno: -3008, syscall: "getaddrinfo", hostname: host });
      process.nextTick(cb, e);
      return {};
    }
    return orig.call(this, host, opts, cb);
  };
}

/** Runs f with console.error silenced (the SDK logs fetch errors there). */
export async function quietly(f) {
  const orig = console.error;
  const logged = [];
  console.error = (...a) => logged.push(a);
  try {
    return await f();
  } finally {
    console.error = orig;
  }
}
