//! Classifies the changes between a released spec and the current one, for
//! `cargo xtask api-compat` (see [`crate::release`] for the snapshots and the gate).
//!
//! Every change gets a [`Class`], from the point of view of a deployed party:
//!
//! - **backward-incompatible**: a client built against the released spec
//!   breaks against a server of the current one (a removed operation, status,
//!   field or header; a new required parameter or field; a request value the
//!   server now refuses; a response value old clients cannot read; a renamed
//!   `operationId`, which renames the generated client's method);
//! - **forward-incompatible**: a client built against the current spec may
//!   break against a server of the released one (a new operation, an optional
//!   parameter or request field older servers do not read, a request value
//!   only newer servers accept);
//! - **compatible**: neither (a new response field or header, which old
//!   clients ignore; documentation; a deprecation).
//!
//! Requests and responses are compared in their direction: a schema reached
//! from a parameter or a request body is an *input* (the server must keep
//! accepting what it accepted), one reached from a response an *output* (old
//! clients must keep understanding what the server sends). A schema shared by
//! both is compared twice. What is not classified (a changed `allOf`/`oneOf`,
//! a keyword this module does not know) counts as backward-incompatible, so
//! that nothing passes unexamined.
//!
//! The comparison reads the documents as JSON (after `openapiv3` has checked
//! that they are OpenAPI 3.0), resolving `$ref`s on both sides, so every
//! keyword is seen, including extensions such as `x-request-body-max-bytes`.
//! Why this is not Oxide's `drift` crate: ARCHITECTURE.md ("API evolution").

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::pointer_segment;

/// Who a change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Clients of the released spec break against a current server.
    BackwardIncompatible,
    /// Clients of the current spec may break against a released server.
    ForwardIncompatible,
    /// Neither.
    Compatible,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::BackwardIncompatible => "backward-incompatible",
            Class::ForwardIncompatible => "forward-incompatible",
            Class::Compatible => "compatible",
        })
    }
}

/// What happened to the changed thing (the changelog's sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Added,
    Changed,
    Deprecated,
    Removed,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Added => "Added",
            Kind::Changed => "Changed",
            Kind::Deprecated => "Deprecated",
            Kind::Removed => "Removed",
        })
    }
}

/// The smallest version bump a change needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bump {
    /// Documentation only: a patch release, or none.
    None,
    Minor,
    Major,
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    pub class: Class,
    pub kind: Kind,
    /// JSON pointer (URI fragment) of the changed part: in the current spec,
    /// or in the released one for what was removed.
    pub pointer: String,
    /// What changed, for people: "field `Customer.name`", "operation `getCustomer`".
    pub subject: String,
    /// How it changed: "removed", "maxLength 255 → 100".
    pub what: String,
    /// Why it has its class, in a sentence.
    pub why: String,
}

impl Change {
    pub fn bump(&self) -> Bump {
        match (self.class, self.kind) {
            (Class::BackwardIncompatible, _) => Bump::Major,
            (Class::ForwardIncompatible, _) => Bump::Minor,
            (Class::Compatible, Kind::Added | Kind::Deprecated) => Bump::Minor,
            (Class::Compatible, Kind::Changed | Kind::Removed) => Bump::None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}: {}", self.pointer, self.subject, self.what, self.why)
    }
}

/// Every change from `old` (a released spec) to `new`, sorted by class, then pointer.
pub fn compare(old: &Value, new: &Value) -> Result<Vec<Change>, String> {
    for (which, doc) in [("released", old), ("current", new)] {
        serde_json::from_value::<openapiv3::OpenAPI>(doc.clone())
            .map_err(|error| format!("the {which} spec is not an OpenAPI 3.0 document: {error}"))?;
    }
    let mut compare = Compare { old, new, changes: BTreeSet::new(), visited: HashSet::new() };
    compare.document();
    let mut changes: Vec<Change> = compare.changes.into_iter().collect();
    changes.sort_by(|a, b| (a.class, &a.pointer, a.kind).cmp(&(b.class, &b.pointer, b.kind)));
    Ok(changes)
}

/// A release-notes changelog of `changes`, grouped by [`Kind`].
pub fn changelog(changes: &[Change]) -> String {
    let mut out = String::new();
    for kind in [Kind::Added, Kind::Changed, Kind::Deprecated, Kind::Removed] {
        let entries: Vec<&Change> = changes.iter().filter(|change| change.kind == kind).collect();
        if entries.is_empty() {
            continue;
        }
        out.push_str(&format!("### {kind}\n"));
        for change in entries {
            let what = if matches!(change.what.as_str(), "added" | "removed" | "deprecated") {
                String::new()
            } else {
                format!(": {}", change.what)
            };
            let class = match change.class {
                Class::Compatible => String::new(),
                class => format!(" ({class})"),
            };
            out.push_str(&format!("- {}{what}{class}\n", capitalise(&change.subject)));
        }
    }
    out
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Requests (parameters, request bodies) or responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dir {
    Input,
    Output,
}

/// How the set of values a schema keyword allows changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Same,
    /// The new schema allows fewer values.
    Narrower,
    /// The new schema allows more values.
    Wider,
    /// Neither contains the other (or it cannot be told).
    Different,
}

/// Who a schema belongs to, for [`Change::subject`].
#[derive(Debug, Clone)]
struct Subject {
    /// A component schema's name, or a description ("the request body of `createCustomer`").
    owner: Owner,
    /// Below the owner: `.name`, `[]` (array items), `.*` (map values).
    path: String,
}

#[derive(Debug, Clone)]
enum Owner {
    Schema(String),
    Context(String),
}

impl Subject {
    fn context(text: String) -> Self {
        Subject { owner: Owner::Context(text), path: String::new() }
    }

    fn below(&self, segment: &str) -> Self {
        Subject { owner: self.owner.clone(), path: format!("{}{segment}", self.path) }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.owner, self.path.as_str()) {
            (Owner::Schema(name), "") => write!(f, "schema `{name}`"),
            (Owner::Schema(name), path) => write!(f, "field `{name}{path}`"),
            (Owner::Context(text), "") => f.write_str(text),
            (Owner::Context(text), path) => {
                write!(f, "field `{}` of {text}", path.trim_start_matches('.'))
            }
        }
    }
}

/// What a missing `properties`, `content`, `responses` or `headers` stands for.
static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

const SCHEMA_METADATA: &[&str] =
    &["description", "title", "example", "examples", "externalDocs", "xml", "deprecated"];

/// String formats that typify turns into a Rust type of their own: changing
/// one changes the generated code, whatever it does to the values.
const TYPED_FORMATS: &[&str] =
    &["date", "date-time", "time", "uuid", "ip", "ipv4", "ipv6", "byte", "binary", "uri"];

struct Compare<'a> {
    old: &'a Value,
    new: &'a Value,
    changes: BTreeSet<Change>,
    /// Schema pairs already compared: (direction, old pointer, new pointer).
    visited: HashSet<(Dir, String, String)>,
}

impl<'a> Compare<'a> {
    fn push(
        &mut self,
        class: Class,
        kind: Kind,
        pointer: &str,
        subject: impl ToString,
        what: impl Into<String>,
        why: impl Into<String>,
    ) {
        self.changes.insert(Change {
            class,
            kind,
            pointer: pointer.to_string(),
            subject: subject.to_string(),
            what: what.into(),
            why: why.into(),
        });
    }

    /// A documentation-only change of `keys` (those that differ are named).
    fn metadata(
        &mut self,
        pointer: &str,
        subject: impl ToString,
        old: &Value,
        new: &Value,
        keys: &[&str],
    ) {
        let mut changed: Vec<String> = keys
            .iter()
            .filter(|key| old.get(**key) != new.get(**key) && **key != "deprecated")
            .map(|key| key.to_string())
            .collect();
        changed.extend(extension_keys(old, new));
        if !changed.is_empty() {
            self.push(
                Class::Compatible,
                Kind::Changed,
                pointer,
                subject.to_string(),
                format!("documentation changed ({})", changed.join(", ")),
                "documentation and extensions do not change what is sent or accepted",
            );
        }
        let deprecated =
            |value: &Value| value.get("deprecated").and_then(Value::as_bool) == Some(true);
        match (deprecated(old), deprecated(new)) {
            (false, true) => self.push(
                Class::Compatible,
                Kind::Deprecated,
                pointer,
                subject,
                "deprecated",
                "it still works; clients should move away from it before a major version removes it",
            ),
            (true, false) => self.push(
                Class::Compatible,
                Kind::Changed,
                pointer,
                subject,
                "no longer deprecated",
                "it works as before",
            ),
            _ => {}
        }
    }

    /// A keyword this module does not classify changed: treated as breaking.
    fn unclassified(&mut self, pointer: &str, subject: impl ToString, key: &str) {
        self.push(
            Class::BackwardIncompatible,
            Kind::Changed,
            &format!("{pointer}/{}", pointer_segment(key)),
            subject,
            format!("`{key}` changed"),
            "api-compat does not classify this construct, so it counts as breaking; check it by hand and release it as a major version",
        );
    }

    /// A change of the values a keyword allows, classified by direction.
    fn relation(&mut self, dir: Dir, rel: Rel, pointer: &str, subject: &Subject, what: String) {
        let (class, why) = match (dir, rel) {
            (_, Rel::Same) => return,
            (Dir::Input, Rel::Narrower) => {
                (Class::BackwardIncompatible, "requests that old clients may send are now refused")
            }
            (Dir::Input, Rel::Wider) => (
                Class::ForwardIncompatible,
                "new clients may send values that released servers refuse",
            ),
            (Dir::Output, Rel::Wider) => (
                Class::BackwardIncompatible,
                "responses may carry values that old clients do not expect",
            ),
            (Dir::Output, Rel::Narrower) => (
                Class::ForwardIncompatible,
                "new clients may rely on the narrower values, which released servers do not keep to",
            ),
            (_, Rel::Different) => (
                Class::BackwardIncompatible,
                "neither version allows every value of the other",
            ),
        };
        self.push(class, Kind::Changed, pointer, subject, what, why);
    }

    fn document(&mut self) {
        let (old, new) = (self.old, self.new);
        self.metadata(
            "#/info",
            "the API description",
            &old["info"],
            &new["info"],
            &["title", "description", "license", "contact", "termsOfService"],
        );
        for key in ["servers", "tags", "externalDocs"] {
            if old.get(key) != new.get(key) {
                self.push(
                    Class::Compatible,
                    Kind::Changed,
                    &format!("#/{key}"),
                    format!("the document's `{key}`"),
                    "changed",
                    "documentation only: generated clients do not depend on it",
                );
            }
        }
        if old.pointer("/components/securitySchemes") != new.pointer("/components/securitySchemes")
        {
            self.push(
                Class::BackwardIncompatible,
                Kind::Changed,
                "#/components/securitySchemes",
                "the security schemes",
                "changed",
                "old clients authenticate as the released spec says",
            );
        }
        let old_ops = operations(old);
        let new_ops = operations(new);
        for (key, (pointer, op)) in &old_ops {
            if !new_ops.contains_key(key) {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Removed,
                    pointer,
                    format!("operation {}", label(op, key)),
                    "removed",
                    "old clients call it; the server no longer has it",
                );
            }
        }
        for (key, (pointer, op)) in &new_ops {
            match old_ops.get(key) {
                None => self.push(
                    Class::ForwardIncompatible,
                    Kind::Added,
                    pointer,
                    format!("operation {}", label(op, key)),
                    "added",
                    "new clients may call it; released servers do not have it",
                ),
                Some((old_pointer, old_op)) => {
                    self.operation(key, (old_pointer, old_op), (pointer, op));
                }
            }
        }
    }

    fn operation(&mut self, key: &OpKey, old: (&str, &Op<'a>), new: (&str, &Op<'a>)) {
        let ((_, old_op), (pointer, new_op)) = (old, new);
        let name = label(new_op, key);
        let subject = format!("operation {name}");
        let (o, n) = (old_op.value, new_op.value);
        if o.get("operationId") != n.get("operationId") {
            self.push(
                Class::BackwardIncompatible,
                Kind::Changed,
                &format!("{pointer}/operationId"),
                format!("operation {}", label(old_op, key)),
                format!("renamed to `{}`", n["operationId"].as_str().unwrap_or_default()),
                "the generated client's method, mock and CLI subcommand are named after the operationId: code written against the old name no longer compiles",
            );
        }
        self.metadata(pointer, &subject, o, n, &["summary", "description", "tags", "externalDocs"]);
        let security =
            |doc: &Value, op: &Value| op.get("security").or(doc.get("security")).cloned();
        if security(self.old, o) != security(self.new, n) {
            self.push(
                Class::BackwardIncompatible,
                Kind::Changed,
                &format!("{pointer}/security"),
                &subject,
                "security requirements changed",
                "old clients authenticate as the released spec says",
            );
        }
        for key in ["callbacks", "servers"] {
            if o.get(key) != n.get(key) {
                self.unclassified(pointer, &subject, key);
            }
        }
        self.parameters(&name, old_op, new_op);
        self.request_body(
            &name,
            (o, &format!("{}/requestBody", old.0)),
            (n, &format!("{pointer}/requestBody")),
        );
        self.responses(&name, (o, old.0), (n, pointer));
    }

    fn parameters(&mut self, op_name: &str, old_op: &Op<'a>, new_op: &Op<'a>) {
        let old_params = parameters(self.old, old_op);
        let new_params = parameters(self.new, new_op);
        for (key, Located { here, value: param, .. }) in &old_params {
            if !new_params.contains_key(key) {
                let required = param.get("required").and_then(Value::as_bool) == Some(true);
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Removed,
                    here,
                    param_subject(param, op_name),
                    "removed",
                    if required {
                        "old clients send it and the server no longer reads it (nor does the generated client have it)"
                    } else {
                        "old clients that send it would no longer get what it does (and the generated client loses its builder method)"
                    },
                );
            }
        }
        for (key, Located { here, pointer, value: param }) in &new_params {
            let subject = param_subject(param, op_name);
            let required = |p: &Value| p.get("required").and_then(Value::as_bool) == Some(true);
            let Some(Located { pointer: old_pointer, value: old_param, .. }) = old_params.get(key)
            else {
                if required(param) {
                    self.push(
                        Class::BackwardIncompatible,
                        Kind::Added,
                        here,
                        subject,
                        "added, required",
                        "requests from old clients do not carry it",
                    );
                } else {
                    self.push(
                        Class::ForwardIncompatible,
                        Kind::Added,
                        here,
                        subject,
                        "added, optional",
                        "old clients need not send it; released servers ignore it when new clients do",
                    );
                }
                continue;
            };
            let subject = shared_subject(
                pointer,
                |_| param_subject(param, "").trim_end_matches(" of ").to_string(),
                subject,
            );
            match (required(old_param), required(param)) {
                (false, true) => self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &subject,
                    "now required",
                    "requests from old clients may lack it",
                ),
                (true, false) => self.push(
                    Class::ForwardIncompatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &subject,
                    "now optional",
                    "new clients may leave it out; released servers require it",
                ),
                _ => {}
            }
            if old_param["in"] == "path" && old_param.get("name") != param.get("name") {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &format!("{pointer}/name"),
                    &subject,
                    format!("renamed from `{}`", old_param["name"].as_str().unwrap_or_default()),
                    "the generated client's builder method is named after it: code written against the old name no longer compiles",
                );
            }
            self.metadata(
                pointer,
                &subject,
                old_param,
                param,
                &["description", "example", "examples"],
            );
            let location = param["in"].as_str().unwrap_or_default();
            let style = |p: &Value| {
                let default_style =
                    if matches!(location, "query" | "cookie") { "form" } else { "simple" };
                let style =
                    p.get("style").and_then(Value::as_str).unwrap_or(default_style).to_string();
                let explode = p.get("explode").and_then(Value::as_bool).unwrap_or(style == "form");
                (style, explode)
            };
            if style(old_param) != style(param) {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    pointer,
                    &subject,
                    "serialisation (`style`/`explode`) changed",
                    "old clients encode it the released way",
                );
            }
            for key in ["allowEmptyValue", "allowReserved", "content"] {
                if old_param.get(key) != param.get(key) {
                    self.unclassified(pointer, &subject, key);
                }
            }
            if let (Some(old_schema), Some(new_schema)) =
                (old_param.get("schema"), param.get("schema"))
            {
                self.schema(
                    Dir::Input,
                    (format!("{old_pointer}/schema"), old_schema),
                    (format!("{pointer}/schema"), new_schema),
                    &Subject::context(subject),
                );
            }
        }
    }

    fn request_body(&mut self, op_name: &str, old: (&'a Value, &str), new: (&'a Value, &str)) {
        let subject = format!("the request body of {op_name}");
        let old_body = old.0.get("requestBody").map(|body| resolve(self.old, old.1, body));
        let new_body = new.0.get("requestBody").map(|body| resolve(self.new, new.1, body));
        let required = |body: &Value| body.get("required").and_then(Value::as_bool) == Some(true);
        match (old_body, new_body) {
            (None, None) => {}
            (Some(_), None) => self.push(
                Class::BackwardIncompatible,
                Kind::Removed,
                old.1,
                subject,
                "removed",
                "old clients send it; the server no longer reads it, and the generated client loses `body()`",
            ),
            (None, Some((_, body))) => {
                if required(body) {
                    self.push(
                        Class::BackwardIncompatible,
                        Kind::Added,
                        new.1,
                        subject,
                        "added, required",
                        "requests from old clients have no body",
                    );
                } else {
                    self.push(
                        Class::ForwardIncompatible,
                        Kind::Added,
                        new.1,
                        subject,
                        "added, optional",
                        "released servers ignore a body new clients send",
                    );
                }
            }
            (Some((old_pointer, old_body)), Some((pointer, body))) => {
                match (required(old_body), required(body)) {
                    (false, true) => self.push(
                        Class::BackwardIncompatible,
                        Kind::Changed,
                        &pointer,
                        &subject,
                        "now required",
                        "requests from old clients may have no body",
                    ),
                    (true, false) => self.push(
                        Class::ForwardIncompatible,
                        Kind::Changed,
                        &pointer,
                        &subject,
                        "now optional",
                        "new clients may send no body; released servers require one",
                    ),
                    _ => {}
                }
                self.metadata(&pointer, &subject, old_body, body, &["description"]);
                let limit = |body: &Value| body.get("x-request-body-max-bytes").cloned();
                let (old_limit, new_limit) = (limit(old_body), limit(body));
                if old_limit != new_limit {
                    let rel = match (old_limit.as_ref().and_then(Value::as_f64), new_limit.as_ref().and_then(Value::as_f64)) {
                        (Some(a), Some(b)) => upper_bound(Some(a), Some(b)),
                        _ => Rel::Different,
                    };
                    let show = |v: &Option<Value>| v.as_ref().map_or("none".to_string(), Value::to_string);
                    self.relation(
                        Dir::Input,
                        rel,
                        &format!("{pointer}/x-request-body-max-bytes"),
                        &Subject::context(subject.clone()),
                        format!("x-request-body-max-bytes {} → {}", show(&old_limit), show(&new_limit)),
                    );
                }
                self.content(Dir::Input, &subject, (&old_pointer, old_body), (&pointer, body));
            }
        }
    }

    /// The `content` maps of two bodies (request or response).
    fn content(&mut self, dir: Dir, subject: &str, old: (&str, &'a Value), new: (&str, &'a Value)) {
        let old_content = old.1.get("content").and_then(Value::as_object).unwrap_or(&EMPTY);
        let new_content = new.1.get("content").and_then(Value::as_object).unwrap_or(&EMPTY);
        for (media, _) in old_content {
            if !new_content.contains_key(media) {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Removed,
                    &format!("{}/content/{}", old.0, pointer_segment(media)),
                    format!("`{media}` in {subject}"),
                    "removed",
                    match dir {
                        Dir::Input => "old clients send this media type",
                        Dir::Output => "old clients expect this media type",
                    },
                );
            }
        }
        for (media, new_media) in new_content {
            let pointer = format!("{}/content/{}", new.0, pointer_segment(media));
            let Some(old_media) = old_content.get(media) else {
                let (class, why) = match dir {
                    Dir::Input => (Class::ForwardIncompatible, "released servers do not accept it"),
                    Dir::Output => (Class::Compatible, "old clients do not ask for it"),
                };
                self.push(
                    class,
                    Kind::Added,
                    &pointer,
                    format!("`{media}` in {subject}"),
                    "added",
                    why,
                );
                continue;
            };
            self.metadata(
                &pointer,
                format!("`{media}` in {subject}"),
                old_media,
                new_media,
                &["example", "examples"],
            );
            if old_media.get("encoding") != new_media.get("encoding") {
                self.unclassified(&pointer, subject, "encoding");
            }
            let old_pointer = format!("{}/content/{}/schema", old.0, pointer_segment(media));
            match (old_media.get("schema"), new_media.get("schema")) {
                (Some(old_schema), Some(new_schema)) => self.schema(
                    dir,
                    (old_pointer, old_schema),
                    (format!("{pointer}/schema"), new_schema),
                    &Subject::context(subject.to_string()),
                ),
                (None, None) => {}
                _ => self.unclassified(&pointer, subject, "schema"),
            }
        }
    }

    fn responses(&mut self, op_name: &str, old: (&'a Value, &str), new: (&'a Value, &str)) {
        let old_responses = old.0.get("responses").and_then(Value::as_object).unwrap_or(&EMPTY);
        let new_responses = new.0.get("responses").and_then(Value::as_object).unwrap_or(&EMPTY);
        for (status, _) in old_responses {
            if !new_responses.contains_key(status) {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Removed,
                    &format!("{}/responses/{}", old.1, pointer_segment(status)),
                    format!("response {status} of {op_name}"),
                    "removed",
                    "old clients handle it (the generated client and its mocks have it typed) and rely on what it promises",
                );
            }
        }
        for (status, new_response) in new_responses {
            let here = format!("{}/responses/{}", new.1, pointer_segment(status));
            let subject = format!("response {status} of {op_name}");
            let Some(old_response) = old_responses.get(status) else {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Added,
                    &here,
                    subject,
                    "added",
                    "old clients do not know this status: their generated client reports it as an unexpected response",
                );
                continue;
            };
            let old_here = format!("{}/responses/{}", old.1, pointer_segment(status));
            let (old_pointer, old_response) = resolve(self.old, &old_here, old_response);
            let (pointer, new_response) = resolve(self.new, &here, new_response);
            let subject = shared_subject(&pointer, |name| format!("response `{name}`"), subject);
            self.metadata(&pointer, &subject, old_response, new_response, &["description"]);
            if old_response.get("links") != new_response.get("links") {
                self.push(
                    Class::Compatible,
                    Kind::Changed,
                    &format!("{pointer}/links"),
                    &subject,
                    "links changed",
                    "links document how operations chain; no client generated from the spec uses them",
                );
            }
            self.headers(&subject, (&old_pointer, old_response), (&pointer, new_response));
            self.content(
                Dir::Output,
                &subject,
                (&old_pointer, old_response),
                (&pointer, new_response),
            );
        }
    }

    fn headers(&mut self, subject: &str, old: (&str, &'a Value), new: (&str, &'a Value)) {
        let headers = |doc: &'a Value, (pointer, response): (&str, &'a Value)| {
            let mut headers = BTreeMap::new();
            if let Some(map) = response.get("headers").and_then(Value::as_object) {
                for (name, header) in map {
                    let here = format!("{pointer}/headers/{}", pointer_segment(name));
                    let (pointer, header) = resolve(doc, &here, header);
                    headers.insert(
                        name.to_ascii_lowercase(),
                        (name.clone(), Located { here, pointer, value: header }),
                    );
                }
            }
            headers
        };
        let old_headers = headers(self.old, old);
        let new_headers = headers(self.new, new);
        let required =
            |header: &Value| header.get("required").and_then(Value::as_bool) == Some(true);
        for (key, (name, Located { here, .. })) in &old_headers {
            if !new_headers.contains_key(key) {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Removed,
                    here,
                    format!("header `{name}` of {subject}"),
                    "removed",
                    "old clients may read it",
                );
            }
        }
        for (key, (name, Located { here, pointer, value: header })) in &new_headers {
            let header_subject = format!("header `{name}` of {subject}");
            let Some((_, Located { pointer: old_pointer, value: old_header, .. })) =
                old_headers.get(key)
            else {
                self.push(
                    Class::Compatible,
                    Kind::Added,
                    here,
                    header_subject,
                    "added",
                    "old clients ignore headers they do not read",
                );
                continue;
            };
            let header_subject =
                shared_subject(pointer, |_| format!("header `{name}`"), header_subject);
            match (required(old_header), required(header)) {
                (true, false) => self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &header_subject,
                    "no longer always sent",
                    "old clients may rely on it being there",
                ),
                (false, true) => self.push(
                    Class::Compatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &header_subject,
                    "now always sent",
                    "old clients that read it find it more often",
                ),
                _ => {}
            }
            self.metadata(
                pointer,
                &header_subject,
                old_header,
                header,
                &["description", "example", "examples"],
            );
            if let (Some(old_schema), Some(new_schema)) =
                (old_header.get("schema"), header.get("schema"))
            {
                self.schema(
                    Dir::Output,
                    (format!("{old_pointer}/schema"), old_schema),
                    (format!("{pointer}/schema"), new_schema),
                    &Subject::context(header_subject),
                );
            }
        }
    }

    fn schema(
        &mut self,
        dir: Dir,
        old: (String, &'a Value),
        new: (String, &'a Value),
        subject: &Subject,
    ) {
        let (old_pointer, o) = resolve(self.old, &old.0, old.1);
        let (pointer, n) = resolve(self.new, &new.0, new.1);
        let subject = match component_name(&pointer) {
            Some(name) => Subject { owner: Owner::Schema(name), path: String::new() },
            None => subject.clone(),
        };
        if !self.visited.insert((dir, old_pointer.clone(), pointer.clone())) {
            return;
        }
        let known: &[&str] = &[
            "type",
            "format",
            "enum",
            "nullable",
            "minLength",
            "maxLength",
            "pattern",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "items",
            "minItems",
            "maxItems",
            "uniqueItems",
            "properties",
            "required",
            "additionalProperties",
            "minProperties",
            "maxProperties",
            "default",
            "readOnly",
            "writeOnly",
        ];
        self.metadata(&pointer, &subject, o, n, SCHEMA_METADATA);
        let keys: BTreeSet<&String> =
            o.as_object().into_iter().chain(n.as_object()).flat_map(Map::keys).collect();
        for key in keys {
            let key = key.as_str();
            if !known.contains(&key)
                && !SCHEMA_METADATA.contains(&key)
                && !key.starts_with("x-")
                && o.get(key) != n.get(key)
            {
                self.unclassified(&pointer, &subject, key);
            }
        }
        let show = |value: Option<&Value>| value.map_or("none".to_string(), Value::to_string);
        let at = |key: &str| format!("{pointer}/{key}");
        if o.get("type") != n.get("type") {
            self.push(
                Class::BackwardIncompatible,
                Kind::Changed,
                &at("type"),
                &subject,
                format!("type {} → {}", show(o.get("type")), show(n.get("type"))),
                "a value of one type is not a value of the other, and the generated Rust type changes",
            );
            return;
        }
        let ty = n.get("type").and_then(Value::as_str).unwrap_or_default();
        if o.get("format") != n.get("format") {
            let (of, nf) =
                (o.get("format").and_then(Value::as_str), n.get("format").and_then(Value::as_str));
            let what = format!("format {} → {}", show(o.get("format")), show(n.get("format")));
            let typed = |f: Option<&str>| f.is_some_and(|f| TYPED_FORMATS.contains(&f));
            if matches!(ty, "integer" | "number") || typed(of) || typed(nf) {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &at("format"),
                    &subject,
                    what,
                    "the generated Rust type changes (and so may the values it holds)",
                );
            } else {
                let rel = match (of, nf) {
                    (None, Some(_)) => Rel::Narrower,
                    (Some(_), None) => Rel::Wider,
                    _ => Rel::Different,
                };
                self.relation(dir, rel, &at("format"), &subject, what);
            }
        }
        if o.get("enum") != n.get("enum") {
            let values = |s: &Value| s.get("enum").and_then(Value::as_array).cloned();
            let rel = match (values(o), values(n)) {
                (None, Some(_)) => Rel::Narrower,
                (Some(_), None) => Rel::Wider,
                (Some(a), Some(b)) => {
                    let a_in_b = a.iter().all(|v| b.contains(v));
                    let b_in_a = b.iter().all(|v| a.contains(v));
                    match (a_in_b, b_in_a) {
                        (true, true) => Rel::Same,
                        (true, false) => Rel::Wider,
                        (false, true) => Rel::Narrower,
                        (false, false) => Rel::Different,
                    }
                }
                (None, None) => Rel::Same,
            };
            self.relation(
                dir,
                rel,
                &at("enum"),
                &subject,
                format!("enum {} → {}", show(o.get("enum")), show(n.get("enum"))),
            );
        }
        let flag = |s: &Value, key: &str| s.get(key).and_then(Value::as_bool).unwrap_or(false);
        for (key, true_is_wider) in [
            ("nullable", true),
            ("exclusiveMinimum", false),
            ("exclusiveMaximum", false),
            ("uniqueItems", false),
        ] {
            let (a, b) = (flag(o, key), flag(n, key));
            if a != b {
                let rel = if b == true_is_wider { Rel::Wider } else { Rel::Narrower };
                self.relation(dir, rel, &at(key), &subject, format!("{key} {a} → {b}"));
            }
        }
        let number = |s: &Value, key: &str| s.get(key).and_then(Value::as_f64);
        for key in ["minLength", "minimum", "minItems", "minProperties"] {
            let rel = lower_bound(number(o, key), number(n, key));
            self.relation(
                dir,
                rel,
                &at(key),
                &subject,
                format!("{key} {} → {}", show(o.get(key)), show(n.get(key))),
            );
        }
        for key in ["maxLength", "maximum", "maxItems", "maxProperties"] {
            let rel = upper_bound(number(o, key), number(n, key));
            self.relation(
                dir,
                rel,
                &at(key),
                &subject,
                format!("{key} {} → {}", show(o.get(key)), show(n.get(key))),
            );
        }
        for key in ["pattern", "multipleOf"] {
            let rel = match (o.get(key), n.get(key)) {
                (a, b) if a == b => Rel::Same,
                (None, Some(_)) => Rel::Narrower,
                (Some(_), None) => Rel::Wider,
                _ => Rel::Different,
            };
            self.relation(
                dir,
                rel,
                &at(key),
                &subject,
                format!("{key} {} → {}", show(o.get(key)), show(n.get(key))),
            );
        }
        if o.get("default") != n.get("default") {
            if dir == Dir::Input && o.get("default").is_some() && n.get("default").is_some() {
                self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &at("default"),
                    &subject,
                    format!("default {} → {}", show(o.get("default")), show(n.get("default"))),
                    "old clients that leave it out get a different behaviour",
                );
            } else {
                self.push(
                    Class::Compatible,
                    Kind::Changed,
                    &at("default"),
                    &subject,
                    format!("default {} → {}", show(o.get("default")), show(n.get("default"))),
                    "the documented default changes, not what is sent or accepted",
                );
            }
        }
        if let (Some(old_items), Some(new_items)) = (o.get("items"), n.get("items")) {
            self.schema(
                dir,
                (format!("{old_pointer}/items"), old_items),
                (at("items"), new_items),
                &subject.below("[]"),
            );
        } else if o.get("items") != n.get("items") {
            self.unclassified(&pointer, &subject, "items");
        }
        self.object(dir, (&old_pointer, o), (&pointer, n), &subject);
    }

    fn object(
        &mut self,
        dir: Dir,
        old: (&str, &'a Value),
        new: (&str, &'a Value),
        subject: &Subject,
    ) {
        let ((old_pointer, o), (pointer, n)) = (old, new);
        let old_props = o.get("properties").and_then(Value::as_object).unwrap_or(&EMPTY);
        let new_props = n.get("properties").and_then(Value::as_object).unwrap_or(&EMPTY);
        let required = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let (old_required, new_required) = (required(o), required(n));
        let closed = |s: &Value| s.get("additionalProperties") == Some(&Value::Bool(false));
        let flag = |doc: &'a Value, here: &str, s: &'a Value, key: &str| {
            resolve(doc, here, s).1.get(key).and_then(Value::as_bool).unwrap_or(false)
        };
        for (name, _) in old_props {
            if new_props.contains_key(name) {
                continue;
            }
            let field = subject.below(&format!(".{name}"));
            let why = match dir {
                Dir::Output => "old clients read it; responses no longer carry it (and the generated type loses the field)",
                Dir::Input => "old clients send it; the server no longer reads it (and the generated type loses the field)",
            };
            self.push(
                Class::BackwardIncompatible,
                Kind::Removed,
                &format!("{old_pointer}/properties/{}", pointer_segment(name)),
                field,
                "removed",
                why,
            );
        }
        for (name, new_prop) in new_props {
            let here = format!("{pointer}/properties/{}", pointer_segment(name));
            let field = subject.below(&format!(".{name}"));
            let Some(old_prop) = old_props.get(name) else {
                let is_required = new_required.contains(name);
                let read_only = flag(self.new, &here, new_prop, "readOnly");
                let (class, what, why) = match dir {
                    Dir::Input if read_only => (Class::Compatible, "added (read-only)", "the server ignores it in requests"),
                    Dir::Input if is_required => (Class::BackwardIncompatible, "added, required", "requests from old clients lack it and are refused"),
                    Dir::Input if closed(o) => (Class::ForwardIncompatible, "added, optional", "new clients may send it; released servers refuse unknown fields"),
                    Dir::Input => (Class::ForwardIncompatible, "added, optional", "old clients need not send it; released servers ignore it when new clients do"),
                    Dir::Output if closed(o) => (Class::BackwardIncompatible, "added", "old clients refuse fields the released schema does not allow (`additionalProperties: false`)"),
                    Dir::Output => (Class::Compatible, "added", "old clients ignore fields they do not know"),
                };
                self.push(class, Kind::Added, &here, field, what, why);
                continue;
            };
            let old_here = format!("{old_pointer}/properties/{}", pointer_segment(name));
            match (old_required.contains(name), new_required.contains(name), dir) {
                (false, true, Dir::Input) => self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &field,
                    "now required",
                    "requests from old clients may lack it",
                ),
                (true, false, Dir::Input) => self.push(
                    Class::ForwardIncompatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &field,
                    "now optional",
                    "new clients may leave it out; released servers require it",
                ),
                (true, false, Dir::Output) => self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &field,
                    "now optional",
                    "old clients expect it in every response",
                ),
                (false, true, Dir::Output) => self.push(
                    Class::Compatible,
                    Kind::Changed,
                    &format!("{pointer}/required"),
                    &field,
                    "now always present",
                    "old clients that read it find it more often",
                ),
                _ => {}
            }
            let (old_ro, new_ro) = (
                flag(self.old, &old_here, old_prop, "readOnly"),
                flag(self.new, &here, new_prop, "readOnly"),
            );
            let (old_wo, new_wo) = (
                flag(self.old, &old_here, old_prop, "writeOnly"),
                flag(self.new, &here, new_prop, "writeOnly"),
            );
            match (dir, old_ro, new_ro) {
                (Dir::Input, false, true) => self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &format!("{here}/readOnly"),
                    &field,
                    "now read-only",
                    "the server now ignores it in requests: what old clients send has no effect",
                ),
                (Dir::Input, true, false) => self.push(
                    Class::ForwardIncompatible,
                    Kind::Changed,
                    &format!("{here}/readOnly"),
                    &field,
                    "now writable",
                    "new clients may set it; released servers ignore it",
                ),
                _ => {}
            }
            match (dir, old_wo, new_wo) {
                (Dir::Output, false, true) => self.push(
                    Class::BackwardIncompatible,
                    Kind::Changed,
                    &format!("{here}/writeOnly"),
                    &field,
                    "now write-only",
                    "responses no longer carry it; old clients read it",
                ),
                (Dir::Output, true, false) => self.push(
                    Class::Compatible,
                    Kind::Changed,
                    &format!("{here}/writeOnly"),
                    &field,
                    "now returned",
                    "old clients ignore fields they do not read",
                ),
                _ => {}
            }
            // A read-only field of a request (or a write-only one of a
            // response) is not exchanged: its schema does not matter there.
            let exchanged = match dir {
                Dir::Input => !(old_ro && new_ro),
                Dir::Output => !(old_wo && new_wo),
            };
            if exchanged {
                self.schema(dir, (old_here, old_prop), (here, new_prop), &field);
            }
        }
        // additionalProperties: absent or true (anything) ⊇ a schema ⊇ false (nothing).
        let (old_ap, new_ap) = (o.get("additionalProperties"), n.get("additionalProperties"));
        let rank = |ap: Option<&Value>| match ap {
            None | Some(Value::Bool(true)) => 2,
            Some(Value::Bool(false)) => 0,
            Some(_) => 1,
        };
        match (rank(old_ap), rank(new_ap)) {
            (1, 1) => self.schema(
                dir,
                (format!("{old_pointer}/additionalProperties"), old_ap.unwrap()),
                (format!("{pointer}/additionalProperties"), new_ap.unwrap()),
                &subject.below(".*"),
            ),
            (a, b) if a != b => {
                let rel = if b > a { Rel::Wider } else { Rel::Narrower };
                let show = |value: Option<&Value>| {
                    value.map_or("none".to_string(), |v| {
                        if v.is_object() {
                            "a schema".to_string()
                        } else {
                            v.to_string()
                        }
                    })
                };
                self.relation(
                    dir,
                    rel,
                    &format!("{pointer}/additionalProperties"),
                    subject,
                    format!("additionalProperties {} → {}", show(old_ap), show(new_ap)),
                );
            }
            _ => {}
        }
    }
}

fn lower_bound(old: Option<f64>, new: Option<f64>) -> Rel {
    match (old, new) {
        (None, None) => Rel::Same,
        (None, Some(_)) => Rel::Narrower,
        (Some(_), None) => Rel::Wider,
        (Some(a), Some(b)) if b > a => Rel::Narrower,
        (Some(a), Some(b)) if b < a => Rel::Wider,
        _ => Rel::Same,
    }
}

fn upper_bound(old: Option<f64>, new: Option<f64>) -> Rel {
    match (old, new) {
        (None, None) => Rel::Same,
        (None, Some(_)) => Rel::Narrower,
        (Some(_), None) => Rel::Wider,
        (Some(a), Some(b)) if b < a => Rel::Narrower,
        (Some(a), Some(b)) if b > a => Rel::Wider,
        _ => Rel::Same,
    }
}

/// Names in `extensions` (`x-...`) whose values differ.
fn extension_keys(old: &Value, new: &Value) -> Vec<String> {
    let keys: BTreeSet<&String> =
        old.as_object().into_iter().chain(new.as_object()).flat_map(Map::keys).collect();
    keys.into_iter()
        .filter(|key| key.starts_with("x-") && key.as_str() != "x-request-body-max-bytes")
        .filter(|key| old.get(key.as_str()) != new.get(key.as_str()))
        .cloned()
        .collect()
}

/// Follows `$ref`s (within the document) from `value` at `pointer`: the
/// pointer and value of what it names.
fn resolve<'v>(doc: &'v Value, pointer: &str, value: &'v Value) -> (String, &'v Value) {
    let (mut pointer, mut value) = (pointer.to_string(), value);
    for _ in 0..32 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else { break };
        let Some(target) = reference.strip_prefix('#').and_then(|p| doc.pointer(p)) else { break };
        pointer = reference.to_string();
        value = target;
    }
    (pointer, value)
}

/// `Customer` for `#/components/schemas/Customer` (and nothing deeper).
fn component_name(pointer: &str) -> Option<String> {
    let name = pointer.strip_prefix("#/components/schemas/")?;
    (!name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

/// An operation's identity across versions: its method and its path with the
/// parameter names left out (renaming a path parameter does not move it).
type OpKey = (String, String);

struct Op<'a> {
    value: &'a Value,
    /// `#/paths/~1a/get`.
    pointer: String,
    /// The path item's own parameters (shared by its operations), with their pointer.
    shared: Option<(String, &'a Value)>,
    path: String,
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn operations(doc: &Value) -> BTreeMap<OpKey, (String, Op<'_>)> {
    let mut out = BTreeMap::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else { return out };
    for (path, item) in paths {
        let item_pointer = format!("#/paths/{}", pointer_segment(path));
        let (item_pointer, item) = resolve(doc, &item_pointer, item);
        let route = normalise_route(path);
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                let shared =
                    item.get("parameters").map(|p| (format!("{item_pointer}/parameters"), p));
                out.insert(
                    (method.to_uppercase(), route.clone()),
                    (
                        format!("{item_pointer}/{method}"),
                        Op {
                            value: op,
                            pointer: format!("{item_pointer}/{method}"),
                            shared,
                            path: path.clone(),
                        },
                    ),
                );
            }
        }
    }
    out
}

fn normalise_route(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

fn label(op: &Op<'_>, key: &OpKey) -> String {
    match op.value.get("operationId").and_then(Value::as_str) {
        Some(id) => format!("`{id}` ({} {})", key.0, op.path),
        None => format!("`{} {}`", key.0, op.path),
    }
}

/// An operation's parameters (the path item's, then its own, which override
/// them), resolved and keyed by where they go: a path parameter by its
/// position in the path, a header by its case-insensitive name.
fn parameters<'v>(doc: &'v Value, op: &Op<'v>) -> BTreeMap<String, Located<'v>> {
    let positions: Vec<&str> =
        op.path.split('{').skip(1).filter_map(|rest| rest.split('}').next()).collect();
    let mut out = BTreeMap::new();
    let own = op.value.get("parameters").map(|p| (String::new(), p));
    let shared = op.shared.as_ref().map(|(pointer, p)| (pointer.clone(), *p));
    for (list_pointer, list) in shared.into_iter().chain(own) {
        let Some(list) = list.as_array() else { continue };
        for (index, param) in list.iter().enumerate() {
            let here = if list_pointer.is_empty() {
                format!("{}/parameters/{index}", op.pointer)
            } else {
                format!("{list_pointer}/{index}")
            };
            let (pointer, param) = resolve(doc, &here, param);
            let name = param.get("name").and_then(Value::as_str).unwrap_or_default();
            let key = match param.get("in").and_then(Value::as_str).unwrap_or_default() {
                "path" => format!(
                    "path:{}",
                    positions
                        .iter()
                        .position(|p| *p == name)
                        .map_or(name.to_string(), |i| i.to_string())
                ),
                "header" => format!("header:{}", name.to_ascii_lowercase()),
                location => format!("{location}:{name}"),
            };
            out.insert(key, Located { here, pointer, value: param });
        }
    }
    out
}

fn param_subject(param: &Value, op_name: &str) -> String {
    let name = param.get("name").and_then(Value::as_str).unwrap_or_default();
    let location = param.get("in").and_then(Value::as_str).unwrap_or_default();
    format!("{location} parameter `{name}` of {op_name}")
}

/// Something reached from an operation: where it is referenced (`here`) and,
/// after following `$ref`s, where it is defined (`pointer`).
struct Located<'v> {
    here: String,
    pointer: String,
    value: &'v Value,
}

/// What to call a change inside a shared component (`#/components/<kind>/<name>`),
/// which every operation using it would otherwise report again: `default` for
/// something defined in place.
fn shared_subject(pointer: &str, label: impl FnOnce(&str) -> String, default: String) -> String {
    let Some(rest) = pointer.strip_prefix("#/components/") else { return default };
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(name), None) => {
            format!("{} (shared)", label(&name.replace("~1", "/").replace("~0", "~")))
        }
        _ => default,
    }
}
