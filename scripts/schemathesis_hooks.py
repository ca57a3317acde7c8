"""Schemathesis hooks for scripts/schemathesis.sh: the check of the restricted runs.

Loaded through SCHEMATHESIS_HOOKS. The check `restricted_token_cannot_write`
is a no-op unless NETWORK_ST_EXPECT is set by the script:

- NETWORK_ST_EXPECT=read-only: the token has READ_CUSTOMER only. Every write
  (POST, PUT, DELETE) must be refused: never a 2xx; and when the request
  carried that token and the token's tenant header, it must be exactly 403
  (authorization comes before validation, existence and preconditions).
- NETWORK_ST_EXPECT=foreign-tenant: the token belongs to another tenant
  (globex) while the tenant header says acme. No request may succeed (no 2xx
  at all, reads included, except the 204 of an OPTIONS, the CORS preflight,
  which carries no data), and every request that carried that token and the
  acme header must be exactly 403.

In both modes NETWORK_ST_SEEDED_IDS (comma-separated) lists customers that
exist in acme: half of the generated customer ids are replaced by one of them
(`map_path_parameters`), so the refused writes and reads target real customers
and a missing authorization check would show as a 2xx, not as a 404. After the
run the check fails if no write reached the server with the token at all (the
run would then prove nothing) and prints what it saw.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading

import schemathesis
from hypothesis import strategies as st

EXPECT = os.environ.get("NETWORK_ST_EXPECT", "")
TOKEN = os.environ.get("NETWORK_ST_TOKEN", "")
TENANT = os.environ.get("NETWORK_ST_TENANT_HEADER", "acme")
SEEDED = [value for value in os.environ.get("NETWORK_ST_SEEDED_IDS", "").split(",") if value]
WRITES = {"POST", "PUT", "DELETE", "PATCH"}


# --- what the contract says in words, taught to Schemathesis ---------------------
#
# The spec marks `country` with `format: iso-3166-1-alpha-2` and `timezone`
# with `format: iana-time-zone` (OpenAPI formats are open-ended: a tool that
# does not know one treats the value as a plain string). Schemathesis learns
# them here, through its documented extension point for custom formats. The
# values are a fixed sample of long-established codes and zones, each valid in
# ISO 3166-1 and in the tz database; invalid ones are still generated from the
# `pattern`/`maxLength` that accompany the format and from negative mutations.
COUNTRIES = [
    "AE", "AR", "AT", "AU", "BE", "BR", "CA", "CH", "CN", "DE", "DK", "ES", "FI", "FR", "GB",
    "IE", "IN", "IT", "JP", "KR", "MX", "NL", "NO", "NZ", "PL", "PT", "SE", "SG", "US", "ZA",
]
TIME_ZONES = [
    "Africa/Lagos", "America/Argentina/Buenos_Aires", "America/Los_Angeles", "America/New_York",
    "America/Sao_Paulo", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
    "Etc/GMT+5", "Europe/Berlin", "Europe/London", "Europe/Rome", "Pacific/Auckland", "UTC",
]
schemathesis.openapi.format("iso-3166-1-alpha-2", st.sampled_from(COUNTRIES))
schemathesis.openapi.format("iana-time-zone", st.sampled_from(TIME_ZONES))


@schemathesis.hook
def before_load_schema(context, raw_schema):
    """Property keys: 1 to 128 characters (the `Properties` description).

    OpenAPI 3.0.3 schemas cannot constrain the names of a map's keys
    (`propertyNames` arrived with OpenAPI 3.1, and 3.0's `additionalProperties`
    says nothing about keys), so the spec states the key limits in the
    schema's description. Schemathesis gets the same limits in the form its
    OpenAPI 3.0 (JSON Schema draft 4) reading understands: the value schema
    moves under `patternProperties` keyed by the key rule, and other keys are
    refused. Only the copy of the spec Schemathesis tests with changes: valid
    requests then use valid keys, and invalid keys become negative cases that
    the server must reject.
    """
    properties = raw_schema.get("components", {}).get("schemas", {}).get("Properties")
    if isinstance(properties, dict) and isinstance(properties.get("additionalProperties"), dict):
        values = properties.pop("additionalProperties")
        properties["patternProperties"] = {"^[\\s\\S]{1,128}$": values}
        properties["additionalProperties"] = False


def _pick_seeded(value: object) -> str | None:
    """Deterministically (same value, same answer) swap half of the ids for seeded ones."""
    digest = hashlib.sha256(repr(value).encode()).digest()
    if not SEEDED or digest[0] % 2:
        return None
    return SEEDED[digest[1] % len(SEEDED)]


if EXPECT:

    @schemathesis.hook
    def map_path_parameters(context, path_parameters):
        if path_parameters and "customerId" in path_parameters:
            seeded = _pick_seeded(path_parameters["customerId"])
            if seeded is not None:
                path_parameters["customerId"] = seeded
        return path_parameters


def _header(request, name: str) -> str | None:
    for key, value in request.headers.items():
        if key.lower() == name.lower():
            return value.decode() if isinstance(value, bytes) else value
    return None


@schemathesis.check
class restricted_token_cannot_write:  # noqa: N801 (the check's name as Schemathesis shows it)
    """Restricted runs: writes (and, for another tenant, everything) are refused with 403."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen: collections.Counter[tuple[str, int, bool, bool]] = collections.Counter()

    def after_response(self, ctx, response, case):
        if not EXPECT:
            return None
        request = response.request
        method = (request.method or "").upper()
        is_write = method in WRITES
        ours = _header(request, "Authorization") == f"Bearer {TOKEN}" and _header(request, "X-Servitly-Tenant") == TENANT
        path = request.url.split("?", 1)[0]
        targets_seeded = any(path.endswith("/" + seeded) for seeded in SEEDED)
        status = response.status_code
        # Requests with a method the spec does not define for the path (the
        # coverage phase's unsupported-method probes) are the router's: 405.
        if method != case.operation.method.upper():
            ours = False
        with self.lock:
            key = (method, status, ours, targets_seeded)
            self.seen[key] += 1
        if EXPECT == "read-only":
            if is_write and 200 <= status < 300:
                raise AssertionError(f"a READ_CUSTOMER-only token got {status} for {method} {path}: writes must be refused")
            if is_write and ours and status != 403:
                raise AssertionError(f"a READ_CUSTOMER-only token got {status} for {method} {path}, expected 403")
        elif EXPECT == "foreign-tenant":
            # OPTIONS is the CORS preflight (issue 12): answered 204 for
            # anyone, without authentication and without any data (no body;
            # CORS headers only for allowed origins), so it is no success.
            if 200 <= status < 300 and not (method == "OPTIONS" and status == 204):
                raise AssertionError(f"a token of another tenant got {status} for {method} {path} with X-Servitly-Tenant: {TENANT}")
            if ours and status != 403:
                raise AssertionError(f"a token of another tenant got {status} for {method} {path} with X-Servitly-Tenant: {TENANT}, expected 403")
        else:
            raise AssertionError(f"unknown NETWORK_ST_EXPECT={EXPECT!r}")
        return None

    def after_run(self, ctx):
        if not EXPECT:
            return None
        lines = [
            f"{method} -> {status}"
            f"{' with the restricted token and tenant header' if ours else ' (token or tenant header altered, or a method the path does not have)'}"
            f"{', on a seeded customer' if seeded else ''}: {count}"
            for (method, status, ours, seeded), count in sorted(self.seen.items())
        ]
        print(f"\n[restricted_token_cannot_write/{EXPECT}] responses seen (method -> status: count):\n  " + "\n  ".join(lines), flush=True)
        if not any(method in WRITES and ours and seeded for (method, _, ours, seeded) in self.seen):
            raise AssertionError("no write with the restricted token reached a seeded customer: the run proved nothing")
        if not any(method == "POST" and ours for (method, _, ours, _) in self.seen):
            raise AssertionError("no create with the restricted token was sent: the run proved nothing")
        return None
