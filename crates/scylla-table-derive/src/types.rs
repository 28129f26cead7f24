//! Maps a field's Rust type to its CQL type, by the type's syntax.
//!
//! A derive sees only tokens, so the mapping goes by the last path segment (`String`,
//! `chrono::DateTime<Utc>`, `Vec<T>`). A type it does not know, such as an enum stored as text, a
//! UDT or a type alias, needs `#[table(cql_type = "...")]`; the driver then checks the Rust type
//! against the column when a statement is prepared. Where that CQL type names a UDT, the Rust type
//! in its place must derive `UserType` ([`user_type_uses`]), which gives the type's definition.

use scylla_table_schema::{CqlType, NativeType};
use syn::{GenericArgument, PathArguments, Type};

/// What the Rust syntax says a CQL type may be.
pub enum Shape {
    /// A scalar that fits these native types; the first is the default.
    Native(&'static [NativeType]),
    List(Box<Shape>),
    Set(Box<Shape>),
    Map(Box<Shape>, Box<Shape>),
    Tuple(Vec<Shape>),
    /// A type this derive does not know. Only an explicit `cql_type` says what it is.
    Unknown,
}

/// The result of reading a field's type.
pub struct FieldType<'a> {
    /// True when the field is `Option<T>`: a nullable column.
    pub optional: bool,
    /// The type inside `Option`, or the field's type.
    pub inner: &'a Type,
    pub shape: Shape,
}

/// A type this derive knows cannot be stored, with the reason and the fix.
pub struct Unsupported<'a> {
    pub ty: &'a Type,
    pub message: String,
}

pub fn read_field_type(ty: &Type) -> Result<FieldType<'_>, Unsupported<'_>> {
    if let Some(inner) = single_generic(ty, "Option") {
        return Ok(FieldType { optional: true, inner, shape: shape_of(inner, Nesting::InOption)? });
    }
    Ok(FieldType { optional: false, inner: ty, shape: shape_of(ty, Nesting::Top)? })
}

#[derive(Clone, Copy, PartialEq)]
enum Nesting {
    Top,
    InOption,
    InCollection,
}

fn shape_of(ty: &Type, nesting: Nesting) -> Result<Shape, Unsupported<'_>> {
    let unsupported = |message: &str| Err(Unsupported { ty, message: message.to_owned() });
    match ty {
        Type::Group(group) => shape_of(&group.elem, nesting),
        Type::Paren(paren) => shape_of(&paren.elem, nesting),
        Type::Tuple(tuple) if tuple.elems.is_empty() => unsupported("the unit type `()` cannot be stored"),
        Type::Tuple(tuple) => Ok(Shape::Tuple(
            tuple.elems.iter().map(|elem| shape_of(elem, Nesting::InCollection)).collect::<Result<_, _>>()?,
        )),
        Type::Reference(_) => unsupported(
            "borrowed fields are not supported: a table row owns its data; use an owned type such as `String` or `Vec<u8>`",
        ),
        Type::Array(_) | Type::Slice(_) => unsupported("arrays and slices are not supported; use `Vec<T>` for a list"),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else { return Ok(Shape::Unknown) };
            let name = last.ident.to_string();
            if name == "Option" {
                return match nesting {
                    Nesting::InOption => unsupported("`Option<Option<T>>` is not supported: a column is either null or a value"),
                    _ => unsupported("`Option` is only allowed as a field's outer type: CQL collections and tuples cannot hold null elements"),
                };
            }
            if name == "Vec" {
                let element = single_generic(ty, "Vec").ok_or(Unsupported {
                    ty,
                    message: "`Vec` needs one type argument".to_owned(),
                })?;
                if is_named(element, "u8") {
                    return Ok(Shape::Native(&[NativeType::Blob]));
                }
                return Ok(Shape::List(Box::new(shape_of(element, Nesting::InCollection)?)));
            }
            if name == "HashSet" || name == "BTreeSet" {
                let element = generic_types(ty).into_iter().next().ok_or(Unsupported {
                    ty,
                    message: format!("`{name}` needs a type argument"),
                })?;
                return Ok(Shape::Set(Box::new(shape_of(element, Nesting::InCollection)?)));
            }
            if name == "HashMap" || name == "BTreeMap" {
                let arguments = generic_types(ty);
                if arguments.len() < 2 {
                    return unsupported(&format!("`{name}` needs a key and a value type"));
                }
                return Ok(Shape::Map(
                    Box::new(shape_of(arguments[0], Nesting::InCollection)?),
                    Box::new(shape_of(arguments[1], Nesting::InCollection)?),
                ));
            }
            if let Some(natives) = native_types(&name) {
                return Ok(Shape::Native(natives));
            }
            match unsupported_scalar(&name) {
                Some(message) => Err(Unsupported { ty, message }),
                None => Ok(Shape::Unknown),
            }
        }
        _ => unsupported("this kind of type cannot be stored in a column"),
    }
}

/// The native types a scalar Rust type serializes to, by its type name.
fn native_types(name: &str) -> Option<&'static [NativeType]> {
    use NativeType::*;
    let natives: &'static [NativeType] = match name {
        "String" => &[Text, Ascii],
        "i8" => &[Tinyint],
        "i16" => &[Smallint],
        "i32" => &[Int],
        "i64" => &[Bigint],
        "bool" => &[Boolean],
        "f32" => &[Float],
        "f64" => &[Double],
        "DateTime" | "CqlTimestamp" => &[Timestamp],
        "NaiveDate" | "CqlDate" => &[Date],
        "NaiveTime" | "CqlTime" => &[Time],
        "Uuid" => &[Uuid],
        "CqlTimeuuid" => &[Timeuuid],
        "Bytes" => &[Blob],
        "IpAddr" => &[Inet],
        "CqlDuration" => &[Duration],
        "CqlDecimal" | "BigDecimal" => &[Decimal],
        "CqlVarint" | "BigInt" => &[Varint],
        "Counter" => &[Counter],
        _ => return None,
    };
    Some(natives)
}

/// Scalars that look storable but have no CQL type, with what to use instead.
fn unsupported_scalar(name: &str) -> Option<String> {
    let hint = match name {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            "CQL has no unsigned integers; use i8, i16, i32 or i64 (tinyint, smallint, int, bigint), or CqlVarint for varint"
        }
        "i128" | "isize" => "CQL has no such integer; use i64 (bigint) or CqlVarint (varint)",
        "char" => "CQL has no character type; use String (text)",
        "str" => "use String (text)",
        "Ipv4Addr" | "Ipv6Addr" => "use std::net::IpAddr (inet)",
        "NaiveDateTime" => "a timestamp needs a time zone; use chrono::DateTime<Utc> (timestamp)",
        "SystemTime" | "Instant" | "Duration" => {
            "use chrono::DateTime<Utc> for a timestamp, or CqlDuration for a duration"
        }
        "Rc" | "Arc" | "Box" | "Cow" | "RefCell" | "Cell" => "a column holds a plain value; store the inner type",
        _ => return None,
    };
    Some(format!("unsupported field type `{name}`: {hint}"))
}

/// The CQL type the Rust syntax defaults to, if it names only known types.
pub fn default_cql_type(shape: &Shape) -> Option<CqlType> {
    Some(match shape {
        Shape::Native(natives) => CqlType::Native(natives[0]),
        Shape::List(element) => CqlType::list(default_cql_type(element)?),
        Shape::Set(element) => CqlType::set(default_cql_type(element)?),
        Shape::Map(key, value) => CqlType::map(default_cql_type(key)?, default_cql_type(value)?),
        Shape::Tuple(elements) => CqlType::tuple(elements.iter().map(default_cql_type).collect::<Option<_>>()?),
        Shape::Unknown => return None,
    })
}

/// True if an explicit CQL type can hold the Rust type: same structure, and each scalar among the
/// types the Rust one serializes to. Unknown types fit anything.
pub fn fits(shape: &Shape, cql_type: &CqlType) -> bool {
    match (shape, cql_type) {
        (Shape::Unknown, _) => true,
        (Shape::Native(natives), CqlType::Native(native)) => natives.contains(native),
        (Shape::List(element), CqlType::List { element: cql, .. }) => fits(element, cql),
        (Shape::Set(element), CqlType::Set { element: cql, .. }) => fits(element, cql),
        (Shape::Map(key, value), CqlType::Map { key: cql_key, value: cql_value, .. }) => {
            fits(key, cql_key) && fits(value, cql_value)
        }
        (Shape::Tuple(elements), CqlType::Tuple(cql)) => {
            elements.len() == cql.len() && elements.iter().zip(cql).all(|(element, cql)| fits(element, cql))
        }
        _ => false,
    }
}

/// What a shape fits, for an error message: `text or ascii`, `list<...>`.
pub fn describe(shape: &Shape) -> String {
    match shape {
        Shape::Native(natives) => natives.iter().map(|native| native.keyword()).collect::<Vec<_>>().join(" or "),
        Shape::List(element) => format!("list<{}>", describe(element)),
        Shape::Set(element) => format!("set<{}>", describe(element)),
        Shape::Map(key, value) => format!("map<{}, {}>", describe(key), describe(value)),
        Shape::Tuple(elements) => format!("tuple<{}>", elements.iter().map(describe).collect::<Vec<_>>().join(", ")),
        Shape::Unknown => "any type".to_owned(),
    }
}

/// The Rust types that stand where `cql_type` names a user-defined type, with the names it gives
/// them: `Address` for `frozen<address>`, and for `list<frozen<address>>` the `T` of `Vec<T>`.
/// `ty` is the field's type inside any `Option`.
pub fn user_type_uses<'a>(ty: &'a Type, cql_type: &CqlType) -> Vec<(&'a Type, String)> {
    let ty = ungroup(ty);
    match cql_type {
        CqlType::Native(_) => Vec::new(),
        CqlType::Udt { name, .. } => vec![(ty, name.clone())],
        CqlType::List { element, .. } | CqlType::Set { element, .. } => match generic_types(ty).first() {
            Some(inner) => user_type_uses(inner, element),
            None => Vec::new(),
        },
        CqlType::Map { key, value, .. } => match generic_types(ty).as_slice() {
            [key_ty, value_ty, ..] => {
                let mut uses = user_type_uses(key_ty, key);
                uses.extend(user_type_uses(value_ty, value));
                uses
            }
            _ => Vec::new(),
        },
        CqlType::Tuple(elements) => match ty {
            Type::Tuple(tuple) => {
                tuple.elems.iter().zip(elements).flat_map(|(elem, cql)| user_type_uses(elem, cql)).collect()
            }
            _ => Vec::new(),
        },
    }
}

fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        _ => ty,
    }
}

fn is_named(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident(name))
}

fn generic_types(ty: &Type) -> Vec<&Type> {
    let Type::Path(path) = ty else { return Vec::new() };
    let Some(last) = path.path.segments.last() else { return Vec::new() };
    let PathArguments::AngleBracketed(arguments) = &last.arguments else { return Vec::new() };
    arguments
        .args
        .iter()
        .filter_map(|argument| match argument {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect()
}

/// The `T` of `Wrapper<T>`, if `ty` is that wrapper with exactly one type argument.
pub fn single_generic<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    match generic_types(ty).as_slice() {
        [inner] => Some(inner),
        _ => None,
    }
}
