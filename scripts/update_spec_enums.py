#!/usr/bin/env python3
"""Writes the server's country and time zone lists into openapi/network.json.

`country` becomes an `enum` of the ISO 3166-1 alpha-2 codes, `timezone` an
`enum` of the IANA names (with `maxLength`, the longest name's length). The
generator types the latter as a string newtype (`"Europe/Rome".parse()`):
typify 0.8 would give `Etc/GMT+1` and `Etc/GMT-1` the same variant name, and
it has more than 300 values (ARCHITECTURE.md, "Enums typed as strings").

The lists come from the crates the server validates with (celes, chrono-tz),
written by the test `spec_enums_are_the_crates_lists` of network-server:

    NETWORK_SPEC_ENUMS_OUT=target/spec-enums.json cargo test -p network-server --lib spec_enums
    python3 scripts/update_spec_enums.py target/spec-enums.json
    cargo xtask generate

`timezone` also gets `x-enum-varnames` (the OpenAPI Generator convention,
read by openapi-python-client too): names such as `Etc/GMT+1` and `Etc/GMT-1`
would otherwise become the same member name in generated clients
(`ETC_GMT_PLUS_1`, `ETC_GMT_MINUS_1` here).

Key order and formatting of the spec are kept (indent 2, UTF-8).
"""
import collections
import json
import pathlib
import re
import sys


def member_name(value):
    """`Etc/GMT+1` -> `ETC_GMT_PLUS_1`, `America/Port-au-Prince` -> `AMERICA_PORT_AU_PRINCE`."""
    name = value.replace("+", "_PLUS_")
    name = re.sub(r"-(?=[0-9])", "_MINUS_", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()


root = pathlib.Path(__file__).resolve().parent.parent
lists = json.loads(pathlib.Path(sys.argv[1]).read_text())
spec_path = root / "openapi" / "network.json"
spec = json.loads(spec_path.read_text(), object_pairs_hook=collections.OrderedDict)
for schema in ("CustomerDetails", "Customer"):
    properties = spec["components"]["schemas"][schema]["properties"]
    for field in ("country", "timezone"):
        old = properties[field]
        new = collections.OrderedDict()
        for key, value in old.items():
            if key in ("pattern", "maxLength", "format", "enum", "x-enum-varnames"):
                continue
            new[key] = value
            if key == "type":
                if field == "timezone":
                    new["maxLength"] = max(len(name) for name in lists[field])
                new["enum"] = lists[field]
                if field == "timezone":
                    names = [member_name(value) for value in lists[field]]
                    if len(set(names)) != len(names):
                        sys.exit("two time zones have the same member name")
                    new["x-enum-varnames"] = names
        properties[field] = new
spec_path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
print(f"{spec_path}: {len(lists['country'])} countries, {len(lists['timezone'])} time zones")
