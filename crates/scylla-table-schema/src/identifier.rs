//! CQL identifiers: which names are allowed, and when they must be quoted.

/// Keyspace, table and type names are limited to this many characters by Cassandra and ScyllaDB.
pub const MAX_NAME_LENGTH: usize = 48;

/// Words the CQL grammar reserves; a column with one of these names must be quoted.
/// This is the union of Cassandra 5.0's and ScyllaDB's reserved keywords.
const RESERVED_WORDS: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "between",
    "by",
    "columnfamily",
    "create",
    "default",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "mbean",
    "mbeans",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// Why a name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("the name is empty")]
    Empty,
    #[error("`{name}` is {length} characters long; CQL allows at most {MAX_NAME_LENGTH}")]
    TooLong { name: String, length: usize },
    #[error("`{name}` must start with an ASCII letter")]
    BadStart { name: String },
    #[error("`{name}` contains `{character}`; only ASCII letters, digits and `_` are allowed")]
    BadCharacter { name: String, character: char },
}

/// Checks a keyspace, table or user-defined type name: 1 to 48 ASCII letters, digits or
/// underscores, starting with a letter. CQL accepts nothing else for these, quoted or not.
pub fn validate_name(name: &str) -> Result<(), IdentifierError> {
    validate_column_name(name)?;
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(IdentifierError::TooLong { name: name.to_owned(), length: name.chars().count() });
    }
    Ok(())
}

/// Checks a column name. CQL would take any quoted string, but names that need quoting in every
/// query are a trap, so columns follow the same alphabet as tables, without the length limit.
pub fn validate_column_name(name: &str) -> Result<(), IdentifierError> {
    let mut chars = name.chars();
    let first = chars.next().ok_or(IdentifierError::Empty)?;
    if !first.is_ascii_alphabetic() {
        return Err(IdentifierError::BadStart { name: name.to_owned() });
    }
    if let Some(character) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(IdentifierError::BadCharacter { name: name.to_owned(), character });
    }
    Ok(())
}

/// True if `name` is a reserved CQL keyword, in any case.
pub fn is_reserved_word(name: &str) -> bool {
    RESERVED_WORDS.iter().any(|word| word.eq_ignore_ascii_case(name))
}

/// Writes `name` as CQL reads it back unchanged: quoted when it is a reserved word, has an
/// uppercase letter (CQL folds unquoted names to lowercase) or is not a plain identifier.
///
/// ```
/// use scylla_table_schema::quote_if_needed;
///
/// assert_eq!(quote_if_needed("created_at"), "created_at");
/// assert_eq!(quote_if_needed("order"), "\"order\"");
/// assert_eq!(quote_if_needed("userId"), "\"userId\"");
/// ```
pub fn quote_if_needed(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !is_reserved_word(name) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_cql_alphabet() {
        assert_eq!(validate_name("sessions_by_user"), Ok(()));
        assert_eq!(validate_name(""), Err(IdentifierError::Empty));
        assert!(matches!(validate_name("1st"), Err(IdentifierError::BadStart { .. })));
        assert!(matches!(validate_name("my-table"), Err(IdentifierError::BadCharacter { character: '-', .. })));
        assert!(matches!(validate_name(&"a".repeat(49)), Err(IdentifierError::TooLong { length: 49, .. })));
        assert_eq!(validate_column_name(&"a".repeat(49)), Ok(()));
    }

    #[test]
    fn reserved_and_mixed_case_names_are_quoted() {
        assert_eq!(quote_if_needed("select"), "\"select\"");
        assert_eq!(quote_if_needed("SELECT"), "\"SELECT\"");
        assert_eq!(quote_if_needed("turn_uid"), "turn_uid");
        assert_eq!(quote_if_needed("Title"), "\"Title\"");
        assert_eq!(quote_if_needed("text"), "text");
    }
}
