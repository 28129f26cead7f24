//! Support for `#[derive(TextEnum)]`.

/// Text read from a column that names no variant of a `TextEnum`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{found}` is not a {enum_name}: expected one of {expected}")]
pub struct UnknownVariant {
    /// The Rust enum's name.
    pub enum_name: &'static str,
    /// The text the column held.
    pub found: String,
    /// The texts of its variants, comma-separated.
    pub expected: &'static str,
}

impl UnknownVariant {
    #[doc(hidden)]
    pub fn new(enum_name: &'static str, found: &str, expected: &'static str) -> UnknownVariant {
        UnknownVariant { enum_name, found: found.to_owned(), expected }
    }
}
