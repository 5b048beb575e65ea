#!/usr/bin/env bash
# Starts the server as a user would (`npm start`, no DATABASE_URL), checks that
# FHIR answers, stops it with SIGTERM and checks that it restarts on the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
# a free port below the kernel's ephemeral range (32768 up): a port from that range can be taken by any
# outgoing connection before the server binds it (a random one once hit a port another service held, and
# an ephemeral one a client socket of tests running beside CI)
port=$(node -e "
const net = require('net');
const low = Math.min(32000, Number(require('fs').readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\\s+/)[0]) || 32768);
const tryPort = (n) => { const p = 20000 + Math.floor(Math.random() * (low - 20000));
  const s = net.createServer().once('error', () => n > 0 ? tryPort(n - 1) : process.exit(1)).listen(p, '0.0.0.0', () => { console.log(p); s.close(); }); };
tryPort(50);")
# every FHIR route needs a SMART token: a backend client from the seed file gets one (client_credentials)
cat > "$dir/seed.json" <<'JSON'
{ "clients": [ { "client_id": "smoke", "client_secret": "smoke-secret", "grant_types": ["client_credentials"],
                 "token_endpoint_auth_method": "client_secret_post", "scope": "system/*.cruds" } ] }
JSON
start() {
  (unset DATABASE_URL; DATA_DIR="$dir" PORT=$port SEED_FILE="$dir/seed.json" LOG_LEVEL=warn exec node dist/src/main.js) &
  pid=$!
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    kill -0 $pid 2>/dev/null || { echo "server exited before it was ready"; exit 1; }
    sleep 1
  done
  echo "server did not become ready"; kill $pid || true; exit 1
}
token() {
  curl -sf "http://127.0.0.1:$port/auth/token" -d grant_type=client_credentials -d client_id=smoke \
    -d client_secret=smoke-secret | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token'
}
start
auth="Authorization: Bearer $(token)"
test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/fhir/Patient")" = 401
id=$(curl -sf -XPOST "http://127.0.0.1:$port/fhir/Patient" -H "$auth" -H 'Content-Type: application/fhir+json' \
  -d '{"resourceType":"Patient","name":[{"family":"Smoke"}]}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
curl -sf "http://127.0.0.1:$port/fhir/metadata" | grep -q '"fhirVersion":"4.0.1"'
kill -TERM $pid; wait $pid || true
start
curl -sf "http://127.0.0.1:$port/fhir/Patient/$id" -H "Authorization: Bearer $(token)" | grep -q '"family":"Smoke"'
kill -TERM $pid; wait $pid || true
rm -rf "$dir"
echo "smoke ok: created, stopped with SIGTERM, restarted, read back Patient/$id"
