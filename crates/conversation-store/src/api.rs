//! [`ConversationApi`]: the platform's conversation operations, once, for every store.
//!
//! The ScyllaDB store ([`ConversationStore`]), the relational store and the migration's
//! dual-writing store all implement it, so application code written against the trait does not
//! change from one migration phase to the next. Every implementation enforces the same rules and
//! returns the same [`StoreError`]s for the same calls; a shared conformance suite checks that.

use crate::conversation::Conversation;
use crate::cursor::SessionCursor;
use crate::cursor::SessionPage;
use crate::error::StoreResult;
use crate::store::ConversationStore;
use crate::tables::Session;
use crate::tables::{StepByTurn, TurnByParent, TurnBySession};

/// The platform's operations, written once: each line is one operation with its documentation,
/// its kind and its signature. `read` operations change nothing; `write` operations change the
/// session that their second argument names (every operation takes `account_uid, session_uid`
/// first, but `create_session`); `create` makes a session, whose id is in the answer.
///
/// - `conversation_api!(trait)` declares [`ConversationApi`] (in this module).
/// - `conversation_api!(impl Store => route)` implements it for `Store` by handing each operation
///   to the macro `route` as `route!(kind self.operation(arguments...))`. A store that wraps
///   others (the migration's `DualWriteStore` and `MigratingStore`) says once, per kind, what
///   it adds, instead of restating every signature; [`ConversationStore`] delegates to its own
///   methods this way.
#[macro_export]
macro_rules! conversation_api {
    (@expand [trait] $($(#[$doc:meta])* $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        /// The conversation platform's operations. Every method takes the caller's `account_uid`;
        /// a session of another account is [`StoreError::NotFound`](crate::StoreError::NotFound),
        /// exactly like a missing one.
        ///
        /// ```no_run
        /// use conversation_store::{ConversationApi, StoreResult};
        ///
        /// // Application code names the trait, not a store, so any phase's store fits.
        /// async fn ask(store: &impl ConversationApi, account: &str, prompt: &str) -> StoreResult<String> {
        ///     let session = store.create_session(account, "New chat").await?;
        ///     let turn = store.append_human_turn(account, &session.session_uid, None, prompt, None).await?;
        ///     Ok(turn.turn_uid)
        /// }
        /// ```
        pub trait ConversationApi: Send + Sync {
            $(
                $(#[$doc])*
                fn $name(&self, $($arg: $ty),*) -> impl ::std::future::Future<Output = StoreResult<$out>> + Send;
            )*
        }
    };
    (@expand [impl $store:ty => $route:ident] $($(#[$doc:meta])* $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        const _: () = {
            #[allow(unused_imports)]
            use $crate::{
                Conversation, Session, SessionCursor, SessionPage, StepByTurn, StoreResult, TurnByParent, TurnBySession,
            };
            impl $crate::ConversationApi for $store {
                $(
                    async fn $name(&self, $($arg: $ty),*) -> StoreResult<$out> {
                        $route!($kind self.$name($($arg),*))
                    }
                )*
            }
        };
    };
    ($($mode:tt)*) => {
        $crate::conversation_api! { @expand [$($mode)*]
            /// Starts a session with a new id.
            create fn create_session(account_uid: &str, title: &str) -> Session;
            /// Starts a session with an id the caller chose. Repeating the call returns the same
            /// session; the id in use by another account is a conflict.
            write fn create_session_with_id(account_uid: &str, session_uid: &str, title: &str) -> Session;
            /// The session, if `account_uid` owns it. Soft-deleted sessions are returned too.
            read fn session(account_uid: &str, session_uid: &str) -> Session;
            /// Gives the session a new title.
            write fn rename_session(account_uid: &str, session_uid: &str, title: &str) -> ();
            /// Hides the session from `recent_sessions` and from loading, keeping its data.
            write fn delete_session(account_uid: &str, session_uid: &str) -> ();
            /// Undoes `delete_session`.
            write fn restore_session(account_uid: &str, session_uid: &str) -> ();
            /// The account's visible sessions, newest first (ties by `session_uid`), `page_size`
            /// at a time.
            read fn recent_sessions(account_uid: &str, page_size: usize, after: Option<&SessionCursor>) -> SessionPage;
            /// Appends a human turn under an agent turn, or as a root turn when `parent` is
            /// `None`. The new turn becomes its parent's active child. `turn_uid` makes a retry
            /// safe.
            write fn append_human_turn(
                account_uid: &str,
                session_uid: &str,
                parent: Option<&str>,
                prompt: &str,
                turn_uid: Option<&str>
            ) -> TurnBySession;
            /// Appends an agent turn answering the human turn `parent`.
            write fn append_agent_turn(
                account_uid: &str,
                session_uid: &str,
                parent: &str,
                turn_uid: Option<&str>
            ) -> TurnBySession;
            /// A new answer to the same prompt: a sibling of `agent_turn`.
            write fn regenerate(
                account_uid: &str,
                session_uid: &str,
                agent_turn: &str,
                turn_uid: Option<&str>
            ) -> TurnBySession;
            /// A changed prompt: a sibling of `human_turn`.
            write fn edit(
                account_uid: &str,
                session_uid: &str,
                human_turn: &str,
                prompt: &str,
                turn_uid: Option<&str>
            ) -> TurnBySession;
            /// Makes `child` the active child of `parent` (of the session's root level when
            /// `None`).
            write fn set_active_child(account_uid: &str, session_uid: &str, parent: Option<&str>, child: &str) -> ();
            /// Likes (`Some(true)`), dislikes (`Some(false)`) or clears (`None`) an agent turn's
            /// feedback.
            write fn set_liked(account_uid: &str, session_uid: &str, agent_turn: &str, liked: Option<bool>) -> ();
            /// Appends step `idx` of an agent turn; step `idx - 1` must exist.
            write fn append_step(
                account_uid: &str,
                session_uid: &str,
                turn_uid: &str,
                idx: i32,
                tpe: i32,
                content: &str
            ) -> StepByTurn;
            /// Every turn in order with its steps, as a tree with the active path.
            read fn load_conversation(account_uid: &str, session_uid: &str) -> Conversation;
            /// The children of `parent` (the session's root turns when `None`), oldest first.
            read fn children(account_uid: &str, session_uid: &str, parent: Option<&str>) -> Vec<TurnByParent>;
        }
    };
}

conversation_api!(trait);

/// [`ConversationStore`]'s operations are its own methods.
macro_rules! own_methods {
    ($kind:ident $store:ident.$operation:ident($($arg:expr),*)) => {
        ConversationStore::$operation($store, $($arg),*).await
    };
}

conversation_api!(impl ConversationStore => own_methods);
