//! Emits the server side of a spec: model types (typify), one parameter struct
//! per operation and location, response types with their headers, the error
//! type, and the `#[dropshot::api_description]` trait.
//!
//! Every trait method takes its path, query, header and body parts as
//! [`Deferred`]/`JsonBody` extractors (from `dropshot-api-runtime`, aliased
//! over the spec's error schema) so that the implementation, not dropshot, decides the order in which checks fail, and
//! returns `Result<Reply<Response>, ApiError>` so that errors can carry headers.
//! dropshot's own types serve what it publishes itself: `PaginationParams`
//! and `ResultsPage` (pagination), `MultipartBody`, `UntypedBody`,
//! `FreeformBody`, the redirect types and websocket channels.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use serde_json::Value;
use typify::{TypeSpace, TypeSpaceSettings};

use crate::openapi_model::{
    self, ApiModel, BodyKind, ErrorBody, Location, Operation, Param, Scalar, SuccessBody, ValueType,
};
use crate::{no_panic, pointer_segment, schema, Effect, GenError, GenErrors, Warning};

/// The request body limit used when the spec gives none (dropshot's own is 1 KiB).
pub const DEFAULT_BODY_MAX_BYTES: u64 = 256 * 1024;

/// The API crate's `generated.rs` (unformatted tokens), the operations it
/// contains, and the operations it had to leave out.
pub struct ApiOutput {
    pub tokens: TokenStream,
    /// The pointers (`#/paths/~1a/get`) of the operations in the trait.
    pub emitted: BTreeSet<String>,
    /// The component schemas the trait's types module has.
    pub schemas: BTreeSet<String>,
    pub warnings: Vec<Warning>,
}

/// Generates the API crate's `generated.rs` contents for the model's
/// operations; an operation the emitter cannot express is skipped with a warning.
pub fn emit(model: &ApiModel, trait_name: &str) -> Result<ApiOutput, GenErrors> {
    let (mut emitter, bad_schemas) = Emitter::new(model)?;
    let mut items = Vec::new();
    let mut methods = Vec::new();
    let mut warnings = Vec::new();
    let mut emitted = BTreeSet::new();
    let primary = primary_error_schema(model);
    for operation in &model.operations {
        let skip = |error: GenError| Warning {
            operation: operation.reference(),
            effect: Effect::Skipped,
            error,
        };
        let refs = openapi_model::operation_schema_refs(operation, &emitter.schemas);
        if let Some((name, error)) =
            refs.iter().find_map(|name| bad_schemas.get(name).map(|e| (name, e)))
        {
            warnings.push(skip(
                GenError::new(
                    error.pointer.clone(),
                    format!(
                        "uses the schema `{name}`, which typify cannot generate: {}",
                        error.message
                    ),
                )
                .construct(error.construct_or_message().to_string()),
            ));
            continue;
        }
        match emitter.operation(operation, primary.as_deref()) {
            Ok((op_items, method, mut partial)) => {
                warnings.extend(operation.partial.iter().map(|error| Warning {
                    operation: operation.reference(),
                    effect: Effect::Partial,
                    error: error.clone(),
                }));
                items.push(op_items);
                methods.push(method);
                emitted.insert(operation.pointer.clone());
                warnings.append(&mut partial);
            }
            Err(error) => warnings.push(skip(error)),
        }
    }
    let types = emitter.types_with_spec_schemas(model, &bad_schemas)?;
    let support = emitter.support(primary.as_deref())?;
    let trait_ident = ident(trait_name);
    let trait_doc = format!(
        " The API's operations, one method per `operationId` of the spec. \
         `{}_mod::api_description::<T>()` serves an implementation; \
         `{}_mod::stub_api_description()` yields the spec without one.",
        trait_name.to_snake_case(),
        trait_name.to_snake_case()
    );
    let tokens = quote! {
        #[allow(clippy::all, unused_imports, dead_code, missing_docs)]
        pub mod types {
            #types
        }

        #(#items)*

        #support

        #[doc = #trait_doc]
        #[::dropshot::api_description]
        pub trait #trait_ident {
            /// The server's shared state.
            type Context;

            #(#methods)*
        }
    };
    let schemas = model
        .schemas
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| !bad_schemas.contains_key(name))
        .collect();
    Ok(ApiOutput { tokens, emitted, schemas, warnings })
}

/// The error schema [`ApiError`] publishes: the component schema that most
/// operations' error responses share (`None`: dropshot's own error shape).
fn primary_error_schema(model: &ApiModel) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for operation in &model.operations {
        if let ErrorBody::Schemas(schemas) = &operation.error {
            if let [single] = schemas.as_slice() {
                if let Some(name) = single
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(schema::SCHEMA_REF_PREFIX))
                {
                    *counts.entry(name.to_string()).or_default() += 1;
                }
            }
        }
    }
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|(_, count)| *count == best).map(|(name, _)| name)
}

struct Emitter {
    type_space: TypeSpace,
    known: BTreeSet<String>,
    schemas: BTreeMap<String, Value>,
}

fn type_space_settings(renames: &[(String, String)]) -> TypeSpaceSettings {
    let mut settings = TypeSpaceSettings::default();
    for (from, to) in renames {
        settings.with_patch(from, typify::TypeSpacePatch::default().with_rename(to));
    }
    settings
        .with_type_mod("types")
        .with_struct_builder(false)
        .with_derive("::schemars::JsonSchema".to_string())
        .with_derive("PartialEq".to_string())
        .with_map_type("::std::collections::BTreeMap");
    settings
}

impl Emitter {
    /// typify's type space for the component schemas, and the schemas typify
    /// fails on (each found by trying it, with the schemas it refers to, alone).
    fn new(model: &ApiModel) -> Result<(Self, BTreeMap<String, GenError>), GenErrors> {
        let known: BTreeSet<String> = model.schemas.iter().map(|(name, _)| name.clone()).collect();
        let schemas: BTreeMap<String, Value> = model.schemas.iter().cloned().collect();
        let mut definitions = Vec::new();
        for (name, value) in schema::without_colliding_titles(&model.schemas) {
            let pointer = format!("#/components/schemas/{}", pointer_segment(&name));
            definitions.push((name.clone(), schema::to_json_schema(&pointer, &value, &known)?));
        }
        let mut bad = BTreeMap::new();
        let renames = schema::reserved_renames(known.iter());
        let try_add = |definitions: Vec<(String, schemars::schema::Schema)>| {
            let mut type_space = TypeSpace::new(&type_space_settings(&renames));
            no_panic("#/components/schemas", || {
                type_space.add_ref_types(definitions).map_err(|error| {
                    GenError::new("#/components/schemas", format!("typify: {error}"))
                })
            })
            .map(|()| type_space)
        };
        let type_space = match try_add(definitions.clone()) {
            Ok(type_space) => type_space,
            Err(_) => {
                for (name, _) in &definitions {
                    let closure = openapi_model::schema_closure([name.clone()], &schemas);
                    let subset: Vec<_> =
                        definitions.iter().filter(|(n, _)| closure.contains(n)).cloned().collect();
                    if let Err(error) = try_add(subset) {
                        let pointer = format!("#/components/schemas/{}", pointer_segment(name));
                        let message = error.message.clone();
                        let error = GenError::new(&pointer, message).construct("typify failure");
                        let error = blame_enum(error, &pointer, &schemas[name], &schemas);
                        bad.insert(name.clone(), error);
                    }
                }
                let good: Vec<_> =
                    definitions.into_iter().filter(|(n, _)| !bad.contains_key(n)).collect();
                try_add(good).map_err(GenErrors::from)?
            }
        };
        Ok((Self { type_space, known, schemas }, bad))
    }

    /// typify's types, where each component schema's type publishes the spec's
    /// own schema (a hand-emitted `JsonSchema` impl instead of the derive, which
    /// would lose constraints such as `maxLength`, `pattern` and `maxProperties`).
    fn types_with_spec_schemas(
        &mut self,
        model: &ApiModel,
        bad_schemas: &BTreeMap<String, GenError>,
    ) -> Result<TokenStream, GenError> {
        let mut impls = Vec::new();
        let mut component_idents = BTreeSet::new();
        let mut component_schemas = BTreeMap::new();
        for (name, value) in &model.schemas {
            if bad_schemas.contains_key(name) {
                continue;
            }
            let pointer = format!("#/components/schemas/{}", pointer_segment(name));
            let local = self.component_name(&pointer, name)?;
            component_idents.insert(local.clone());
            component_schemas.insert(local.clone(), value);
            let local = ident(&local);
            let converted = schema::to_published_schema(&pointer, value, &self.known)?;
            let json = serde_json::to_string(&converted).expect("a schema serializes");
            let mut referenced = BTreeSet::new();
            collect_refs(
                &serde_json::to_value(&converted).expect("a schema serializes"),
                &mut referenced,
            );
            let mut registrations = Vec::new();
            for target in referenced {
                let target_local = ident(&self.component_name(&pointer, &target)?);
                registrations.push(quote!(let _ = generator.subschema_for::<#target_local>();));
            }
            let generator_arg =
                if registrations.is_empty() { quote!(_generator) } else { quote!(generator) };
            impls.push(quote! {
                impl ::schemars::JsonSchema for #local {
                    fn schema_name() -> ::std::string::String {
                        ::std::string::ToString::to_string(#name)
                    }

                    fn json_schema(#generator_arg: &mut ::schemars::r#gen::SchemaGenerator) -> ::schemars::schema::Schema {
                        #(#registrations)*
                        ::serde_json::from_str(#json).expect("the spec's schema is valid")
                    }
                }
            });
        }
        let mut file: syn::File = syn::parse2(self.type_space.to_stream()).map_err(|error| {
            GenError::new("#/components/schemas", format!("typify output does not parse: {error}"))
        })?;
        // Simple patterns are checked directly, not by a regular expression.
        crate::direct_pattern::rewrite(&mut file);
        // typify writes its own `JsonSchema` impl for some types (integer
        // enums); ours, with the spec's schema, replaces it.
        file.items.retain(|item| {
            let syn::Item::Impl(item) = item else { return true };
            let is_json_schema = item.trait_.as_ref().is_some_and(|(_, path, _)| {
                path.segments.last().is_some_and(|last| last.ident == "JsonSchema")
            });
            let self_name = match &*item.self_ty {
                syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
                _ => None,
            };
            !(is_json_schema && self_name.is_some_and(|name| component_idents.contains(&name)))
        });
        for item in &mut file.items {
            if let syn::Item::Struct(item) = item {
                if let Some(schema) = component_schemas.get(&item.ident.to_string()) {
                    refuse_null_where_not_nullable(item, schema, &self.schemas)?;
                }
            }
            let (item_ident, attrs) = match item {
                syn::Item::Struct(item) => (&item.ident, &mut item.attrs),
                syn::Item::Enum(item) => (&item.ident, &mut item.attrs),
                _ => continue,
            };
            if !component_idents.contains(&item_ident.to_string()) {
                continue;
            }
            for attr in attrs.iter_mut() {
                if !attr.path().is_ident("derive") {
                    continue;
                }
                let derives = attr
                    .parse_args_with(
                        syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                    )
                    .map_err(|error| {
                        GenError::new("#/components/schemas", format!("typify derive: {error}"))
                    })?;
                let kept: Vec<&syn::Path> = derives
                    .iter()
                    .filter(|path| {
                        path.segments.last().is_none_or(|last| last.ident != "JsonSchema")
                    })
                    .collect();
                *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
            }
        }
        Ok(quote!(#file #(#impls)*))
    }

    /// The name typify gave a component schema's type.
    fn component_name(&mut self, pointer: &str, name: &str) -> Result<String, GenError> {
        let reference =
            serde_json::json!({ "$ref": format!("{}{name}", schema::SCHEMA_REF_PREFIX) });
        let converted = schema::to_json_schema(pointer, &reference, &self.known)?;
        let type_space = &mut self.type_space;
        no_panic(pointer, || {
            let id = type_space
                .add_type(&converted)
                .map_err(|error| GenError::new(pointer, format!("typify: {error}")))?;
            let ty = type_space
                .get_type(&id)
                .map_err(|error| GenError::new(pointer, format!("typify: {error}")))?;
            Ok(ty.name())
        })
    }

    /// The Rust type of a schema, generated by typify (named after `hint` when inline).
    fn schema_type(
        &mut self,
        pointer: &str,
        value: &Value,
        hint: &str,
    ) -> Result<TokenStream, GenError> {
        let converted = schema::to_json_schema(pointer, value, &self.known)?;
        let type_space = &mut self.type_space;
        no_panic(pointer, || {
            let id = type_space
                .add_type_with_name(&converted, Some(hint.to_upper_camel_case()))
                .map_err(|error| GenError::new(pointer, format!("typify: {error}")))?;
            let ty = type_space
                .get_type(&id)
                .map_err(|error| GenError::new(pointer, format!("typify: {error}")))?;
            Ok(ty.ident())
        })
        .map_err(|error| blame_enum(error, pointer, value, &self.schemas))
    }

    /// The field type and schemars attributes of a parameter or header: the
    /// model decided its type (`ty`); this writes it, asking typify for the
    /// generated ones.
    fn scalar_field(
        &mut self,
        pointer: &str,
        value: &Value,
        ty: &ValueType,
        hint: &str,
    ) -> Result<ScalarField, GenError> {
        match ty {
            ValueType::Array { items, item, min_items, max_items } => {
                let items_pointer = format!("{pointer}/items");
                let item = self.scalar_field(&items_pointer, items, item, hint)?;
                // dropshot accepts only scalar query parameters, so an array parameter
                // is published with its item's schema (`params_struct` adds the
                // `schemars(with = ...)`; the conformance test knows); the generated
                // `TryFrom` collects the repeated keys into the `Vec` and checks
                // `minItems`/`maxItems`.
                let item_ty = item.ty;
                Ok(ScalarField {
                    ty: quote!(Vec<#item_ty>),
                    validation: item.validation,
                    parse_with_from_str: item.parse_with_from_str,
                    array: Some(ArrayField {
                        item_ty,
                        min_items: *min_items,
                        max_items: *max_items,
                    }),
                    is_string: false,
                })
            }
            ValueType::Generated => Ok(ScalarField {
                ty: self.schema_type(pointer, value, hint)?,
                validation: Vec::new(),
                parse_with_from_str: false,
                array: None,
                is_string: false,
            }),
            ValueType::Scalar(scalar) => Ok(ScalarField {
                ty: scalar_tokens(*scalar),
                validation: scalar_validation(&self.resolve(pointer, value)?),
                parse_with_from_str: scalar.parse_with_from_str(),
                array: None,
                is_string: *scalar == Scalar::String,
            }),
        }
    }

    /// The schema a `$ref` points at, or the schema itself.
    fn resolve(&self, pointer: &str, value: &Value) -> Result<Value, GenError> {
        match value.get("$ref").and_then(Value::as_str) {
            None => Ok(value.clone()),
            Some(reference) => {
                let name = schema::check_schema_ref(pointer, reference, &self.known)?;
                Ok(self.schemas[&name].clone())
            }
        }
    }

    /// The items (parameter structs, response and error types) and the trait
    /// method of one operation, and the warnings for what it leaves out.
    fn operation(
        &mut self,
        operation: &Operation,
        primary_error: Option<&str>,
    ) -> Result<(TokenStream, TokenStream, Vec<Warning>), GenError> {
        let base = operation.type_base.as_str();
        let mut items = Vec::new();
        let mut args = Vec::new();
        let mut warnings = Vec::new();
        if operation.method == "TRACE" {
            return Err(GenError::new(
                &operation.pointer,
                "dropshot serves no TRACE operations: remove it or use another method",
            )
            .construct("TRACE method"));
        }

        if operation.channel {
            return self.channel(operation).map(|(items, method)| (items, method, warnings));
        }
        let (error_ty, error_schema) = self.error_type(operation, primary_error, &mut items)?;
        // The request-part wrappers and the reply carry the operation's error
        // schema: the crate's aliases for the shared one, else the runtime's types.
        let (deferred, deferred_body, json_body, optional_json_body, reply) = match &error_schema {
            None => (
                quote!(Deferred),
                quote!(DeferredBody),
                quote!(JsonBody),
                quote!(OptionalJsonBody),
                quote!(Reply),
            ),
            Some(_) => (
                quote!(::dropshot_api_runtime::Deferred),
                quote!(::dropshot_api_runtime::DeferredBody),
                quote!(::dropshot_api_runtime::JsonBody),
                quote!(::dropshot_api_runtime::OptionalJsonBody),
                quote!(::dropshot_api_runtime::Reply),
            ),
        };
        let schema_arg = error_schema.map(|schema| quote!(, #schema));

        for (arg, extractor) in self.param_structs(operation, &mut items)? {
            args.push(quote!(#arg: #deferred<#extractor #schema_arg>));
        }

        let mut body_limit = None;
        let mut content_type = None;
        if let Some(body) = &operation.body {
            let content_pointer =
                format!("{}/content/{}/schema", body.pointer, pointer_segment(&body.media_type));
            match body.kind {
                BodyKind::Json => {
                    let body_ty =
                        self.schema_type(&content_pointer, &body.schema, &format!("{base}Body"))?;
                    args.push(if body.required {
                        quote!(body: #json_body<#body_ty #schema_arg>)
                    } else {
                        quote!(body: #optional_json_body<#body_ty #schema_arg>)
                    });
                }
                BodyKind::Form => {
                    let body_ty =
                        self.schema_type(&content_pointer, &body.schema, &format!("{base}Body"))?;
                    args.push(
                        quote!(body: #deferred_body<::dropshot::TypedBody<#body_ty> #schema_arg>),
                    );
                    content_type = Some("application/x-www-form-urlencoded");
                }
                BodyKind::Bytes => {
                    args.push(quote!(body: #deferred_body<::dropshot::UntypedBody #schema_arg>));
                }
                BodyKind::Multipart => {
                    args.push(quote!(body: #deferred_body<::dropshot::MultipartBody #schema_arg>));
                }
            }
            body_limit = Some(body.max_bytes.unwrap_or(DEFAULT_BODY_MAX_BYTES) as usize);
        }

        let response_ty = self.success(operation, &mut items, &mut warnings)?;

        let method_ident = ident(&operation.ident);
        let method = ident(&operation.method);
        let path = &operation.path;
        let operation_id = &operation.operation_id;
        let mut endpoint = vec![
            quote!(method = #method),
            quote!(path = #path),
            quote!(operation_id = #operation_id),
        ];
        if !operation.tags.is_empty() {
            let tags = &operation.tags;
            endpoint.push(quote!(tags = [#(#tags),*]));
        }
        if let Some(limit) = body_limit {
            endpoint.push(quote!(request_body_max_bytes = #limit));
        }
        if let Some(content_type) = content_type {
            endpoint.push(quote!(content_type = #content_type));
        }
        if operation.deprecated {
            endpoint.push(quote!(deprecated = true));
        }
        let docs = doc_lines(operation.summary.as_deref(), operation.description.as_deref());
        let method_tokens = quote! {
            #(#[doc = #docs])*
            #[endpoint { #(#endpoint),* }]
            async fn #method_ident(
                rqctx: ::dropshot::RequestContext<Self::Context>,
                #(#args),*
            ) -> Result<#reply<#response_ty #schema_arg>, #error_ty>;
        };
        Ok((quote!(#(#items)*), method_tokens, warnings))
    }

    /// The operation's parameter structs (pushed to `items`), one per
    /// location that has parameters, and for each its argument name and
    /// dropshot extractor (`::dropshot::Query<GetAQueryParams>`).
    fn param_structs(
        &mut self,
        operation: &Operation,
        items: &mut Vec<TokenStream>,
    ) -> Result<Vec<(Ident, TokenStream)>, GenError> {
        let mut extractors = Vec::new();
        for (location, suffix, extractor, arg) in [
            (Location::Path, "PathParams", quote!(::dropshot::Path), "path"),
            (Location::Query, "QueryParams", quote!(::dropshot::Query), "query"),
            (Location::Header, "HeaderParams", quote!(::dropshot::Header), "headers"),
        ] {
            let params: Vec<&Param> =
                operation.params.iter().filter(|p| p.location == location).collect();
            if params.is_empty() {
                continue;
            }
            let struct_ident = ident(&format!("{}{suffix}", operation.type_base));
            match (&operation.pagination, location) {
                (Some(pagination), Location::Query) => {
                    items.push(self.pagination_params(&struct_ident, operation, pagination)?);
                    extractors.push((ident(arg), quote!(#extractor<#struct_ident>)));
                    // What every page needs besides the scan: a second query extractor.
                    let others: Vec<&Param> = params
                        .iter()
                        .copied()
                        .filter(|p| pagination.others.contains(&p.name))
                        .collect();
                    if !others.is_empty() {
                        let others_ident =
                            ident(&format!("{}OtherQueryParams", operation.type_base));
                        items.push(self.params_struct(
                            &others_ident,
                            operation,
                            location,
                            &others,
                        )?);
                        extractors.push((ident("other_query"), quote!(#extractor<#others_ident>)));
                    }
                }
                _ => {
                    items.push(self.params_struct(&struct_ident, operation, location, &params)?);
                    extractors.push((ident(arg), quote!(#extractor<#struct_ident>)));
                }
            }
        }
        Ok(extractors)
    }

    /// A paginated operation's query (`x-dropshot-pagination`): dropshot's
    /// `PaginationParams` over a `<Op>ScanParams` struct of the query
    /// parameters other than `limit` and `page_token` (those the extension
    /// lists required), with a JSON value as the page selector (what the
    /// implementation puts in its page tokens is its own choice).
    fn pagination_params(
        &mut self,
        struct_ident: &Ident,
        operation: &Operation,
        pagination: &openapi_model::Pagination,
    ) -> Result<TokenStream, GenError> {
        let base = &operation.type_base;
        let scan: Vec<Param> = operation
            .params
            .iter()
            .filter(|p| {
                p.location == Location::Query
                    && !openapi_model::PAGINATION_PARAMS.contains(&p.name.as_str())
                    && !pagination.others.contains(&p.name)
            })
            .map(|p| Param { required: pagination.required.contains(&p.name), ..p.clone() })
            .collect();
        let scan: Vec<&Param> = scan.iter().collect();
        let scan_ident = ident(&format!("{base}ScanParams"));
        let selector_ident = ident(&format!("{base}PageSelector"));
        let scan_struct =
            self.params_struct_of(&scan_ident, operation, Location::Query, &scan, false)?;
        let doc = format!(
            " The query of `{}`, a paginated operation: the scan parameters of a first page, or a `page_token`, and a `limit`.",
            operation.operation_id
        );
        let selector_doc = format!(
            " What `{}`'s page tokens carry: any JSON value the implementation chooses (`ResultsPage::new` serializes it).",
            operation.operation_id
        );
        Ok(quote! {
            #scan_struct

            #[doc = #selector_doc]
            pub type #selector_ident = ::serde_json::Value;

            #[doc = #doc]
            pub type #struct_ident = ::dropshot::PaginationParams<#scan_ident, #selector_ident>;
        })
    }

    /// A websocket channel: its parameter structs and the `#[channel]` method.
    /// Its parameters use dropshot's extractors directly (a failure is
    /// dropshot's 400, before the upgrade: the handler runs after the 101),
    /// and it ends with the upgraded connection.
    fn channel(&mut self, operation: &Operation) -> Result<(TokenStream, TokenStream), GenError> {
        let mut items = Vec::new();
        let mut args = Vec::new();
        for (arg, extractor) in self.param_structs(operation, &mut items)? {
            args.push(quote!(#arg: #extractor));
        }
        let method_ident = ident(&operation.ident);
        let path = &operation.path;
        let operation_id = &operation.operation_id;
        let mut channel = vec![
            quote!(protocol = WEBSOCKETS),
            quote!(path = #path),
            quote!(operation_id = #operation_id),
        ];
        if !operation.tags.is_empty() {
            let tags = &operation.tags;
            channel.push(quote!(tags = [#(#tags),*]));
        }
        if operation.deprecated {
            channel.push(quote!(deprecated = true));
        }
        let docs = doc_lines(operation.summary.as_deref(), operation.description.as_deref());
        let method = quote! {
            #(#[doc = #docs])*
            #[channel { #(#channel),* }]
            async fn #method_ident(
                rqctx: ::dropshot::RequestContext<Self::Context>,
                #(#args,)*
                upgraded: ::dropshot::WebsocketConnection,
            ) -> ::dropshot::WebsocketChannelResult;
        };
        Ok((quote!(#(#items)*), method))
    }

    /// The operation's error type, and the marker of the schema it publishes
    /// (`None`: the crate's shared [`ApiError`]): `ApiError` when its error
    /// responses use the schema `ApiError` publishes, else the runtime's
    /// `ApiError` over a marker publishing its own (dropshot's error shape
    /// when it documents none).
    fn error_type(
        &mut self,
        operation: &Operation,
        primary: Option<&str>,
        items: &mut Vec<TokenStream>,
    ) -> Result<(TokenStream, Option<TokenStream>), GenError> {
        let primary_ref = primary.map(
            |name| serde_json::json!({ "$ref": format!("{}{name}", schema::SCHEMA_REF_PREFIX) }),
        );
        let error_ident = ident(&format!("{}Error", operation.type_base));
        let doc = format!(" The error type of `{}`.", operation.operation_id);
        let (schema_body, shape) = match &operation.error {
            ErrorBody::Dropshot if primary.is_none() => return Ok((quote!(ApiError), None)),
            ErrorBody::Schemas(schemas)
                if Some(schemas) == primary_ref.map(|r| vec![r]).as_ref() =>
            {
                return Ok((quote!(ApiError), None))
            }
            ErrorBody::Dropshot => {
                let schema = quote!(::dropshot_api_runtime::DropshotError);
                items.push(quote! {
                    #[doc = #doc]
                    pub type #error_ident = ::dropshot_api_runtime::ApiError<#schema>;
                });
                return Ok((quote!(#error_ident), Some(schema)));
            }
            ErrorBody::Schemas(schemas) => {
                let mut types = Vec::new();
                let pointer = format!("{}/responses", operation.pointer);
                for (index, schema) in schemas.iter().enumerate() {
                    let hint = if schemas.len() == 1 {
                        format!("{}ErrorBody", operation.type_base)
                    } else {
                        format!("{}ErrorBody{index}", operation.type_base)
                    };
                    types.push(self.schema_type(&pointer, schema, &hint)?);
                }
                let shape = match schemas.as_slice() {
                    [single] => self.error_shape(&pointer, single)?,
                    _ => quote!(::dropshot_api_runtime::ErrorShape::Message),
                };
                let name = format!("{}Error", operation.type_base);
                let body = if let [single] = types.as_slice() {
                    quote! {
                        fn schema_name() -> String { <#single as ::schemars::JsonSchema>::schema_name() }
                        fn json_schema(generator: &mut ::schemars::r#gen::SchemaGenerator) -> ::schemars::schema::Schema {
                            <#single as ::schemars::JsonSchema>::json_schema(generator)
                        }
                    }
                } else {
                    quote! {
                        fn schema_name() -> String { #name.to_string() }
                        fn json_schema(generator: &mut ::schemars::r#gen::SchemaGenerator) -> ::schemars::schema::Schema {
                            ::schemars::schema::Schema::Object(::schemars::schema::SchemaObject {
                                subschemas: Some(Box::new(::schemars::schema::SubschemaValidation {
                                    any_of: Some(vec![#(generator.subschema_for::<#types>()),*]),
                                    ..Default::default()
                                })),
                                ..Default::default()
                            })
                        }
                    }
                };
                (body, shape)
            }
        };
        let schema_ident = ident(&format!("{}ErrorSchema", operation.type_base));
        let schema_doc =
            format!(" The error schema of `{}` (a marker type).", operation.operation_id);
        items.push(quote! {
            #[doc = #schema_doc]
            #[derive(Debug)]
            pub enum #schema_ident {}

            impl ::schemars::JsonSchema for #schema_ident {
                #schema_body
            }

            impl ::dropshot_api_runtime::ErrorSchema for #schema_ident {
                const SHAPE: ::dropshot_api_runtime::ErrorShape = #shape;
            }

            #[doc = #doc]
            pub type #error_ident = ::dropshot_api_runtime::ApiError<#schema_ident>;
        });
        Ok((quote!(#error_ident), Some(quote!(#schema_ident))))
    }

    /// The crate's shared error type and the runtime's types over it: the
    /// marker of the error schema most operations share (dropshot's own when
    /// no operation documents one) and the aliases the trait and the
    /// implementation name (`ApiError`, `Reply`, `Deferred`, ...).
    fn support(&mut self, primary: Option<&str>) -> Result<TokenStream, GenError> {
        let marker = match primary {
            None => quote! {
                /// The error schema most operations publish: dropshot's own
                /// (`request_id`, `error_code`, `message`).
                pub type ApiErrorSchema = ::dropshot_api_runtime::DropshotError;
            },
            Some(name) => {
                let pointer = format!("#/components/schemas/{}", pointer_segment(name));
                let reference =
                    serde_json::json!({ "$ref": format!("{}{}", schema::SCHEMA_REF_PREFIX, name) });
                let body = self.schema_type(&pointer, &reference, name)?;
                let shape = self.error_shape(&pointer, &reference)?;
                let doc =
                    format!(" The error schema most operations publish: `{name}` (a marker type).");
                quote! {
                    #[doc = #doc]
                    #[derive(Debug)]
                    pub enum ApiErrorSchema {}

                    impl ::schemars::JsonSchema for ApiErrorSchema {
                        fn schema_name() -> String {
                            <#body as ::schemars::JsonSchema>::schema_name()
                        }

                        fn json_schema(generator: &mut ::schemars::r#gen::SchemaGenerator) -> ::schemars::schema::Schema {
                            <#body as ::schemars::JsonSchema>::json_schema(generator)
                        }
                    }

                    impl ::dropshot_api_runtime::ErrorSchema for ApiErrorSchema {
                        const SHAPE: ::dropshot_api_runtime::ErrorShape = #shape;
                    }
                }
            }
        };
        Ok(quote! {
            #marker

            /// The error most operations return (see `dropshot_api_runtime::ApiError`).
            pub type ApiError = ::dropshot_api_runtime::ApiError<ApiErrorSchema>;
            /// What an operation answers (see `dropshot_api_runtime::Reply`).
            pub type Reply<T> = ::dropshot_api_runtime::Reply<T, ApiErrorSchema>;
            /// A request part whose failure goes to the handler (see `dropshot_api_runtime::Deferred`).
            pub type Deferred<E> = ::dropshot_api_runtime::Deferred<E, ApiErrorSchema>;
            /// A body extractor whose failure goes to the handler (see `dropshot_api_runtime::DeferredBody`).
            pub type DeferredBody<E> = ::dropshot_api_runtime::DeferredBody<E, ApiErrorSchema>;
            /// A required JSON body, read when the handler asks (see `dropshot_api_runtime::JsonBody`).
            pub type JsonBody<T> = ::dropshot_api_runtime::JsonBody<T, ApiErrorSchema>;
            /// An optional JSON body, read when the handler asks (see `dropshot_api_runtime::OptionalJsonBody`).
            pub type OptionalJsonBody<T> = ::dropshot_api_runtime::OptionalJsonBody<T, ApiErrorSchema>;

            // Named by generated code (`#[serde(...)]` attributes, query parsing).
            #[allow(unused_imports)]
            use ::dropshot_api_runtime::{
                deserialize_non_null, deserialize_query_value, parse_query_value, serialize_header_value,
            };
        })
    }

    /// How an error of this schema is written by default: dropshot's shape
    /// for an object with `request_id` and `message` properties (what dropshot
    /// emits), else `{"message": ...}`.
    fn error_shape(&self, pointer: &str, schema: &Value) -> Result<TokenStream, GenError> {
        let resolved = self.resolve(pointer, schema)?;
        let properties = resolved.get("properties").and_then(Value::as_object);
        let dropshot =
            properties.is_some_and(|p| p.contains_key("request_id") && p.contains_key("message"));
        Ok(if dropshot {
            quote!(::dropshot_api_runtime::ErrorShape::Dropshot)
        } else {
            quote!(::dropshot_api_runtime::ErrorShape::Message)
        })
    }

    fn params_struct(
        &mut self,
        struct_ident: &Ident,
        operation: &Operation,
        location: Location,
        params: &[&Param],
    ) -> Result<TokenStream, GenError> {
        self.params_struct_of(
            struct_ident,
            operation,
            location,
            params,
            location == Location::Query,
        )
    }

    /// A parameter struct; with `pairs`, read from the query's key/value
    /// pairs (repeatable keys), else with serde's derive (dropshot's
    /// pagination reads scan parameters itself).
    fn params_struct_of(
        &mut self,
        struct_ident: &Ident,
        operation: &Operation,
        location: Location,
        params: &[&Param],
        pairs: bool,
    ) -> Result<TokenStream, GenError> {
        let base = operation.type_base.as_str();
        let mut fields = Vec::new();
        let mut parse_arms = Vec::new();
        let mut field_inits = Vec::new();
        let mut locals = Vec::new();
        let mut checks = Vec::new();
        let mut field_names = BTreeSet::new();
        for param in params {
            let schema_pointer = format!("{}/schema", param.pointer);
            let field = self.scalar_field(
                &schema_pointer,
                &param.schema,
                &param.ty,
                &format!("{base}{}", param.name.to_upper_camel_case()),
            )?;
            let field_ident = field_ident(&param.name);
            if !field_names.insert(field_ident.to_string()) {
                return Err(GenError::new(
                    &param.pointer,
                    format!(
                        "parameter `{}` maps to the same Rust field as another parameter: rename one",
                        param.name
                    ),
                )
                .construct("parameter name collision"));
            }
            // Locals of the generated `TryFrom` never collide with its own
            // names (`query_pairs`, `query_key`, `query_value`).
            let local = ident(&format!("field_{}", syn::ext::IdentExt::unraw(&field_ident)));
            let name = &param.name;
            let ty = &field.ty;
            let full_ty = if param.required { quote!(#ty) } else { quote!(Option<#ty>) };
            let doc = doc_text(param.description.as_deref());
            let mut validation = field.validation.clone();
            if let Some(array) = &field.array {
                let item_ty = &array.item_ty;
                let published =
                    if param.required { quote!(#item_ty) } else { quote!(Option<#item_ty>) };
                let published = published.to_string();
                validation.insert(0, quote!(with = #published));
            }
            let schemars_attr = if validation.is_empty() {
                quote!()
            } else {
                quote!(#[schemars(#(#validation),*)])
            };
            let serde_default = if param.required { quote!() } else { quote!(#[serde(default)]) };
            fields.push(quote! {
                #(#[doc = #doc])*
                #[serde(rename = #name)]
                #serde_default
                #schemars_attr
                pub #field_ident: #full_ty,
            });

            if pairs {
                let parse = |item_ty: &TokenStream| {
                    if field.parse_with_from_str {
                        quote!(parse_query_value::<#item_ty>(#name, &query_value)?)
                    } else {
                        quote!(deserialize_query_value::<#item_ty>(#name, &query_value)?)
                    }
                };
                if let Some(array) = &field.array {
                    let parsed = parse(&array.item_ty);
                    locals.push(quote!(let mut #local: Option<#ty> = None;));
                    parse_arms
                        .push(quote!(#name => #local.get_or_insert_with(Vec::new).push(#parsed),));
                    if let Some(min) = array.min_items {
                        let min = min as usize;
                        let message = format!("query parameter `{name}`: at least {min} values");
                        checks.push(quote! {
                            if #local.as_ref().is_some_and(|values| values.len() < #min) {
                                return Err(#message.to_string());
                            }
                        });
                    }
                    if let Some(max) = array.max_items {
                        let max = max as usize;
                        let message = format!("query parameter `{name}`: at most {max} values");
                        checks.push(quote! {
                            if #local.as_ref().is_some_and(|values| values.len() > #max) {
                                return Err(#message.to_string());
                            }
                        });
                    }
                } else {
                    let parsed = parse(ty);
                    locals.push(quote!(let mut #local: Option<#ty> = None;));
                    let duplicate = format!("query parameter `{name}` given more than once");
                    parse_arms.push(quote!(#name => {
                        if #local.is_some() {
                            return Err(#duplicate.to_string());
                        }
                        #local = Some(#parsed);
                    }));
                }
                if param.required {
                    let missing = format!("missing required query parameter `{name}`");
                    field_inits
                        .push(quote!(#field_ident: #local.ok_or_else(|| #missing.to_string())?,));
                } else {
                    field_inits.push(quote!(#field_ident: #local,));
                }
            } else if field.array.is_some() {
                return Err(GenError::new(
                    &schema_pointer,
                    "array parameters are only supported in the query",
                )
                .construct("array parameter outside the query"));
            }
        }
        let doc = format!(
            " The {} parameters of `{}`.",
            match location {
                Location::Path => "path",
                Location::Query if pairs => "query",
                Location::Query => "scan (first page's query)",
                Location::Header => "header",
            },
            operation.operation_id
        );
        if !pairs {
            return Ok(quote! {
                #[doc = #doc]
                #[derive(Debug, Clone, PartialEq, ::serde::Deserialize, ::serde::Serialize, ::schemars::JsonSchema)]
                pub struct #struct_ident {
                    #(#fields)*
                }
            });
        }
        // Query strings are read as key/value pairs so that array parameters
        // can repeat their key (`?sort=a&sort=b`), which serde's derive rejects.
        Ok(quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq, ::serde::Deserialize, ::serde::Serialize, ::schemars::JsonSchema)]
            #[serde(try_from = "Vec<(String, String)>")]
            pub struct #struct_ident {
                #(#fields)*
            }

            impl TryFrom<Vec<(String, String)>> for #struct_ident {
                type Error = String;

                #[allow(clippy::single_match)] // when there is a single query parameter
                fn try_from(query_pairs: Vec<(String, String)>) -> Result<Self, String> {
                    #(#locals)*
                    for (query_key, query_value) in query_pairs {
                        match query_key.as_str() {
                            #(#parse_arms)*
                            _ => {}
                        }
                    }
                    #(#checks)*
                    Ok(Self { #(#field_inits)* })
                }
            }
        })
    }

    /// Emits the success response type and returns the type the trait method answers with.
    fn success(
        &mut self,
        operation: &Operation,
        items: &mut Vec<TokenStream>,
        warnings: &mut Vec<Warning>,
    ) -> Result<TokenStream, GenError> {
        let base = operation.type_base.as_str();
        let success = &operation.success;
        let status = success.status;
        match status {
            0 => {
                // Only a `default` response: a free-form response, as dropshot publishes it.
                if let SuccessBody::Json(_) = &success.body {
                    warnings.push(Warning {
                        operation: operation.reference(),
                        effect: Effect::Partial,
                        error: GenError::new(
                            &success.pointer,
                            "the `default` response is the only one: it is served as a free-form response (`http::Response<dropshot::Body>`), without its JSON schema",
                        )
                        .construct("JSON default response as the only response"),
                    });
                }
                return Ok(quote!(::http::Response<::dropshot::Body>));
            }
            302 => return Ok(quote!(::dropshot::HttpResponseFound)),
            303 => return Ok(quote!(::dropshot::HttpResponseSeeOther)),
            307 => return Ok(quote!(::dropshot::HttpResponseTemporaryRedirect)),
            _ => {}
        }
        let status_ident = ident(status_constant(status).ok_or_else(|| {
            GenError::new(
                &success.pointer,
                format!("success status {status} is not a standard 2xx status"),
            )
            .construct(format!("status {status}"))
        })?);
        let multi = !success.other_statuses.is_empty();
        let coded =
            ident(&if multi { format!("{base}Published") } else { format!("{base}Success") });
        let description = &success.description;
        let doc = format!(" The {status} response of `{}`: {description}", operation.operation_id);
        let mut body_ty = None;
        match &success.body {
            SuccessBody::Json(schema) => {
                let pointer = format!("{}/content", success.pointer);
                // dropshot's `ResultsPage` (a paginated operation's page) derives neither `Clone` nor `PartialEq`.
                let (json_ty, derives) = match operation
                    .pagination
                    .as_ref()
                    .and_then(|p| p.item.as_ref())
                {
                    Some(item) => {
                        let reference = serde_json::json!({ "$ref": format!("{}{item}", schema::SCHEMA_REF_PREFIX) });
                        let item_ty = self.schema_type(&pointer, &reference, item)?;
                        (quote!(::dropshot::ResultsPage<#item_ty>), quote!(Debug))
                    }
                    None => (
                        self.schema_type(&pointer, schema, &format!("{base}Response"))?,
                        quote!(Debug, Clone, PartialEq),
                    ),
                };
                body_ty = Some(json_ty.clone());
                let body_ty = json_ty;
                items.push(quote! {
                    #[doc = #doc]
                    #[derive(#derives)]
                    pub struct #coded(pub #body_ty);

                    impl ::dropshot::HttpCodedResponse for #coded {
                        type Body = #body_ty;
                        const STATUS_CODE: ::http::StatusCode = ::http::StatusCode::#status_ident;
                        const DESCRIPTION: &'static str = #description;
                    }

                    impl From<#coded> for Result<::http::Response<::dropshot::Body>, ::dropshot::HttpError> {
                        fn from(response: #coded) -> Self {
                            <#coded as ::dropshot::HttpCodedResponse>::for_object(response.0)
                        }
                    }
                });
            }
            SuccessBody::Raw(media_type) => {
                // dropshot's `FreeformBody`: the status and headers are
                // published, the body as `*/*` with any schema; the response
                // carries the spec's media type.
                if media_type != "*/*" {
                    warnings.push(Warning {
                        operation: operation.reference(),
                        effect: Effect::Partial,
                        error: GenError::new(
                            format!("{}/content", success.pointer),
                            format!("the {status} `{media_type}` body is published as `*/*` (dropshot's `FreeformBody`; the response is sent as `{media_type}`)"),
                        )
                        .construct(format!("{} response body", openapi_model::media_essence(media_type))),
                    });
                }
                let sent = if media_type == "*/*" {
                    "application/octet-stream"
                } else {
                    media_type.as_str()
                };
                items.push(quote! {
                    #[doc = #doc]
                    #[derive(Debug)]
                    pub struct #coded(pub ::dropshot::Body);

                    impl ::dropshot::HttpCodedResponse for #coded {
                        type Body = ::dropshot::FreeformBody;
                        const STATUS_CODE: ::http::StatusCode = ::http::StatusCode::#status_ident;
                        const DESCRIPTION: &'static str = #description;
                    }

                    impl From<#coded> for Result<::http::Response<::dropshot::Body>, ::dropshot::HttpError> {
                        fn from(response: #coded) -> Self {
                            Ok(::http::Response::builder()
                                .status(::http::StatusCode::#status_ident)
                                .header(::http::header::CONTENT_TYPE, #sent)
                                .body(response.0)?)
                        }
                    }
                });
            }
            SuccessBody::None => {
                items.push(quote! {
                    #[doc = #doc]
                    #[derive(Debug, Clone, Copy, PartialEq, Default)]
                    pub struct #coded;

                    impl ::dropshot::HttpCodedResponse for #coded {
                        type Body = <::dropshot::HttpResponseDeleted as ::dropshot::HttpCodedResponse>::Body;
                        const STATUS_CODE: ::http::StatusCode = ::http::StatusCode::#status_ident;
                        const DESCRIPTION: &'static str = #description;
                    }

                    impl From<#coded> for Result<::http::Response<::dropshot::Body>, ::dropshot::HttpError> {
                        fn from(_: #coded) -> Self {
                            Ok(::http::Response::builder()
                                .status(::http::StatusCode::#status_ident)
                                .body(::dropshot::Body::empty())?)
                        }
                    }
                });
            }
        }
        if multi {
            // Several 2xx statuses with one body: the handler picks the status,
            // the trait publishes the first (`#coded`).
            let wrapper = ident(&format!("{base}Success"));
            let statuses: Vec<String> = std::iter::once(status)
                .chain(success.other_statuses.iter().copied())
                .map(|s| s.to_string())
                .collect();
            let wrapper_doc = format!(
                " What `{}` answers on success: `status` is one of {} (only {status} is published).",
                operation.operation_id,
                statuses.join(", ")
            );
            let (field, to_result) = match &body_ty {
                Some(body_ty) => (
                    quote!(pub body: #body_ty,),
                    quote! {
                        let mut response = <#coded as ::dropshot::HttpCodedResponse>::for_object(self.body)?;
                        *response.status_mut() = self.status;
                        Ok(response)
                    },
                ),
                None => (
                    quote!(),
                    quote! {
                        Ok(::http::Response::builder().status(self.status).body(::dropshot::Body::empty())?)
                    },
                ),
            };
            items.push(quote! {
                #[doc = #wrapper_doc]
                #[derive(Debug, Clone, PartialEq)]
                pub struct #wrapper {
                    pub status: ::http::StatusCode,
                    #field
                }

                impl ::dropshot::HttpResponse for #wrapper {
                    fn to_result(self) -> Result<::http::Response<::dropshot::Body>, ::dropshot::HttpError> {
                        #to_result
                    }

                    fn response_metadata() -> ::dropshot::ApiEndpointResponse {
                        <#coded as ::dropshot::HttpResponse>::response_metadata()
                    }

                    fn status_code(&self) -> ::http::StatusCode {
                        self.status
                    }
                }
            });
            return Ok(quote!(#wrapper));
        }
        if success.headers.is_empty() {
            return Ok(quote!(#coded));
        }
        let headers_ident = ident(&format!("{base}ResponseHeaders"));
        let mut fields = Vec::new();
        let mut names = BTreeSet::new();
        for header in &success.headers {
            let field = self.scalar_field(
                &format!("{}/schema", header.pointer),
                &header.schema,
                &header.ty,
                &format!("{base}{}", header.name.to_upper_camel_case()),
            )?;
            let field_ident = field_ident(&header.name);
            if !names.insert(field_ident.to_string()) {
                return Err(GenError::new(
                    &header.pointer,
                    format!(
                        "response header `{}` maps to the same Rust field as another",
                        header.name
                    ),
                ));
            }
            let name = &header.name;
            let ty = &field.ty;
            let doc = doc_text(header.description.as_deref());
            let validation = &field.validation;
            let schemars_attr = if validation.is_empty() {
                quote!()
            } else {
                quote!(#[schemars(#(#validation),*)])
            };
            // dropshot serializes response headers with a strings-only serializer.
            let serialize_with = if field.is_string {
                quote!()
            } else {
                quote!(#[serde(serialize_with = "serialize_header_value")])
            };
            if header.required {
                fields.push(quote! {
                    #(#[doc = #doc])*
                    #[serde(rename = #name)]
                    #serialize_with
                    #schemars_attr
                    pub #field_ident: #ty,
                });
            } else {
                fields.push(quote! {
                    #(#[doc = #doc])*
                    #[serde(rename = #name, default, skip_serializing_if = "Option::is_none")]
                    #serialize_with
                    #schemars_attr
                    pub #field_ident: Option<#ty>,
                });
            }
        }
        let headers_doc =
            format!(" The response headers of `{}`'s {status} response.", operation.operation_id);
        let response_ident = ident(&format!("{base}Response"));
        let response_doc = format!(
            " What `{}` answers on success: the body and its headers.",
            operation.operation_id
        );
        items.push(quote! {
            #[doc = #headers_doc]
            #[derive(Debug, Clone, PartialEq, ::serde::Deserialize, ::serde::Serialize, ::schemars::JsonSchema)]
            pub struct #headers_ident {
                #(#fields)*
            }

            #[doc = #response_doc]
            pub type #response_ident = ::dropshot::HttpResponseHeaders<#coded, #headers_ident>;
        });
        Ok(quote!(#response_ident))
    }
}

/// The Rust type of a primitive.
fn scalar_tokens(scalar: Scalar) -> TokenStream {
    match scalar {
        Scalar::Uuid => quote!(::uuid::Uuid),
        Scalar::DateTime => quote!(::chrono::DateTime<::chrono::Utc>),
        Scalar::String => quote!(String),
        Scalar::I8 => quote!(i8),
        Scalar::I16 => quote!(i16),
        Scalar::I32 => quote!(i32),
        Scalar::I64 => quote!(i64),
        Scalar::U8 => quote!(u8),
        Scalar::U16 => quote!(u16),
        Scalar::U32 => quote!(u32),
        Scalar::U64 => quote!(u64),
        Scalar::F32 => quote!(f32),
        Scalar::F64 => quote!(f64),
        Scalar::Bool => quote!(bool),
    }
}

/// A parameter's or header's Rust type, resolved.
struct ScalarField {
    /// The field's type (`Vec<T>` for an array).
    ty: TokenStream,
    /// schemars validation attributes (`length(...)`, `range(...)`, `regex(...)`).
    validation: Vec<TokenStream>,
    /// Integers, numbers and booleans (or arrays of them) are parsed with
    /// `FromStr`; the rest are deserialized.
    parse_with_from_str: bool,
    /// Set for a (query) array.
    array: Option<ArrayField>,
    /// A plain `String` (no format), which dropshot serializes as a header as is.
    is_string: bool,
}

/// What an array parameter adds to its item.
struct ArrayField {
    item_ty: TokenStream,
    min_items: Option<u64>,
    max_items: Option<u64>,
}

/// typify refuses an enum whose values make the same variant name (`add`,
/// `Add`): points the error at that enum, wherever it is (`$ref`s followed).
fn blame_enum(
    error: GenError,
    pointer: &str,
    value: &Value,
    schemas: &BTreeMap<String, Value>,
) -> GenError {
    let Some(list) = error
        .message
        .split_once("Failed to make unique variant names for [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list.to_string())
    else {
        return error;
    };
    let first = list.split(',').next().unwrap_or_default().trim().to_string();
    fn find(
        value: &Value,
        at: String,
        first: &str,
        schemas: &BTreeMap<String, Value>,
        depth: usize,
    ) -> Option<String> {
        if depth > 16 {
            return None;
        }
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(values)) = map.get("enum") {
                    if values.iter().any(|v| v.as_str() == Some(first)) {
                        return Some(at);
                    }
                }
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(schema::SCHEMA_REF_PREFIX))
                {
                    let target = schemas.get(name)?;
                    let at = format!("{}{}", schema::SCHEMA_REF_PREFIX, pointer_segment(name));
                    return find(target, at, first, schemas, depth + 1);
                }
                map.iter().find_map(|(key, child)| {
                    find(child, format!("{at}/{}", pointer_segment(key)), first, schemas, depth + 1)
                })
            }
            Value::Array(items) => items.iter().enumerate().find_map(|(index, child)| {
                find(child, format!("{at}/{index}"), first, schemas, depth + 1)
            }),
            _ => None,
        }
    }
    match find(value, pointer.to_string(), &first, schemas, 0) {
        Some(at) => GenError::new(
            at,
            format!("an enum whose values [{list}] make the same Rust variant names (typify cannot generate it): make the values differ by more than case and punctuation"),
        )
        .construct("enum values that differ only in case or punctuation"),
        None => error,
    }
}

/// The names of the component schemas a converted schema refers to.
fn collect_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(schema::SCHEMA_REF_PREFIX))
            {
                out.insert(name.to_string());
            }
            map.values().for_each(|child| collect_refs(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| collect_refs(child, out)),
        _ => {}
    }
}

fn scalar_validation(schema: &Value) -> Vec<TokenStream> {
    let mut out = Vec::new();
    let min_length = schema.get("minLength").and_then(Value::as_u64);
    let max_length = schema.get("maxLength").and_then(Value::as_u64);
    match (min_length, max_length) {
        (Some(min), Some(max)) => out.push(quote!(length(min = #min, max = #max))),
        (Some(min), None) => out.push(quote!(length(min = #min))),
        (None, Some(max)) => out.push(quote!(length(max = #max))),
        (None, None) => {}
    }
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    match (number("minimum"), number("maximum")) {
        (Some(min), Some(max)) => out.push(quote!(range(min = #min, max = #max))),
        (Some(min), None) => out.push(quote!(range(min = #min))),
        (None, Some(max)) => out.push(quote!(range(max = #max))),
        (None, None) => {}
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        out.push(quote!(regex(pattern = #pattern)));
    }
    out
}

/// Doc-comment lines for an optional description (each line gets the usual leading space).
fn doc_text(description: Option<&str>) -> Vec<String> {
    description
        .map(|text| text.lines().map(|line| format!(" {line}")).collect())
        .unwrap_or_default()
}

fn doc_lines(summary: Option<&str>, description: Option<&str>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(summary) = summary {
        lines.push(format!(" {summary}"));
    }
    if let Some(description) = description {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(description.lines().map(|line| format!(" {line}")));
    }
    lines
}

/// The `http::StatusCode` constant of a 2xx status.
fn status_constant(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "CREATED",
        202 => "ACCEPTED",
        203 => "NON_AUTHORITATIVE_INFORMATION",
        204 => "NO_CONTENT",
        205 => "RESET_CONTENT",
        206 => "PARTIAL_CONTENT",
        207 => "MULTI_STATUS",
        208 => "ALREADY_REPORTED",
        226 => "IM_USED",
        _ => return None,
    })
}

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// A Rust field name for a parameter or header name (`X-Servitly-Tenant` -> `x_servitly_tenant`).
fn field_ident(name: &str) -> Ident {
    let mut snake = name.to_snake_case();
    if snake.is_empty() || snake.starts_with(|c: char| c.is_ascii_digit()) {
        snake = format!("p_{snake}");
    }
    if syn::parse_str::<Ident>(&snake).is_err() {
        snake.push('_');
    }
    ident(&snake)
}

/// serde reads `null` into an `Option` field as "absent", but an optional
/// property that is not `nullable` in the spec must not accept `null`. Such
/// fields of a component's struct get
/// `#[serde(default, deserialize_with = "super::deserialize_non_null")]`
/// (a support function: the value itself, never `null`). Properties whose
/// schema may be null (`nullable`, a nullable `$ref`, a composition with a
/// nullable member, a `null` type or enum value) keep serde's reading.
fn refuse_null_where_not_nullable(
    item: &mut syn::ItemStruct,
    schema: &Value,
    schemas: &BTreeMap<String, Value>,
) -> Result<(), GenError> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let syn::Fields::Named(fields) = &mut item.fields else { return Ok(()) };
    for field in &mut fields.named {
        let serde = serde_field_options(&field.attrs).map_err(|error| {
            GenError::new("#/components/schemas", format!("typify field attributes: {error}"))
        })?;
        let json_name = match serde.rename {
            Some(rename) => rename,
            None => match &field.ident {
                Some(ident) => syn::ext::IdentExt::unraw(ident).to_string(),
                None => continue,
            },
        };
        let optional_field = matches!(&field.ty, syn::Type::Path(path)
            if path.path.segments.last().is_some_and(|last| last.ident == "Option"));
        let Some(property) = properties.get(&json_name) else { continue };
        if required.contains(json_name.as_str())
            || !optional_field
            || serde.custom
            || may_be_null(property, schemas, 0)
        {
            continue;
        }
        let with = "super::deserialize_non_null";
        field.attrs.push(if serde.default {
            syn::parse_quote!(#[serde(deserialize_with = #with)])
        } else {
            syn::parse_quote!(#[serde(default, deserialize_with = #with)])
        });
    }
    Ok(())
}

/// What typify's `#[serde(...)]` attributes on a field say.
#[derive(Default)]
struct SerdeFieldOptions {
    rename: Option<String>,
    default: bool,
    /// `deserialize_with`, `with` or `flatten`: leave the field alone.
    custom: bool,
}

fn serde_field_options(attrs: &[syn::Attribute]) -> syn::Result<SerdeFieldOptions> {
    let mut options = SerdeFieldOptions::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let value = if meta.input.peek(syn::Token![=]) {
                Some(meta.value()?.parse::<syn::Lit>()?)
            } else {
                None
            };
            match (name.as_str(), value) {
                ("rename", Some(syn::Lit::Str(rename))) => options.rename = Some(rename.value()),
                ("default", _) => options.default = true,
                ("deserialize_with" | "with" | "flatten", _) => options.custom = true,
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(options)
}

/// Whether a property's (OpenAPI 3.0) schema admits `null`.
fn may_be_null(schema: &Value, schemas: &BTreeMap<String, Value>, depth: usize) -> bool {
    if depth > 32 {
        return true;
    }
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return true;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target =
            reference.strip_prefix("#/components/schemas/").and_then(|name| schemas.get(name));
        return target.is_none_or(|target| may_be_null(target, schemas, depth + 1));
    }
    let null_type = match schema.get("type") {
        Some(Value::String(kind)) => kind == "null",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "null"),
        _ => false,
    };
    let null_enum = schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| values.iter().any(Value::is_null));
    let nullable_member = ["allOf", "anyOf", "oneOf"].iter().any(|keyword| {
        schema.get(*keyword).and_then(Value::as_array).is_some_and(|members| {
            members.iter().any(|member| may_be_null(member, schemas, depth + 1))
        })
    });
    null_type || null_enum || nullable_member
}
