//! Reads `#[table(...)]` attributes on the struct and its fields.
//!
//! Every value keeps the syntax it came from, so a later check can put its error under that token.

use proc_macro2::Span;
use scylla_table_schema::{ClusteringOrder, CqlType};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitInt, LitStr, Path};

use crate::ctxt::Ctxt;

/// The one attribute namespace this derive reads.
pub const NAMESPACE: &str = "table";

/// A value together with the span of the tokens that produced it.
#[derive(Clone)]
pub struct Located<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Located<T> {
    fn new(value: T, span: Span) -> Self {
        Located { value, span }
    }
}

/// Options on the struct itself.
#[derive(Default)]
pub struct TableAttrs {
    pub name: Option<Located<String>>,
    pub keyspace: Option<Located<String>>,
    pub crate_path: Option<Path>,
    pub default_time_to_live: Option<u32>,
    pub gc_grace_seconds: Option<u32>,
    pub comment: Option<String>,
    pub compaction: Option<Located<CompactionAttr>>,
}

/// Options on a `UserType` struct.
#[derive(Default)]
pub struct TypeAttrs {
    pub name: Option<Located<String>>,
    pub crate_path: Option<Path>,
}

#[derive(Clone)]
pub struct CompactionAttr {
    pub class: String,
    pub options: Vec<(String, String)>,
}

/// Options on one field.
#[derive(Default)]
pub struct FieldAttrs {
    pub partition_key: Option<Span>,
    pub clustering: Option<Span>,
    pub order: Option<Located<ClusteringOrder>>,
    pub position: Option<Located<u32>>,
    pub is_static: Option<Span>,
    pub rename: Option<Located<String>>,
    pub cql_type: Option<Located<CqlType>>,
    pub frozen: Option<Span>,
    pub skip: Option<Span>,
}

/// Sets `slot` once; a second occurrence is an error under the repeated key.
fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, value: T, key: &syn::Path) {
    if slot.is_some() {
        cx.error_spanned_by(key, format!("duplicate table attribute `{}`", path_name(key)));
    } else {
        *slot = Some(value);
    }
}

fn path_name(path: &syn::Path) -> String {
    path.segments.iter().map(|segment| segment.ident.to_string()).collect::<Vec<_>>().join("::")
}

/// Steps over the value of an unknown key, so the keys after it are still read and checked.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.input.parse::<syn::Token![=]>()?;
        while !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
            meta.input.parse::<proc_macro2::TokenTree>()?;
        }
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

fn our_attributes(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident(NAMESPACE))
}

impl TableAttrs {
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> TableAttrs {
        let mut parsed = TableAttrs::default();
        for attr in our_attributes(attrs) {
            let result = attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("name") {
                    // #[table(name = "sessions_by_user")]
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.name, Located::new(lit.value(), lit.span()), path);
                } else if path.is_ident("keyspace") {
                    // #[table(keyspace = "chat")]
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.keyspace, Located::new(lit.value(), lit.span()), path);
                } else if path.is_ident("crate") {
                    // #[table(crate = my_reexport::scylla_table)]
                    let crate_path: Path = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.crate_path, crate_path, path);
                } else if path.is_ident("default_time_to_live") {
                    // #[table(default_time_to_live = 86400)]
                    let lit: LitInt = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.default_time_to_live, lit.base10_parse()?, path);
                } else if path.is_ident("gc_grace_seconds") {
                    // #[table(gc_grace_seconds = 864000)]
                    let lit: LitInt = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.gc_grace_seconds, lit.base10_parse()?, path);
                } else if path.is_ident("comment") {
                    // #[table(comment = "A user's sessions, newest first")]
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.comment, lit.value(), path);
                } else if path.is_ident("compaction") {
                    let span = path.span();
                    let compaction = if meta.input.peek(syn::Token![=]) {
                        // #[table(compaction = "LeveledCompactionStrategy")]
                        let lit: LitStr = meta.value()?.parse()?;
                        CompactionAttr { class: lit.value(), options: Vec::new() }
                    } else {
                        // #[table(compaction(class = "TimeWindowCompactionStrategy", compaction_window_size = "1"))]
                        let mut class = None;
                        let mut options = Vec::new();
                        meta.parse_nested_meta(|option| {
                            let key = option
                                .path
                                .get_ident()
                                .ok_or_else(|| option.error("expected a compaction option name"))?
                                .to_string();
                            let value: LitStr = option.value()?.parse()?;
                            if key == "class" {
                                class = Some(value.value());
                            } else {
                                options.push((key, value.value()));
                            }
                            Ok(())
                        })?;
                        let class =
                            class.ok_or_else(|| syn::Error::new(span, "`compaction(...)` needs `class = \"...\"`"))?;
                        CompactionAttr { class, options }
                    };
                    set_once(cx, &mut parsed.compaction, Located::new(compaction, span), path);
                } else {
                    cx.error_spanned_by(path, format!("unknown table attribute `{}`", path_name(path)));
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        parsed
    }
}

impl TypeAttrs {
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> TypeAttrs {
        let mut parsed = TypeAttrs::default();
        for attr in our_attributes(attrs) {
            let result = attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("name") {
                    // #[table(name = "address")]
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.name, Located::new(lit.value(), lit.span()), path);
                } else if path.is_ident("crate") {
                    // #[table(crate = my_reexport::scylla_table)]
                    let crate_path: Path = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.crate_path, crate_path, path);
                } else {
                    cx.error_spanned_by(
                        path,
                        format!(
                            "unknown user type attribute `{}`: a type takes `name` and `crate`, and lives in \
                             the keyspace of the table that uses it",
                            path_name(path)
                        ),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        parsed
    }
}

impl FieldAttrs {
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
        let mut parsed = FieldAttrs::default();
        for attr in our_attributes(attrs) {
            let result = attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                let span = path.span();
                if path.is_ident("partition_key") {
                    // #[table(partition_key)]
                    set_once(cx, &mut parsed.partition_key, span, path);
                } else if path.is_ident("clustering") {
                    // #[table(clustering)]
                    set_once(cx, &mut parsed.clustering, span, path);
                } else if path.is_ident("order") {
                    // #[table(order = "desc")]
                    let lit: LitStr = meta.value()?.parse()?;
                    let order = match lit.value().to_ascii_lowercase().as_str() {
                        "asc" => ClusteringOrder::Asc,
                        "desc" => ClusteringOrder::Desc,
                        other => {
                            cx.error_spanned_by(
                                &lit,
                                format!("unknown clustering order `{other}`: expected \"asc\" or \"desc\""),
                            );
                            return Ok(());
                        }
                    };
                    set_once(cx, &mut parsed.order, Located::new(order, lit.span()), path);
                } else if path.is_ident("position") {
                    // #[table(position = 0)]
                    let lit: LitInt = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.position, Located::new(lit.base10_parse()?, lit.span()), path);
                } else if path.is_ident("static") {
                    // #[table(static)]
                    set_once(cx, &mut parsed.is_static, span, path);
                } else if path.is_ident("rename") {
                    // #[table(rename = "column_name")]
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut parsed.rename, Located::new(lit.value(), lit.span()), path);
                } else if path.is_ident("cql_type") {
                    // #[table(cql_type = "timeuuid")]
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.value().parse::<CqlType>() {
                        Ok(cql_type) => set_once(cx, &mut parsed.cql_type, Located::new(cql_type, lit.span()), path),
                        Err(error) => cx.error_spanned_by(&lit, format!("invalid CQL type: {error}")),
                    }
                } else if path.is_ident("frozen") {
                    // #[table(frozen)]
                    set_once(cx, &mut parsed.frozen, span, path);
                } else if path.is_ident("skip") {
                    // #[table(skip)]
                    set_once(cx, &mut parsed.skip, span, path);
                } else {
                    cx.error_spanned_by(path, format!("unknown field attribute `{}`", path_name(path)));
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        parsed
    }
}

/// The snake_case form of a Rust type name, the default table name.
pub fn snake_case(ident: &Ident) -> String {
    let name = ident.to_string();
    let mut snake = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let previous_is_lower = index > 0 && (chars[index - 1].is_lowercase() || chars[index - 1].is_ascii_digit());
            let next_is_lower = chars.get(index + 1).is_some_and(|next| next.is_lowercase());
            if index > 0 && (previous_is_lower || (next_is_lower && chars[index - 1].is_uppercase())) {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}
