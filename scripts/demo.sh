#!/usr/bin/env bash
# The demo behind `make run`: a control plane with an embedded NATS broker
# and sample gitclub data, and one Outpost node following it through NATS.
# Everything listens on 127.0.0.1 and lives in a temporary directory that is
# removed on exit. Ctrl-C stops it.
#
#   DEMO_FACTS=100000   facts of sample data
#   DEMO_CP_PORT=8081   control plane port
#   DEMO_NODE_PORT=8080 node port
#   DEMO_ONCE=1         run the walkthrough, then exit (used to check the demo)
set -euo pipefail
cd "$(dirname "$0")/.."
FACTS=${DEMO_FACTS:-100000}
CP_PORT=${DEMO_CP_PORT:-8081}
NODE_PORT=${DEMO_NODE_PORT:-8080}
KEY=demo-key
CP=http://127.0.0.1:$CP_PORT
NODE=http://127.0.0.1:$NODE_PORT

for port in "$CP_PORT" "$NODE_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; set DEMO_CP_PORT / DEMO_NODE_PORT" >&2
    exit 1
  fi
done

make --no-print-directory build
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

bin/outpost-controlplane -listen "127.0.0.1:$CP_PORT" -data "$tmp/controlplane" -env demo \
  -key "$KEY:write" -embed-nats -seed-gitclub "$FACTS" >"$tmp/controlplane.out" 2>"$tmp/controlplane.log" &
pids+=($!)

nats=""
for _ in $(seq 1 300); do
  nats=$(awk '$1 == "nats" {print $2}' "$tmp/controlplane.out")
  grep -q '^seeded' "$tmp/controlplane.out" 2>/dev/null && [ -n "$nats" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$tmp/controlplane.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$nats" ] || { echo "demo: the control plane did not start" >&2; cat "$tmp/controlplane.log" >&2; exit 1; }

bin/outpost --environment demo --control-plane-url "$CP" --api-token "$KEY" \
  --source nats --nats-url "$nats" --listen "127.0.0.1:$NODE_PORT" --directory "$tmp/node" \
  --checkpoint-interval 30s 2>"$tmp/node.log" &
pids+=($!)
for _ in $(seq 1 300); do
  curl -fs "$NODE/healthcheck" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$tmp/node.log" >&2; exit 1; }
  sleep 0.1
done

check='{"actor_type":"User","actor_id":"user-0000000","action":"read","resource_type":"Repository","resource_id":"repo-0000001"}'
newbie='{"actor_type":"User","actor_id":"newbie","action":"read","resource_type":"Repository","resource_id":"repo-0000001"}'
grant='[{"inserts":[{"predicate":"has_role","args":[{"type":"User","id":"newbie"},{"type":"String","id":"reader"},{"type":"Repository","id":"repo-0000001"}]}]}]'
post() { curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; }

cat <<MSG

Outpost demo is running ($FACTS gitclub facts).
  control plane   $CP        (writes, Check API, event feed; NATS at $nats)
  Outpost node    $NODE        (read-only replica following NATS)
  node status     $NODE/          metrics: $NODE/metrics
  logs            $tmp/*.log

Ask the node (the SDK's fallbackUrl) and the control plane the same question:
  curl -s -H 'Authorization: Bearer $KEY' -d '$check' $NODE/api/authorize
  curl -s -H 'Authorization: Bearer $KEY' -d '$check' $CP/api/authorize

Write a grant on the control plane, then see it arrive on the node:
  curl -s -H 'Authorization: Bearer $KEY' -d '$grant' $CP/api/batch -D - | grep -i osooffset
  curl -s -H 'Authorization: Bearer $KEY' -d '$newbie' $NODE/api/authorize -D - | grep -i 'revision\|allowed'

MSG

echo "Running that walkthrough now:"
echo "  node says:          $(post -d "$check" "$NODE/api/authorize")"
echo "  control plane says: $(post -d "$check" "$CP/api/authorize")"
echo "  newbie before:      $(post -d "$newbie" "$NODE/api/authorize")"
offset=$(post -d "$grant" "$CP/api/batch" -D - -o /dev/null | tr -d '\r' | awk 'tolower($1) == "osooffset:" {print $2}')
echo "  granted; the control plane's OsoOffset is $offset"
sleep 0.2
echo "  newbie after:       $(post -d "$newbie" "$NODE/api/authorize" -D - | tr -d '\r' | grep -i 'x-outpost-revision\|allowed' | tr '\n' ' ')"
echo "  digests:            node $(curl -s "$NODE/status" | sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' | cut -c1-20)…  control plane $(post "$CP/v1/envs/demo/status" | sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' | cut -c1-20)…"

if [ "${DEMO_ONCE:-}" = 1 ]; then
  exit 0
fi
echo
echo "Press Ctrl-C to stop."
wait
