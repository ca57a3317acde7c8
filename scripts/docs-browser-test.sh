#!/usr/bin/env bash
# Loads GET /docs from a running network-server in headless Chromium, with
# every host but 127.0.0.1 unresolvable (so the page must work offline), checks
# that the rendered reference shows the API version, updateCustomer, its
# X-Servitly-Tenant header and its responses, and writes a screenshot of the page (its top: the
# introduction and the first operation; headless Chromium draws a blank page
# when Redoc scrolls to a deep link such as #tag/Customers/operation/updateCustomer).
#
#   scripts/docs-browser-test.sh            # screenshot: target/docs-screenshot.png
#
# Needs Debian's `chromium` (.ci/run installs it). Uses the debug
# server (built if needed) unless NETWORK_SERVER_BIN names another binary.
set -euo pipefail
cd "$(dirname "$0")/.."

screenshot="${DOCS_SCREENSHOT:-target/docs-screenshot.png}"
chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$chromium" ]; then
    echo "docs-browser-test: chromium not found (apt-get install chromium)" >&2
    exit 1
fi
server="${NETWORK_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/debug/network-server}"
if [ -z "${NETWORK_SERVER_BIN:-}" ]; then
    cargo build --quiet -p network-server --bin network-server
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the server picks a free port and writes it to the ready file once
# it accepts requests.
"$server" --dev --bind 127.0.0.1:0 --data-dir "$work/data" --ready-file "$work/ready" \
    >"$work/server.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 100); do
    if [ -s "$work/ready" ]; then base="http://$(head -n1 "$work/ready")"; break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$base" ]; then
    echo "docs-browser-test: the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
echo "docs-browser-test: server at $base, $("$chromium" --version 2>/dev/null || echo chromium)"

browse() {
    "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --hide-scrollbars \
        --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
        --user-data-dir="$(mktemp -d -p "$work")" \
        --virtual-time-budget=10000 "$@" 2>>"$work/chromium.log"
}

# The DOM after Redoc has rendered (the served HTML itself has none of this text).
browse --dump-dom "$base/docs" >"$work/dom.html"
# The updateCustomer section: from its section id to the next operation's.
awk '/data-section-id="tag\/Customers\/operation\/updateCustomer"/ {on = 1}
     on && /data-section-id="tag\/Customers\/operation\/deleteCustomer"/ {exit}
     on' RS='<' ORS='<' "$work/dom.html" >"$work/update.html"

failed=0
check() {
    if grep -q -F -- "$2" "$work/update.html"; then
        echo "  ok: $1"
    else
        echo "  MISSING: $1 ($2)" >&2
        failed=1
    fi
}
echo "docs-browser-test: the rendered updateCustomer section ($(wc -c <"$work/update.html") bytes of DOM)"
check "the operation's summary" "Update a customer"
check "the tenant header parameter" "X-Servitly-Tenant"
check "the 200 response" "Successful updated."
check "the 412 response" "The If-Match precondition failed"
check "the 404 response" "Resource was not found."
# The API version (info.version of the served contract), which Redoc shows
# after the title: "Network API (1.0.0)".
version="$(grep -m1 -o '"version": *"[^"]*"' openapi/network.json | sed 's/.*"\([^"]*\)"$/\1/')"
if grep -q -E -- "\((<!-- -->)?${version//./\\.}(<!-- -->)?\)" "$work/dom.html"; then
    echo "  ok: the API version ($version)"
else
    echo "  MISSING: the API version ($version)" >&2
    failed=1
fi
if [ "$failed" != 0 ]; then
    echo "docs-browser-test: FAILED; chromium's log:" >&2
    tail -n 20 "$work/chromium.log" >&2 || true
    exit 1
fi

mkdir -p "$(dirname "$screenshot")"
rm -f "$screenshot"
browse --screenshot="$screenshot" --window-size=1280,2000 "$base/docs" >/dev/null
# A blank 1280x2000 page compresses to about 12 kB; the rendered one is over 100 kB.
size="$(wc -c <"$screenshot" 2>/dev/null || echo 0)"
if [ "$size" -lt 50000 ]; then
    echo "docs-browser-test: the screenshot looks blank ($size bytes)" >&2
    exit 1
fi
echo "docs-browser-test: passed; screenshot $screenshot ($size bytes)"
