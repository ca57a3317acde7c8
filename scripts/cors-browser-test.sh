#!/usr/bin/env bash
# CORS in a real browser (issue 12): headless Chromium loads a page from one
# loopback origin that calls the API on another with fetch() (a preflighted
# PUT with Authorization, X-Servitly-Tenant, If-Match and Content-Type, then
# reads the exposed ETag and X-Request-Id). The server allows the origin of
# the first page (`--cors-allow-origin`): its calls must succeed. A second
# page, served from another port (another origin), must be blocked by the
# browser.
#
#   scripts/cors-browser-test.sh
#
# Needs Debian's `chromium` and python3 (for the static pages). Uses the debug
# server (built if needed) unless NETWORK_SERVER_BIN names another binary.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$chromium" ]; then
    echo "cors-browser-test: chromium not found (apt-get install chromium)" >&2
    exit 1
fi
server="${NETWORK_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/debug/network-server}"
if [ -z "${NETWORK_SERVER_BIN:-}" ]; then
    cargo build --quiet -p network-server --bin network-server
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
allowed_port=$(free_port)
other_port=$(free_port)
allowed_origin="http://127.0.0.1:$allowed_port"

# Port 0: the server writes its address to the ready file once it accepts requests.
"$server" --dev --bind 127.0.0.1:0 --data-dir "$work/data" --ready-file "$work/ready" \
    --cors-allow-origin "$allowed_origin" >"$work/server.log" 2>&1 &
pids+=($!)
base=""
for _ in $(seq 1 100); do
    if [ -s "$work/ready" ]; then base="http://$(head -n1 "$work/ready")"; break; fi
    sleep 0.1
done
[ -n "$base" ] || { echo "cors-browser-test: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
token=$("$server" --dev --data-dir "$work/data" token --tenant acme --subject browser \
    --permission READ_CUSTOMER --permission WRITE_CUSTOMER --ttl 10m)
id=$(curl -fsS -X POST "$base/network/customers" -H "Authorization: Bearer $token" \
    -H 'X-Servitly-Tenant: acme' -H 'Content-Type: application/json' -d '{"name": "Browser Inc."}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

mkdir -p "$work/site"
cat >"$work/site/index.html" <<EOF
<!doctype html><html><head><title>pending</title></head><body><pre id="out">pending</pre>
<script>
(async () => {
  const out = document.getElementById("out");
  try {
    const response = await fetch("$base/network/customers/$id", {
      method: "PUT",
      headers: {"Authorization": "Bearer $token", "X-Servitly-Tenant": "acme",
                "If-Match": "\"1\"", "Content-Type": "application/json"},
      body: JSON.stringify({name: "Renamed in a browser"}),
    });
    const body = await response.json();
    out.textContent = "RESULT status=" + response.status + " etag=" + response.headers.get("ETag")
      + " request-id=" + (response.headers.get("X-Request-Id") ? "yes" : "no") + " name=" + body.name;
  } catch (error) {
    out.textContent = "RESULT blocked " + error.name;
  }
})();
</script></body></html>
EOF
(cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$allowed_port") >"$work/site-allowed.log" 2>&1 &
pids+=($!)
(cd "$work/site" && exec python3 -m http.server --bind 127.0.0.1 "$other_port") >"$work/site-other.log" 2>&1 &
pids+=($!)
for port in "$allowed_port" "$other_port"; do
    for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
done

browse() {
    "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage \
        --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
        --user-data-dir="$(mktemp -d -p "$work")" \
        --virtual-time-budget=10000 --dump-dom "$1" 2>>"$work/chromium.log"
}

failed=0
result() { grep -o '<pre id="out">[^<]*' | sed 's/^<pre id="out">//'; }
allowed=$(browse "$allowed_origin/index.html" | result || true)
echo "cors-browser-test: from the allowed origin $allowed_origin: ${allowed:-no result}"
case "$allowed" in
    'RESULT status=200 etag="2" request-id=yes name=Renamed in a browser') ;;
    *) echo "  FAILED: the allowed origin's PUT did not succeed with readable headers" >&2; failed=1 ;;
esac
other=$(browse "http://127.0.0.1:$other_port/index.html" | result || true)
echo "cors-browser-test: from the other origin http://127.0.0.1:$other_port: ${other:-no result}"
case "$other" in
    'RESULT blocked TypeError') ;;
    *) echo "  FAILED: the other origin was not blocked" >&2; failed=1 ;;
esac
# The blocked page's preflight reached the server but its PUT did not: the
# customer still has the allowed page's name and version.
after=$(curl -fsS -i "$base/network/customers/$id" -H "Authorization: Bearer $token" -H 'X-Servitly-Tenant: acme')
grep -qi '^etag: "2"' <<<"$after" || { echo "  FAILED: the customer changed after the blocked page: $after" >&2; failed=1; }
if [ "$failed" -ne 0 ]; then
    echo "cors-browser-test: FAILED (server log: $work/server.log)" >&2
    cat "$work/chromium.log" >&2 || true
    exit 1
fi
echo "cors-browser-test: ok"
