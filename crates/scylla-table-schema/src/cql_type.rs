//! CQL data types: how a column's type is modelled, written and parsed.

use std::fmt;
use std::str::FromStr;

use crate::identifier::{quote_if_needed, validate_name, IdentifierError};

/// A CQL scalar ("native") type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NativeType {
    Ascii,
    Bigint,
    Blob,
    Boolean,
    Counter,
    Date,
    Decimal,
    Double,
    Duration,
    Float,
    Inet,
    Int,
    Smallint,
    Text,
    Time,
    Timestamp,
    Timeuuid,
    Tinyint,
    Uuid,
    Varint,
}

impl NativeType {
    /// Every native type, in alphabetical order.
    pub const ALL: [NativeType; 20] = [
        NativeType::Ascii,
        NativeType::Bigint,
        NativeType::Blob,
        NativeType::Boolean,
        NativeType::Counter,
        NativeType::Date,
        NativeType::Decimal,
        NativeType::Double,
        NativeType::Duration,
        NativeType::Float,
        NativeType::Inet,
        NativeType::Int,
        NativeType::Smallint,
        NativeType::Text,
        NativeType::Time,
        NativeType::Timestamp,
        NativeType::Timeuuid,
        NativeType::Tinyint,
        NativeType::Uuid,
        NativeType::Varint,
    ];

    /// The type's CQL keyword, lowercase.
    pub const fn keyword(self) -> &'static str {
        match self {
            NativeType::Ascii => "ascii",
            NativeType::Bigint => "bigint",
            NativeType::Blob => "blob",
            NativeType::Boolean => "boolean",
            NativeType::Counter => "counter",
            NativeType::Date => "date",
            NativeType::Decimal => "decimal",
            NativeType::Double => "double",
            NativeType::Duration => "duration",
            NativeType::Float => "float",
            NativeType::Inet => "inet",
            NativeType::Int => "int",
            NativeType::Smallint => "smallint",
            NativeType::Text => "text",
            NativeType::Time => "time",
            NativeType::Timestamp => "timestamp",
            NativeType::Timeuuid => "timeuuid",
            NativeType::Tinyint => "tinyint",
            NativeType::Uuid => "uuid",
            NativeType::Varint => "varint",
        }
    }

    fn from_keyword(word: &str) -> Option<NativeType> {
        if word.eq_ignore_ascii_case("varchar") {
            return Some(NativeType::Text);
        }
        NativeType::ALL.into_iter().find(|native| native.keyword().eq_ignore_ascii_case(word))
    }
}

/// The type of a column, as CQL knows it.
///
/// `Display` writes the type the way `CREATE TABLE` takes it, and `FromStr` reads both that form and
/// the form `system_schema.columns.type` reports, so a derived type and a live one can be compared.
///
/// ```
/// use scylla_table_schema::CqlType;
///
/// let ty: CqlType = "map<text, frozen<list<int>>>".parse().unwrap();
/// assert_eq!(ty.to_string(), "map<text, frozen<list<int>>>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CqlType {
    Native(NativeType),
    List {
        element: Box<CqlType>,
        frozen: bool,
    },
    Set {
        element: Box<CqlType>,
        frozen: bool,
    },
    Map {
        key: Box<CqlType>,
        value: Box<CqlType>,
        frozen: bool,
    },
    /// Tuples are always frozen in CQL.
    Tuple(Vec<CqlType>),
    /// A user-defined type, by its name in the table's keyspace.
    Udt {
        name: String,
        frozen: bool,
    },
}

impl CqlType {
    pub const fn native(native: NativeType) -> CqlType {
        CqlType::Native(native)
    }

    pub fn list(element: CqlType) -> CqlType {
        CqlType::List { element: Box::new(element.nested()), frozen: false }
    }

    pub fn set(element: CqlType) -> CqlType {
        CqlType::Set { element: Box::new(element.nested()), frozen: false }
    }

    pub fn map(key: CqlType, value: CqlType) -> CqlType {
        CqlType::Map { key: Box::new(key.nested()), value: Box::new(value.nested()), frozen: false }
    }

    pub fn tuple(elements: Vec<CqlType>) -> CqlType {
        CqlType::Tuple(elements.into_iter().map(CqlType::nested).collect())
    }

    pub fn udt(name: impl Into<String>) -> CqlType {
        CqlType::Udt { name: name.into(), frozen: true }
    }

    /// The same type, frozen. Only collections and UDTs can be unfrozen; for other types this is a no-op.
    pub fn frozen(self) -> CqlType {
        self.with_frozen(true)
    }

    fn with_frozen(self, to: bool) -> CqlType {
        match self {
            CqlType::List { element, .. } => CqlType::List { element, frozen: to },
            CqlType::Set { element, .. } => CqlType::Set { element, frozen: to },
            CqlType::Map { key, value, .. } => CqlType::Map { key, value, frozen: to },
            CqlType::Udt { name, .. } => CqlType::Udt { name, frozen: to },
            other => other,
        }
    }

    /// CQL requires a collection or UDT nested inside another type to be frozen.
    fn nested(self) -> CqlType {
        self.frozen()
    }

    /// True for a list, set or map that is not frozen: its elements are stored one cell each.
    pub fn is_unfrozen_collection(&self) -> bool {
        matches!(
            self,
            CqlType::List { frozen: false, .. }
                | CqlType::Set { frozen: false, .. }
                | CqlType::Map { frozen: false, .. }
        )
    }

    /// True for a collection or UDT that is not frozen. Such a column cannot be part of a primary key.
    pub fn is_multi_cell(&self) -> bool {
        self.is_unfrozen_collection() || matches!(self, CqlType::Udt { frozen: false, .. })
    }

    pub fn is_counter(&self) -> bool {
        matches!(self, CqlType::Native(NativeType::Counter))
    }

    /// True if a counter appears anywhere but at the top: CQL forbids that.
    pub fn contains_nested_counter(&self) -> bool {
        self.children().iter().any(|child| child.is_counter() || child.contains_nested_counter())
    }

    /// True for a list anywhere in the type. Appending to a list is not idempotent.
    pub fn is_list(&self) -> bool {
        matches!(self, CqlType::List { .. })
    }

    fn children(&self) -> Vec<&CqlType> {
        match self {
            CqlType::Native(_) | CqlType::Udt { .. } => Vec::new(),
            CqlType::List { element, .. } | CqlType::Set { element, .. } => vec![element],
            CqlType::Map { key, value, .. } => vec![key, value],
            CqlType::Tuple(elements) => elements.iter().collect(),
        }
    }

    /// Every UDT name this type refers to, outermost first.
    pub fn udt_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        if let CqlType::Udt { name, .. } = self {
            names.push(name.as_str());
        }
        for child in self.children() {
            names.extend(child.udt_names());
        }
        names
    }
}

impl fmt::Display for CqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = |f: &mut fmt::Formatter<'_>, frozen: bool| if frozen { f.write_str("frozen<") } else { Ok(()) };
        let close = |f: &mut fmt::Formatter<'_>, frozen: bool| if frozen { f.write_str(">") } else { Ok(()) };
        match self {
            CqlType::Native(native) => f.write_str(native.keyword()),
            CqlType::List { element, frozen } => {
                open(f, *frozen)?;
                write!(f, "list<{element}>")?;
                close(f, *frozen)
            }
            CqlType::Set { element, frozen } => {
                open(f, *frozen)?;
                write!(f, "set<{element}>")?;
                close(f, *frozen)
            }
            CqlType::Map { key, value, frozen } => {
                open(f, *frozen)?;
                write!(f, "map<{key}, {value}>")?;
                close(f, *frozen)
            }
            CqlType::Tuple(elements) => {
                f.write_str("frozen<tuple<")?;
                for (index, element) in elements.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{element}")?;
                }
                f.write_str(">>")
            }
            CqlType::Udt { name, frozen } => {
                open(f, *frozen)?;
                f.write_str(&quote_if_needed(name))?;
                close(f, *frozen)
            }
        }
    }
}

/// A CQL type string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CqlTypeError {
    #[error("empty CQL type")]
    Empty,
    #[error("unexpected `{found}` in CQL type `{input}`, expected {expected}")]
    Unexpected { input: String, found: String, expected: &'static str },
    #[error("`{name}` takes {expected} type argument(s), found {found} in `{input}`")]
    WrongArity { input: String, name: &'static str, expected: usize, found: usize },
    #[error("counter cannot be nested inside `{input}`: a counter column must have the type `counter` itself")]
    NestedCounter { input: String },
    #[error("invalid user-defined type name in `{input}`: {source}")]
    UdtName { input: String, source: IdentifierError },
}

impl FromStr for CqlType {
    type Err = CqlTypeError;

    fn from_str(input: &str) -> Result<CqlType, CqlTypeError> {
        let tokens = tokenize(input);
        if tokens.is_empty() {
            return Err(CqlTypeError::Empty);
        }
        let mut parser = TypeParser { input, tokens, position: 0 };
        let parsed = parser.parse_type()?;
        if let Some(extra) = parser.peek() {
            return Err(parser.unexpected(extra.to_owned(), "the end of the type"));
        }
        if parsed.contains_nested_counter() {
            return Err(CqlTypeError::NestedCounter { input: input.to_owned() });
        }
        Ok(parsed)
    }
}

fn tokenize(input: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if matches!(c, '<' | '>' | ',') {
            tokens.push(c.to_string());
            chars.next();
        } else if c == '"' {
            // A quoted UDT name keeps its case and may contain `""` for a quote.
            let mut word = String::from('"');
            chars.next();
            while let Some(c) = chars.next() {
                word.push(c);
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        word.push('"');
                    } else {
                        break;
                    }
                }
            }
            tokens.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, '<' | '>' | ',' | '"') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        }
    }
    tokens
}

struct TypeParser<'a> {
    input: &'a str,
    tokens: Vec<String>,
    position: usize,
}

impl TypeParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.position).map(String::as_str)
    }

    fn next_token(&mut self, expected: &'static str) -> Result<String, CqlTypeError> {
        match self.tokens.get(self.position) {
            Some(token) => {
                self.position += 1;
                Ok(token.clone())
            }
            None => Err(self.unexpected("end of input".to_owned(), expected)),
        }
    }

    fn expect(&mut self, symbol: &'static str, expected: &'static str) -> Result<(), CqlTypeError> {
        let token = self.next_token(expected)?;
        if token == symbol {
            Ok(())
        } else {
            Err(self.unexpected(token, expected))
        }
    }

    fn unexpected(&self, found: String, expected: &'static str) -> CqlTypeError {
        CqlTypeError::Unexpected { input: self.input.to_owned(), found, expected }
    }

    fn type_arguments(&mut self, name: &'static str, arity: Option<usize>) -> Result<Vec<CqlType>, CqlTypeError> {
        self.expect("<", "`<`")?;
        let mut arguments = vec![self.parse_type()?];
        loop {
            match self.next_token("`,` or `>`")?.as_str() {
                "," => arguments.push(self.parse_type()?),
                ">" => break,
                other => return Err(self.unexpected(other.to_owned(), "`,` or `>`")),
            }
        }
        if let Some(expected) = arity {
            if arguments.len() != expected {
                return Err(CqlTypeError::WrongArity {
                    input: self.input.to_owned(),
                    name,
                    expected,
                    found: arguments.len(),
                });
            }
        }
        Ok(arguments)
    }

    fn parse_type(&mut self) -> Result<CqlType, CqlTypeError> {
        let word = self.next_token("a CQL type")?;
        let lowercase = word.to_ascii_lowercase();
        let parsed = match lowercase.as_str() {
            "frozen" => {
                let mut inner = self.type_arguments("frozen", Some(1))?;
                inner.remove(0).frozen()
            }
            "list" => CqlType::list(self.type_arguments("list", Some(1))?.remove(0)),
            "set" => CqlType::set(self.type_arguments("set", Some(1))?.remove(0)),
            "map" => {
                let mut arguments = self.type_arguments("map", Some(2))?;
                let value = arguments.remove(1);
                CqlType::map(arguments.remove(0), value)
            }
            "tuple" => CqlType::tuple(self.type_arguments("tuple", None)?),
            "<" | ">" | "," => return Err(self.unexpected(word, "a CQL type")),
            _ => match NativeType::from_keyword(&word) {
                Some(native) if !word.starts_with('"') => CqlType::Native(native),
                _ => {
                    let name = unquote(&word);
                    // system_schema may report a UDT qualified by its keyspace.
                    let name = name.rsplit('.').next().unwrap_or_default().to_owned();
                    validate_name(&name)
                        .map_err(|source| CqlTypeError::UdtName { input: self.input.to_owned(), source })?;
                    CqlType::Udt { name, frozen: false }
                }
            },
        };
        Ok(parsed)
    }
}

fn unquote(word: &str) -> String {
    match word.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => word.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        text.parse::<CqlType>().unwrap().to_string()
    }

    #[test]
    fn every_native_type_roundtrips() {
        for native in NativeType::ALL {
            assert_eq!(roundtrip(native.keyword()), native.keyword());
        }
        assert_eq!(roundtrip("VARCHAR"), "text");
    }

    #[test]
    fn nested_collections_are_frozen() {
        assert_eq!(roundtrip("list<list<int>>"), "list<frozen<list<int>>>");
        assert_eq!(roundtrip("map<text, set<uuid>>"), "map<text, frozen<set<uuid>>>");
        assert_eq!(roundtrip("frozen<map<text, int>>"), "frozen<map<text, int>>");
        assert_eq!(roundtrip("tuple<int, list<text>>"), "frozen<tuple<int, frozen<list<text>>>>");
        assert_eq!(roundtrip("frozen<tuple<int, text>>"), "frozen<tuple<int, text>>");
    }

    #[test]
    fn udts_keep_their_name_and_drop_a_keyspace_prefix() {
        assert_eq!(roundtrip("frozen<address>"), "frozen<address>");
        assert_eq!(roundtrip("address"), "address");
        assert_eq!(roundtrip("frozen<\"Address\">"), "frozen<\"Address\">");
        assert_eq!(roundtrip("list<frozen<chat.address>>"), "list<frozen<address>>");
    }

    #[test]
    fn malformed_types_are_errors() {
        assert_eq!("".parse::<CqlType>(), Err(CqlTypeError::Empty));
        assert!(matches!("list<int".parse::<CqlType>(), Err(CqlTypeError::Unexpected { .. })));
        assert!(matches!("map<int>".parse::<CqlType>(), Err(CqlTypeError::WrongArity { expected: 2, found: 1, .. })));
        assert!(matches!("list<counter>".parse::<CqlType>(), Err(CqlTypeError::NestedCounter { .. })));
        assert!(matches!("int int".parse::<CqlType>(), Err(CqlTypeError::Unexpected { .. })));
        assert!(matches!("my-type".parse::<CqlType>(), Err(CqlTypeError::UdtName { .. })));
    }
}
