#!/usr/bin/env python3
"""Writes the server's country and time zone lists into openapi/network.json.

`country` becomes an `enum` of the ISO 3166-1 alpha-2 codes. `timezone`
becomes a `pattern` that is the alternation of the IANA names, anchored: an
`enum` of them cannot be generated into Rust (typify 0.8 derives one variant
name per value, and `Etc/GMT+1` and `Etc/GMT-1` get the same one), while the
pattern is as exact for validators and test generators and keeps the
generated client's `timezone` a string newtype (`"Europe/Rome".parse()`).

The lists come from the crates the server validates with (celes, chrono-tz),
written by the test `spec_enums_are_the_crates_lists` of network-server:

    NETWORK_SPEC_ENUMS_OUT=target/spec-enums.json cargo test -p network-server --lib spec_enums
    python3 scripts/update_spec_enums.py target/spec-enums.json
    cargo xtask generate

Key order and formatting of the spec are kept (indent 2, UTF-8).
"""
import collections
import json
import pathlib
import sys

def escape(name):
    """ECMA-262 escapes for the few metacharacters IANA names contain (`+`, `.`)."""
    return "".join("\\" + c if c in ".+*?()[]{}|^$\\" else c for c in name)


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
            if key in ("pattern", "maxLength", "format", "enum"):
                continue
            new[key] = value
            if key == "type":
                if field == "country":
                    new["enum"] = lists[field]
                else:
                    names = "|".join(escape(name) for name in lists[field])
                    new["maxLength"] = max(len(name) for name in lists[field])
                    new["pattern"] = f"^({names})$"
        properties[field] = new
spec_path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
print(f"{spec_path}: {len(lists['country'])} countries, {len(lists['timezone'])} time zones")
