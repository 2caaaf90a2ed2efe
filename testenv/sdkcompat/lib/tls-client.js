// Child process of test/tls.test.js: runs the fallback-eligible SDK calls
// with an Oso client whose primary URL refuses connections and whose
// fallbackUrl is an https:// Outpost node, and prints one JSON line per
// call. It is a separate process because NODE_EXTRA_CA_CERTS, the way a
// Node application trusts a private CA, is read only when node starts.
//
//   node lib/tls-client.js PRIMARY_URL FALLBACK_URL API_KEY

import { Oso } from "oso-cloud";

import { CALLS, normalized } from "./fixtures.js";

const [primary, fallback, key] = process.argv.slice(2);
const oso = new Oso(primary, key, { fallbackUrl: fallback, fetchTimeoutMillis: 500 });
// The SDK logs the failed primary attempts; the parent reads only stdout.
console.error = () => {};
for (const call of CALLS) {
  try {
    const answer = await call.run(oso);
    process.stdout.write(JSON.stringify({ name: call.name, answer: normalized(call, answer) }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ name: call.name, error: e.message, status: e.statusCode ?? null }) + "\n");
  }
}
