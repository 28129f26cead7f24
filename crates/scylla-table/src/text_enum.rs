//! Support for `#[derive(TextEnum)]`.

/// Text read from a column that names no variant of a `TextEnum`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{found}` is not a {enum_name}: expected one of {expected}")]
pub struct UnknownVariant {
    pub enum_name: &'static str,
    pub found: String,
    pub expected: &'static str,
}

impl UnknownVariant {
    #[doc(hidden)]
    pub fn new(enum_name: &'static str, found: &str, expected: &'static str) -> UnknownVariant {
        UnknownVariant { enum_name, found: found.to_owned(), expected }
    }
}
