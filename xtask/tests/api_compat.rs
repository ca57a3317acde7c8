//! Mutation tests of `cargo xtask api-compat`: each takes `openapi/network.json`,
//! changes it in code, and checks the classification of the change, the gate
//! at the released version and with the version bump the change needs, and
//! the command itself in a scratch workspace (released with
//! `release::release`, checked with `release::api_compat`, which is what
//! `cargo xtask api-compat` and `.ci/run` call).
//!
//! The last tests record what Oxide's `drift` 0.2.0 reports for the same
//! mutations (ARCHITECTURE.md, "API evolution", says why it is not the gate).

use std::path::Path;

use serde_json::{json, Value};
use xtask::compat::{self, Change, Class, Kind};
use xtask::release::{self, Outcome, Version};

/// The project's spec as the base of every mutation, at version 1.0.0 whatever
/// its `info.version` (the tests release and compare it in scratch folders).
fn spec() -> Value {
    let path = xtask::codegen::workspace_root().join("openapi/network.json");
    with_version(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(), "1.0.0")
}

fn with_version(mut spec: Value, version: &str) -> Value {
    spec["info"]["version"] = json!(version);
    spec
}

const CUSTOMER_BY_ID: &str = "/network/customers/{customerId}";
const CUSTOMERS_V2: &str = "/v2/network/customers";

/// Which version a mutation needs, given the released 1.0.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Major,
    Minor,
    Nothing,
}

struct Mutation {
    name: &'static str,
    /// The released spec (most mutations release `openapi/network.json` as it is).
    old: fn() -> Value,
    /// The current spec, before its version is set.
    new: fn() -> Value,
    /// The change that must be reported: its class, kind and pointer.
    expect: (Class, Kind, &'static str),
    needs: Needs,
}

fn unchanged() -> Value {
    spec()
}

fn mutations() -> Vec<Mutation> {
    vec![
        // Breaking.
        Mutation {
            name: "removing a response field",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"].as_object_mut().unwrap().remove("country");
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Removed, "#/components/schemas/Customer/properties/country"),
            needs: Needs::Major,
        },
        Mutation {
            name: "adding a required request field",
            old: unchanged,
            new: || {
                let mut s = spec();
                let details = &mut s["components"]["schemas"]["CustomerDetails"];
                details["properties"]["vatNumber"] = json!({"type": "string", "description": "The VAT number."});
                details["required"].as_array_mut().unwrap().push(json!("vatNumber"));
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Added, "#/components/schemas/CustomerDetails/properties/vatNumber"),
            needs: Needs::Major,
        },
        Mutation {
            name: "adding a required parameter",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["put"]["parameters"].as_array_mut().unwrap().push(json!({
                    "name": "X-Request-Id", "in": "header", "required": true, "schema": {"type": "string"}
                }));
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Added, "#/paths/~1network~1customers~1{customerId}/put/parameters/3"),
            needs: Needs::Major,
        },
        Mutation {
            name: "making an optional parameter required (If-Match)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["parameters"]["IfMatch"]["required"] = json!(true);
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/parameters/IfMatch/required"),
            needs: Needs::Major,
        },
        Mutation {
            name: "narrowing an enum (a query parameter)",
            old: || {
                let mut s = spec();
                s["paths"][CUSTOMERS_V2]["get"]["parameters"][5]["schema"]["enum"] = json!(["name", "country"]);
                s
            },
            new: unchanged,
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/paths/~1v2~1network~1customers/get/parameters/5/schema/enum"),
            needs: Needs::Major,
        },
        Mutation {
            name: "widening an enum of a response field",
            old: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"]["country"]["enum"] = json!(["IT"]);
                s
            },
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"]["country"]["enum"] = json!(["IT", "FR"]);
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/schemas/Customer/properties/country/enum"),
            needs: Needs::Major,
        },
        Mutation {
            name: "changing a type (a response field)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"]["creationTimestamp"] =
                    json!({"type": "string", "format": "date-time", "readOnly": true});
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/schemas/Customer/properties/creationTimestamp/type"),
            needs: Needs::Major,
        },
        Mutation {
            name: "changing a type (a query parameter)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMERS_V2]["get"]["parameters"][1]["schema"] = json!({"type": "string"});
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/paths/~1v2~1network~1customers/get/parameters/1/schema/type"),
            needs: Needs::Major,
        },
        Mutation {
            name: "removing an operation",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID].as_object_mut().unwrap().remove("delete");
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Removed, "#/paths/~1network~1customers~1{customerId}/delete"),
            needs: Needs::Major,
        },
        Mutation {
            name: "removing a documented status",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["put"]["responses"].as_object_mut().unwrap().remove("412");
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Removed, "#/paths/~1network~1customers~1{customerId}/put/responses/412"),
            needs: Needs::Major,
        },
        Mutation {
            name: "renaming an operationId",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["get"]["operationId"] = json!("fetchCustomer");
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/paths/~1network~1customers~1{customerId}/get/operationId"),
            needs: Needs::Major,
        },
        Mutation {
            name: "removing a response header (ETag)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["get"]["responses"]["200"]["headers"].as_object_mut().unwrap().remove("ETag");
                s
            },
            expect: (
                Class::BackwardIncompatible,
                Kind::Removed,
                "#/paths/~1network~1customers~1{customerId}/get/responses/200/headers/ETag",
            ),
            needs: Needs::Major,
        },
        Mutation {
            name: "making a request field read-only",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["CustomerDetails"]["properties"]["timezone"]["readOnly"] = json!(true);
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/schemas/CustomerDetails/properties/timezone/readOnly"),
            needs: Needs::Major,
        },
        Mutation {
            name: "making a response field nullable",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"]["name"]["nullable"] = json!(true);
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/schemas/Customer/properties/name/nullable"),
            needs: Needs::Major,
        },
        Mutation {
            name: "lowering a range (maximum page size)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMERS_V2]["get"]["parameters"][2]["schema"]["maximum"] = json!(500);
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/paths/~1v2~1network~1customers/get/parameters/2/schema/maximum"),
            needs: Needs::Major,
        },
        Mutation {
            name: "lowering a request field's maxLength",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["CustomerDetails"]["properties"]["name"]["maxLength"] = json!(100);
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/schemas/CustomerDetails/properties/name/maxLength"),
            needs: Needs::Major,
        },
        Mutation {
            name: "changing a pattern (If-Match)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["parameters"]["IfMatch"]["schema"]["pattern"] = json!("^\"[0-9]+\"$");
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/parameters/IfMatch/schema/pattern"),
            needs: Needs::Major,
        },
        Mutation {
            name: "lowering the request body limit",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["put"]["requestBody"]["x-request-body-max-bytes"] = json!(1024);
                s
            },
            expect: (
                Class::BackwardIncompatible,
                Kind::Changed,
                "#/paths/~1network~1customers~1{customerId}/put/requestBody/x-request-body-max-bytes",
            ),
            needs: Needs::Major,
        },
        Mutation {
            name: "adding a status",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["put"]["responses"]["409"] = json!({"$ref": "#/components/responses/BadRequest"});
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Added, "#/paths/~1network~1customers~1{customerId}/put/responses/409"),
            needs: Needs::Major,
        },
        Mutation {
            name: "an unclassified construct (oneOf)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"]["timezone"] =
                    json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
                s
            },
            expect: (Class::BackwardIncompatible, Kind::Changed, "#/components/schemas/Customer/properties/timezone/oneOf"),
            needs: Needs::Major,
        },
        // Compatible (with a new minor version where something is added).
        Mutation {
            name: "adding an optional request field",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["CustomerDetails"]["properties"]["vatNumber"] =
                    json!({"type": "string", "description": "The VAT number."});
                s
            },
            expect: (Class::ForwardIncompatible, Kind::Added, "#/components/schemas/CustomerDetails/properties/vatNumber"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "adding a response field",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"]["vatNumber"] =
                    json!({"type": "string", "description": "The VAT number."});
                s
            },
            expect: (Class::Compatible, Kind::Added, "#/components/schemas/Customer/properties/vatNumber"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "adding an operation",
            old: unchanged,
            new: || {
                let mut s = spec();
                let mut get = s["paths"][CUSTOMER_BY_ID]["get"].clone();
                get["operationId"] = json!("getCustomerProperties");
                get["responses"]["200"] = json!({
                    "description": "The properties.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Properties"}}}
                });
                s["paths"]["/network/customers/{customerId}/properties"] = json!({"get": get});
                s
            },
            expect: (Class::ForwardIncompatible, Kind::Added, "#/paths/~1network~1customers~1{customerId}~1properties/get"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "adding an optional parameter",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMERS_V2]["get"]["parameters"].as_array_mut().unwrap().push(json!({
                    "name": "timezone", "in": "query", "required": false,
                    "description": "Filter on the time zone.", "schema": {"type": "string"}
                }));
                s
            },
            expect: (Class::ForwardIncompatible, Kind::Added, "#/paths/~1v2~1network~1customers/get/parameters/8"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "adding a response header",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["get"]["responses"]["200"]["headers"]["X-Trace-Id"] =
                    json!({"description": "A trace id.", "schema": {"type": "string"}});
                s
            },
            expect: (
                Class::Compatible,
                Kind::Added,
                "#/paths/~1network~1customers~1{customerId}/get/responses/200/headers/X-Trace-Id",
            ),
            needs: Needs::Minor,
        },
        Mutation {
            name: "narrowing a response field (an enum where there was none)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["components"]["schemas"]["Customer"]["properties"]["country"]["enum"] = json!(["IT", "FR"]);
                s
            },
            expect: (Class::ForwardIncompatible, Kind::Changed, "#/components/schemas/Customer/properties/country/enum"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "widening a range (maximum page size)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMERS_V2]["get"]["parameters"][2]["schema"]["maximum"] = json!(5000);
                s
            },
            expect: (Class::ForwardIncompatible, Kind::Changed, "#/paths/~1v2~1network~1customers/get/parameters/2/schema/maximum"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "widening an enum (a query parameter)",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMERS_V2]["get"]["parameters"][5]["schema"]["enum"] = json!(["name", "country"]);
                s
            },
            expect: (Class::ForwardIncompatible, Kind::Changed, "#/paths/~1v2~1network~1customers/get/parameters/5/schema/enum"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "deprecating an operation",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMERS_V2]["get"]["deprecated"] = json!(true);
                s
            },
            expect: (Class::Compatible, Kind::Deprecated, "#/paths/~1v2~1network~1customers/get"),
            needs: Needs::Minor,
        },
        Mutation {
            name: "a description change",
            old: unchanged,
            new: || {
                let mut s = spec();
                s["paths"][CUSTOMER_BY_ID]["put"]["description"] = json!("Replaces the customer's mutable state.");
                s["components"]["schemas"]["Customer"]["properties"]["name"]["description"] = json!("The name.");
                s
            },
            expect: (Class::Compatible, Kind::Changed, "#/paths/~1network~1customers~1{customerId}/put"),
            needs: Needs::Nothing,
        },
    ]
}

fn find<'c>(
    changes: &'c [Change],
    (class, kind, pointer): (Class, Kind, &str),
) -> Option<&'c Change> {
    changes.iter().find(|c| c.class == class && c.kind == kind && c.pointer == pointer)
}

fn show(changes: &[Change]) -> String {
    changes.iter().map(|c| format!("\n  {} {:?} {c}", c.class, c.kind)).collect()
}

/// Releases `old` in a scratch workspace, puts `new` in its place and runs
/// the command's code: what `cargo xtask api-compat` prints or fails with.
fn api_compat_in_scratch(old: &Value, new: &Value) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("openapi")).unwrap();
    let write = |value: &Value| {
        let text = serde_json::to_string_pretty(value).unwrap();
        std::fs::write(root.join("openapi/network.json"), text).unwrap();
    };
    write(old);
    release::release(root).unwrap();
    write(new);
    release::api_compat(root)
}

fn bumps(needs: Needs) -> (&'static str, &'static str) {
    // (a version that is not enough, one that is)
    match needs {
        Needs::Major => ("1.9.0", "2.0.0"),
        Needs::Minor => ("1.0.1", "1.1.0"),
        Needs::Nothing => ("1.0.0", "1.0.0"),
    }
}

#[test]
fn each_mutation_is_classified_and_gated() {
    let mut failures = Vec::new();
    for mutation in mutations() {
        let old = with_version((mutation.old)(), "1.0.0");
        let new = (mutation.new)();
        let changes = compat::compare(&old, &new).unwrap();
        let Some(change) = find(&changes, mutation.expect) else {
            failures.push(format!(
                "{}: expected {:?}, got:{}",
                mutation.name,
                mutation.expect,
                show(&changes)
            ));
            continue;
        };
        // The change is reported with a reason.
        assert!(!change.why.is_empty() && !change.subject.is_empty(), "{change:?}");
        // Nothing stricter than the expected class is reported alongside it.
        let needed = changes.iter().map(Change::bump).max().unwrap();
        let expected = match mutation.needs {
            Needs::Major => compat::Bump::Major,
            Needs::Minor => compat::Bump::Minor,
            Needs::Nothing => compat::Bump::None,
        };
        if needed != expected {
            failures.push(format!(
                "{}: needs {needed:?}, expected {expected:?}:{}",
                mutation.name,
                show(&changes)
            ));
            continue;
        }
        let (short, enough) = bumps(mutation.needs);
        let released = Version::parse("1.0.0").unwrap();
        // At the released version (and one bump short), the gate fails naming the change.
        if mutation.needs != Needs::Nothing {
            for version in ["1.0.0", short] {
                let verdict = release::gate(released, Version::parse(version).unwrap(), &changes);
                match verdict {
                    Err(why) if why.contains(&change.pointer) => {}
                    other => failures.push(format!(
                        "{} at {version}: expected a failure naming {}, got {other:?}",
                        mutation.name, change.pointer
                    )),
                }
            }
        }
        let verdict = release::gate(released, Version::parse(enough).unwrap(), &changes);
        if let Err(why) = verdict {
            failures.push(format!("{} at {enough}: {why}", mutation.name));
        }
        // The command fails (naming the change) and passes the same way.
        let at_released = api_compat_in_scratch(&old, &with_version(new.clone(), "1.0.0"));
        match (mutation.needs, at_released) {
            (Needs::Nothing, Ok(report)) => assert!(report.contains(&change.pointer), "{report}"),
            (Needs::Nothing, Err(report)) => {
                failures.push(format!("{}: the command failed:\n{report}", mutation.name))
            }
            (_, Err(report)) => {
                assert!(report.contains(&change.pointer) && report.contains("error: "), "{report}")
            }
            (_, Ok(report)) => {
                failures.push(format!("{}: the command passed:\n{report}", mutation.name))
            }
        }
        if let Err(report) = api_compat_in_scratch(&old, &with_version(new, enough)) {
            failures.push(format!("{} at {enough}: the command failed:\n{report}", mutation.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_report_lists_changes_by_class_and_a_changelog() {
    let mut new = spec();
    new["components"]["schemas"]["Customer"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("country");
    new["paths"][CUSTOMERS_V2]["get"]["deprecated"] = json!(true);
    new["paths"][CUSTOMER_BY_ID]["get"]["responses"]["200"]["headers"]["X-Trace-Id"] =
        json!({"description": "A trace id.", "schema": {"type": "string"}});
    let outcome = Outcome::of(&spec(), &with_version(new, "2.0.0")).unwrap();
    assert!(outcome.verdict.is_ok(), "{:?}", outcome.verdict);
    let report = outcome.report("openapi/network.json", "openapi/released/network-1.0.0.json");
    for expected in [
        "api-compat: openapi/network.json (2.0.0) against openapi/released/network-1.0.0.json (1.0.0)",
        "backward-incompatible (1):\n  #/components/schemas/Customer/properties/country: field `Customer.country` removed: old clients read it",
        "changelog (1.0.0 → 2.0.0):",
        "### Added\n- Header `X-Trace-Id` of response 200 of `getCustomer` (GET /network/customers/{customerId})\n",
        "### Deprecated\n- Operation `getCustomers` (GET /v2/network/customers)\n",
        "### Removed\n- Field `Customer.country` (backward-incompatible)\n",
        "ok: the version allows every change",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }
}

#[test]
fn the_version_never_goes_down() {
    let verdict =
        release::gate(Version::parse("1.2.0").unwrap(), Version::parse("1.1.9").unwrap(), &[]);
    assert_eq!(verdict, Err("info.version 1.1.9 is lower than the released 1.2.0".to_string()));
    assert!(
        Version::parse("1.0").is_err()
            && Version::parse("1.0.0-rc1").is_err()
            && Version::parse("01.0.0").is_err()
    );
}

/// A scratch workspace with `openapi/network.json` released.
fn released_scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("openapi")).unwrap();
    std::fs::write(
        dir.path().join("openapi/network.json"),
        serde_json::to_string_pretty(&spec()).unwrap(),
    )
    .unwrap();
    assert!(release::release(dir.path()).unwrap().contains("released network 1.0.0"));
    dir
}

fn snapshot(root: &Path) -> std::path::PathBuf {
    root.join("openapi/released/network-1.0.0.json")
}

#[test]
fn release_refuses_a_released_version() {
    let dir = released_scratch();
    let error = release::release(dir.path()).unwrap_err();
    assert!(error.contains("network 1.0.0 is already released"), "{error}");
}

#[test]
fn release_refuses_what_the_gate_refuses() {
    let dir = released_scratch();
    let mut new = with_version(spec(), "1.1.0");
    new["paths"][CUSTOMER_BY_ID].as_object_mut().unwrap().remove("delete");
    std::fs::write(dir.path().join("openapi/network.json"), new.to_string()).unwrap();
    let error = release::release(dir.path()).unwrap_err();
    assert!(error.contains("need a new major version") && error.contains("/delete"), "{error}");
    assert!(!dir.path().join("openapi/released/network-1.1.0.json").exists());
}

#[test]
fn a_snapshot_changed_after_its_release_fails_the_check() {
    let dir = released_scratch();
    release::verify_snapshots(dir.path()).unwrap();
    let text = std::fs::read_to_string(snapshot(dir.path())).unwrap();
    std::fs::write(snapshot(dir.path()), text.replace("Successful updated.", "Updated.")).unwrap();
    let error = release::api_compat(dir.path()).unwrap_err();
    assert!(error.contains("network-1.0.0.json was changed after its release"), "{error}");
    // Newline conversion alone is not a change.
    std::fs::write(snapshot(dir.path()), text.replace('\n', "\r\n")).unwrap();
    release::verify_snapshots(dir.path()).unwrap();
}

#[test]
fn a_deleted_or_unlisted_snapshot_fails_the_check() {
    let dir = released_scratch();
    let text = std::fs::read_to_string(snapshot(dir.path())).unwrap();
    std::fs::remove_file(snapshot(dir.path())).unwrap();
    let error = release::verify_snapshots(dir.path()).unwrap_err();
    assert!(error.contains("network-1.0.0.json is in SHA256SUMS but missing"), "{error}");
    std::fs::write(snapshot(dir.path()), &text).unwrap();
    std::fs::write(
        dir.path().join("openapi/released/network-0.9.0.json"),
        text.replace("\"1.0.0\"", "\"0.9.0\""),
    )
    .unwrap();
    let error = release::verify_snapshots(dir.path()).unwrap_err();
    assert!(error.contains("network-0.9.0.json is not in SHA256SUMS"), "{error}");
}

/// What `drift` 0.2.0 reports for each mutation: (class or "nothing", message).
fn drift_says(old: &Value, new: &Value) -> Vec<(String, String)> {
    // Quietly: drift's panics are one of the things recorded.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| drift::compare(old, new));
    std::panic::set_hook(hook);
    match result {
        Err(_) => vec![("panic".to_string(), String::new())],
        Ok(Err(error)) => vec![("error".to_string(), error.to_string())],
        Ok(Ok(changes)) => changes
            .iter()
            .flat_map(|change| change.changes.iter())
            .map(|info| (format!("{:?}", info.class), info.message.clone()))
            .collect(),
    }
}

/// What drift 0.2.0 reports for each mutation, as (class, message); an empty
/// list means it reports nothing. Our verdict is in [`mutations`]. If a new
/// drift version changes any of these, this test says so.
fn drift_expected(name: &str) -> Vec<(&'static str, &'static str)> {
    const PROPERTIES: (&str, &str) = ("Unhandled", "object properties changed");
    const STRING: (&str, &str) = ("Unhandled", "string schema changed");
    const INTEGER: (&str, &str) = ("Unhandled", "integer schema changed");
    const METADATA: (&str, &str) = ("Trivial", "schema metadata changed");
    match name {
        "removing a response field" => vec![PROPERTIES],
        "adding a required request field" => {
            vec![("Unhandled", "object required properties changed"), PROPERTIES]
        }
        "adding a required parameter" => {
            vec![("BackwardIncompatible", "A new, required parameter 'X-Request-Id' was added")]
        }
        "making an optional parameter required (If-Match)" => {
            vec![(
                "BackwardIncompatible",
                "The parameter 'If-Match' was optional and is now required",
            )]
        }
        "narrowing an enum (a query parameter)" | "widening an enum of a response field" => {
            vec![STRING]
        }
        "changing a type (a response field)" | "changing a type (a query parameter)" => {
            vec![METADATA, ("Incompatible", "schema types changed")]
        }
        "removing an operation" => {
            vec![("BackwardIncompatible", "The operation deleteCustomer was removed")]
        }
        "removing a documented status" => {
            vec![("ForwardIncompatible", "operation no longer responds with status 412")]
        }
        "renaming an operationId"
        | "removing a response header (ETag)"
        | "making a response field nullable" => vec![],
        "making a request field read-only" => vec![METADATA],
        "lowering a range (maximum page size)" | "widening a range (maximum page size)" => {
            vec![INTEGER]
        }
        "lowering a request field's maxLength" | "changing a pattern (If-Match)" => vec![STRING],
        "lowering the request body limit" => {
            vec![("Trivial", "the body metadata (description or extensions) changed")]
        }
        "adding a status" => {
            vec![("BackwardIncompatible", "operation added a new response code 409")]
        }
        "an unclassified construct (oneOf)" => {
            vec![METADATA, ("Incompatible", "schema kind changed from regular type to oneOf")]
        }
        "adding an optional request field" | "adding a response field" => vec![PROPERTIES],
        "adding an operation" => {
            vec![("ForwardIncompatible", "The operation getCustomerProperties was added")]
        }
        "adding an optional parameter" => {
            vec![("ForwardIncompatible", "A new, optional parameter 'timezone' was added")]
        }
        "adding a response header" | "deprecating an operation" => vec![],
        "narrowing a response field (an enum where there was none)"
        | "widening an enum (a query parameter)" => vec![STRING],
        "a description change" => vec![METADATA],
        other => panic!("no drift expectation for {other:?}"),
    }
}

#[test]
fn what_drift_reports_for_the_same_mutations() {
    let mut differences = Vec::new();
    for mutation in mutations() {
        let old = with_version((mutation.old)(), "1.0.0");
        let new = (mutation.new)();
        let got = drift_says(&old, &new);
        let expected: Vec<(String, String)> = drift_expected(mutation.name)
            .into_iter()
            .map(|(c, m)| (c.to_string(), m.to_string()))
            .collect();
        if got != expected {
            differences.push(format!("{}: drift now says {got:?}", mutation.name));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// drift panics (`todo!`, `assert!`) where a media type is added or removed.
#[test]
fn drift_panics_on_a_new_media_type() {
    let mut new = spec();
    let content = &mut new["paths"][CUSTOMER_BY_ID]["get"]["responses"]["200"]["content"];
    content["application/xml"] = content["application/json"].clone();
    assert_eq!(drift_says(&spec(), &new), vec![("panic".to_string(), String::new())]);
    let changes = compat::compare(&spec(), &new).unwrap();
    assert!(
        find(&changes, (Class::Compatible, Kind::Added, "#/paths/~1network~1customers~1{customerId}/get/responses/200/content/application~1xml")).is_some(),
        "{}",
        show(&changes)
    );
}

#[test]
fn a_change_to_a_shared_component_is_reported_once() {
    let mut new = spec();
    new["components"]["parameters"]["IfMatch"]["description"] = json!("Lost-update protection.");
    new["components"]["headers"]["ETag"]["description"] = json!("The version.");
    let changes = compat::compare(&spec(), &new).unwrap();
    assert_eq!(changes.len(), 2, "{}", show(&changes));
    assert_eq!(changes[0].subject, "header `ETag` (shared)");
    assert_eq!(changes[1].subject, "header parameter `If-Match` (shared)");
    assert!(changes.iter().all(|c| c.class == Class::Compatible && c.kind == Kind::Changed));
}

#[test]
fn header_names_are_case_insensitive_and_path_parameters_positional() {
    let mut new = spec();
    new["components"]["parameters"]["IfMatch"]["name"] = json!("if-match");
    assert_eq!(compat::compare(&spec(), &new).unwrap(), vec![]);

    // Renaming a path parameter keeps the route but renames the client's builder method.
    let text = serde_json::to_string(&spec()).unwrap().replace("{customerId}", "{id}");
    let mut new: Value = serde_json::from_str(&text).unwrap();
    new["components"]["parameters"]["CustomerId"]["name"] = json!("id");
    let changes = compat::compare(&spec(), &new).unwrap();
    let renamed: Vec<&Change> =
        changes.iter().filter(|c| c.what == "renamed from `customerId`").collect();
    assert_eq!(renamed.len(), 1, "{}", show(&changes));
    assert_eq!(renamed[0].class, Class::BackwardIncompatible);
    assert!(changes.iter().all(|c| c.class == Class::BackwardIncompatible), "{}", show(&changes));
}

#[test]
fn a_read_only_field_of_a_request_may_change_freely() {
    let mut new = spec();
    let details = &mut new["components"]["schemas"]["CustomerDetails"]["properties"];
    details["creationTimestamp"]["type"] = json!("string");
    details["updatedTimestamp"] = json!({"type": "integer", "readOnly": true});
    new["components"]["schemas"]["CustomerDetails"]["required"] =
        json!(["name", "updatedTimestamp"]);
    let changes = compat::compare(&spec(), &new).unwrap();
    assert!(changes.iter().all(|c| c.class == Class::Compatible), "{}", show(&changes));
}
