//! Input limits. They keep one cell well under ScyllaDB's large-cell warning threshold (1 MiB)
//! and a whole conversation small enough to load in one request.

use crate::error::{StoreError, StoreResult};

/// A session title: 1 to 200 characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// A human prompt: 1 byte to 32 KiB of UTF-8.
pub const MAX_PROMPT_BYTES: usize = 32 * 1024;
/// One agent step's content: 1 byte to 256 KiB of UTF-8 (tool output can be long).
pub const MAX_STEP_CONTENT_BYTES: usize = 256 * 1024;
/// Ids supplied by callers: 1 to 128 bytes, no control characters.
pub const MAX_ID_BYTES: usize = 128;
/// The most sessions one page of `recent_sessions` returns.
pub const MAX_PAGE_SIZE: usize = 100;

/// Checks a text field: not blank, at most `max_bytes`, no NUL character. ScyllaDB stores a NUL
/// in text, while PostgreSQL's `text` refuses it: a write one store accepted would then never copy
/// to the other, so both refuse it up front, with this error.
pub fn check_text(field: &'static str, value: &str, max_bytes: usize) -> StoreResult<()> {
    if value.trim().is_empty() {
        return Err(StoreError::InvalidInput { field, reason: "must not be empty".into() });
    }
    if value.contains('\0') {
        return Err(StoreError::InvalidInput {
            field,
            reason: "must not contain a NUL character (PostgreSQL text cannot hold one)".into(),
        });
    }
    if value.len() > max_bytes {
        return Err(StoreError::InvalidInput {
            field,
            reason: format!("is {} bytes; the limit is {max_bytes}", value.len()),
        });
    }
    Ok(())
}

/// Checks a session title: not blank, at most [`MAX_TITLE_CHARS`].
pub fn check_title(title: &str) -> StoreResult<()> {
    check_text("title", title, MAX_TITLE_CHARS * 4)?;
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(StoreError::InvalidInput {
            field: "title",
            reason: format!("is {chars} characters; the limit is {MAX_TITLE_CHARS}"),
        });
    }
    Ok(())
}

/// The prefix of the `turns_by_parent` partition that holds a session's root turns (see
/// [`crate::root_parent_key`]); no id may begin with it, or a turn's children would share a
/// partition with some session's roots.
pub const RESERVED_ID_PREFIX: &str = "root:";

/// Checks an id: not blank, at most [`MAX_ID_BYTES`], no control characters, not beginning with
/// [`RESERVED_ID_PREFIX`].
pub fn check_id(field: &'static str, id: &str) -> StoreResult<()> {
    check_text(field, id, MAX_ID_BYTES)?;
    if id.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput { field, reason: "must not contain control characters".into() });
    }
    if id.starts_with(RESERVED_ID_PREFIX) {
        return Err(StoreError::InvalidInput {
            field,
            reason: format!("must not begin with `{RESERVED_ID_PREFIX}`, which names a session's root turns"),
        });
    }
    Ok(())
}

/// Checks a page size of `recent_sessions`: 1 to [`MAX_PAGE_SIZE`].
pub fn check_page_size(page_size: usize) -> StoreResult<()> {
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(StoreError::InvalidInput {
            field: "page_size",
            reason: format!("must be 1 to {MAX_PAGE_SIZE}, not {page_size}"),
        });
    }
    Ok(())
}

/// Checks a step index: 0 or more.
pub fn check_step_idx(idx: i32) -> StoreResult<()> {
    if idx < 0 {
        return Err(StoreError::InvalidInput { field: "idx", reason: format!("must be 0 or more, not {idx}") });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_a_nul_is_refused_as_postgresql_would() {
        let error = check_text("prompt", "before\0after", MAX_PROMPT_BYTES).unwrap_err();
        assert!(error.to_string().contains("NUL"), "{error}");
        assert!(check_text("prompt", "tab\tand newline\n are fine", MAX_PROMPT_BYTES).is_ok());
    }

    #[test]
    fn ids_may_not_take_the_root_partition_prefix() {
        let error = check_id("turn_uid", "root:session-1").unwrap_err();
        assert!(error.to_string().contains("root:"), "{error}");
        assert!(check_id("turn_uid", "rooted:1").is_ok());
        assert!(check_id("turn_uid", "a-root:1").is_ok());
    }
}
