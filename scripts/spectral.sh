#!/usr/bin/env bash
# Spectral lint of the contract (issue 12): `spectral:oas` and the OWASP API
# security ruleset, configured in .spectral.yaml (each rule turned off there
# has its reason). Installs the pinned versions under target/spectral/ (the
# ruleset must be resolvable from .spectral.yaml) and fails on any error.
set -euo pipefail
cd "$(dirname "$0")/.."
cli_version=6.16.3
owasp_version=2.0.1
prefix=target/spectral
stamp="$prefix/versions"
want="spectral-cli@$cli_version spectral-owasp-ruleset@$owasp_version"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    rm -rf "$prefix"
    mkdir -p "$prefix"
    npm install --silent --no-audit --no-fund --prefix "$prefix" \
        "@stoplight/spectral-cli@$cli_version" "@stoplight/spectral-owasp-ruleset@$owasp_version"
    echo "$want" >"$stamp"
fi
"$prefix/node_modules/.bin/spectral" --version
"$prefix/node_modules/.bin/spectral" lint --fail-severity error -r .spectral.yaml openapi/network.json
