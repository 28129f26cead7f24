//! `ConversationStore`: the handle the application uses. Sessions and access control live here;
//! turns, steps and loading are in their own files.

use scylla_table::{ColumnOf, ConsistencyLevels, Database, InsertOutcome, Replication, Settable, Table};

use crate::change::Changed;
use crate::clock::{new_id, now_millis};
use crate::cursor::{SessionCursor, SessionPage};
use crate::error::{StoreError, StoreResult};
use crate::limits::{check_id, check_page_size, check_title};
use crate::tables::{
    all_tables, sessions_by_user, PgOutboxEntry, PgOutboxSlot, Session, SessionByUser, SessionByUserPrimaryKey,
    SessionOwner, SessionOwnerPrimaryKey, StepBySession, StepByTurn, TurnByParent, TurnBySession, TurnLocation,
};

/// Typed handles on every table of the store, for code that reads or writes them directly (bulk
/// loads, benchmarks, repair jobs).
#[derive(Clone)]
pub struct StoreTables {
    pub sessions: Table<SessionByUser>,
    pub turns: Table<TurnBySession>,
    pub steps: Table<StepByTurn>,
    pub parents: Table<TurnByParent>,
    pub owners: Table<SessionOwner>,
    pub locations: Table<TurnLocation>,
    pub steps_by_session: Table<StepBySession>,
    pub outbox: Table<PgOutboxEntry>,
    pub outbox_slots: Table<PgOutboxSlot>,
}

impl StoreTables {
    pub fn new(db: &Database) -> StoreTables {
        StoreTables {
            sessions: db.table(),
            turns: db.table(),
            steps: db.table(),
            parents: db.table(),
            owners: db.table(),
            locations: db.table(),
            steps_by_session: db.table(),
            outbox: db.table(),
            outbox_slots: db.table(),
        }
    }

    /// The same handles with other consistency levels.
    pub fn with_consistency(self, levels: ConsistencyLevels) -> StoreTables {
        StoreTables {
            sessions: self.sessions.with_consistency(levels),
            turns: self.turns.with_consistency(levels),
            steps: self.steps.with_consistency(levels),
            parents: self.parents.with_consistency(levels),
            owners: self.owners.with_consistency(levels),
            locations: self.locations.with_consistency(levels),
            steps_by_session: self.steps_by_session.with_consistency(levels),
            outbox: self.outbox.with_consistency(levels),
            outbox_slots: self.outbox_slots.with_consistency(levels),
        }
    }
}

/// The platform's conversations in ScyllaDB. Cheap to clone.
#[derive(Clone)]
pub struct ConversationStore {
    pub(crate) db: Database,
    pub(crate) tables: StoreTables,
    /// Whether writes record their changes in `pg_outbox` (see `outbox`).
    pub(crate) writes_outbox: bool,
    /// Whether steps are also written to `steps_by_session`, and conversations loaded from it.
    pub(crate) steps_by_session: bool,
}

impl ConversationStore {
    /// A store on `db`, at the database's consistency (the design's default: writes QUORUM, reads ONE).
    pub fn new(db: Database) -> ConversationStore {
        ConversationStore { tables: StoreTables::new(&db), db, writes_outbox: false, steps_by_session: false }
    }

    /// The same store with other consistency levels for every read and write.
    pub fn with_consistency(self, levels: ConsistencyLevels) -> ConversationStore {
        ConversationStore { tables: self.tables.with_consistency(levels), ..self }
    }

    /// The same store, also writing each step to `steps_by_session` and loading conversations in
    /// two concurrent reads from it (`true`), or with the design's one read per agent turn (the
    /// default). Either way a load returns the same conversation. Turn it on only once
    /// `steps_by_session` holds every step (a new keyspace, or after a backfill).
    pub fn with_steps_by_session(mut self, enabled: bool) -> ConversationStore {
        self.steps_by_session = enabled;
        self
    }

    /// Whether steps are also written to `steps_by_session`.
    pub fn uses_steps_by_session(&self) -> bool {
        self.steps_by_session
    }

    pub fn loads_steps_by_session(&self) -> bool {
        self.steps_by_session
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn tables(&self) -> &StoreTables {
        &self.tables
    }

    /// Creates the keyspace and the store's tables if missing, then checks the live schema.
    pub async fn apply_schema(&self, replication: &Replication) -> StoreResult<()> {
        let tables = all_tables();
        self.db.apply_schema(replication, &tables).await?;
        self.db.validate_schema(&tables).await?;
        Ok(())
    }

    /// Starts a session with a new id.
    pub async fn create_session(&self, account_uid: &str, title: &str) -> StoreResult<Session> {
        self.create_session_with_id(account_uid, &new_id(), title).await
    }

    /// Starts a session with an id the caller chose. Repeating the call returns the same session,
    /// so a retried request does not create a second one.
    pub async fn create_session_with_id(
        &self,
        account_uid: &str,
        session_uid: &str,
        title: &str,
    ) -> StoreResult<Session> {
        check_id("account_uid", account_uid)?;
        check_id("session_uid", session_uid)?;
        check_title(title)?;
        let claim = SessionOwner {
            session_uid: session_uid.to_owned(),
            account_uid: account_uid.to_owned(),
            created_at: now_millis(),
            active_root: None,
        };
        self.record(session_uid, Changed::Session).await?;
        // The lightweight transaction makes the id unique across accounts and concurrent retries.
        let owner = match self.tables.owners.insert_if_not_exists(&claim).await? {
            InsertOutcome::Applied => claim,
            InsertOutcome::NotApplied(existing) if existing.account_uid == account_uid => existing,
            InsertOutcome::NotApplied(_) => {
                return Err(StoreError::Conflict { what: "session", id: session_uid.into() })
            }
        };
        let key = session_key(&owner);
        if let Some(existing) = self.tables.sessions.get(&key).await? {
            self.record(session_uid, Changed::Session).await?;
            return Ok(existing);
        }
        let session = SessionByUser {
            account_uid: owner.account_uid,
            created_at: owner.created_at,
            session_uid: owner.session_uid,
            title: title.to_owned(),
            deleted_at: None,
        };
        self.tables.sessions.insert_new(&session).await?;
        self.record(session_uid, Changed::Session).await?;
        Ok(session)
    }

    /// Sets one column of the session's `sessions_by_user` row.
    async fn update_session<C>(&self, owner: &SessionOwner, column: C, value: &C::Value) -> StoreResult<()>
    where
        C: ColumnOf<SessionByUser> + Settable,
    {
        let (table, key) = (&self.tables.sessions, session_key(owner));
        let owner_key = SessionOwnerPrimaryKey { session_uid: owner.session_uid.clone() };
        let owner_written = self.recorded_write(&self.tables.owners, &owner_key).await?;
        self.update_recorded(table, &key, column, value, (&owner.session_uid, Changed::Session), owner_written).await
    }

    /// The session, if `account_uid` owns it. Soft-deleted sessions are returned too.
    pub async fn session(&self, account_uid: &str, session_uid: &str) -> StoreResult<Session> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        self.tables.sessions.get(&session_key(&owner)).await?.ok_or_else(|| not_found("session", session_uid))
    }

    pub async fn rename_session(&self, account_uid: &str, session_uid: &str, title: &str) -> StoreResult<()> {
        check_title(title)?;
        let owner = self.owned_session(account_uid, session_uid).await?;
        self.update_session(&owner, sessions_by_user::title, &title.to_owned()).await
    }

    /// Hides the session from [`ConversationStore::recent_sessions`] and from loading, keeping its data.
    pub async fn delete_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        self.update_session(&owner, sessions_by_user::deleted_at, &Some(now_millis())).await
    }

    /// Undoes [`ConversationStore::delete_session`].
    pub async fn restore_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<()> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        self.update_session(&owner, sessions_by_user::deleted_at, &None).await
    }

    /// The account's sessions, newest first, leaving out soft-deleted ones. `page_size` is 1 to
    /// [`MAX_PAGE_SIZE`](crate::limits::MAX_PAGE_SIZE) ([`DEFAULT_PAGE_SIZE`](crate::DEFAULT_PAGE_SIZE) is the usual choice); pass the previous page's
    /// `next` to continue.
    pub async fn recent_sessions(
        &self,
        account_uid: &str,
        page_size: usize,
        after: Option<&SessionCursor>,
    ) -> StoreResult<SessionPage> {
        check_id("account_uid", account_uid)?;
        check_page_size(page_size)?;
        let partition = crate::tables::SessionByUserPartitionKey { account_uid: account_uid.to_owned() };
        let mut position = after.cloned();
        let mut fetch = i32::try_from(page_size * 2).unwrap_or(i32::MAX);
        let mut sessions = Vec::with_capacity(page_size);
        loop {
            // `created_at <= cursor`, then skip what the cursor already covered: rows with the same
            // created_at sort by session_uid, ascending.
            let rows = match &position {
                None => self.tables.sessions.slice(&partition).limit(fetch).fetch().await?,
                Some(cursor) => {
                    let slice = self.tables.sessions.slice(&partition);
                    slice.range(sessions_by_user::created_at, ..=&cursor.created_at).limit(fetch).fetch().await?
                }
            };
            let exhausted = rows.len() < usize::try_from(fetch).unwrap_or(usize::MAX);
            let mut advanced = false;
            for row in rows {
                let seen = position.as_ref().is_some_and(|cursor| {
                    row.created_at > cursor.created_at
                        || (row.created_at == cursor.created_at && row.session_uid <= cursor.session_uid)
                });
                if seen {
                    continue;
                }
                advanced = true;
                position = Some(SessionCursor { created_at: row.created_at, session_uid: row.session_uid.clone() });
                if row.deleted_at.is_none() {
                    sessions.push(row);
                    if sessions.len() == page_size {
                        return Ok(SessionPage { sessions, next: position });
                    }
                }
            }
            if exhausted {
                return Ok(SessionPage { sessions, next: None });
            }
            if !advanced {
                // Every row fetched shares the cursor's timestamp: look further in one go.
                fetch = fetch.saturating_mul(2);
            }
        }
    }

    /// The session's owner record, if `account_uid` owns it; otherwise NotFound, exactly as if it
    /// did not exist.
    pub(crate) async fn owned_session(&self, account_uid: &str, session_uid: &str) -> StoreResult<SessionOwner> {
        check_id("account_uid", account_uid)?;
        check_id("session_uid", session_uid)?;
        match self.tables.owners.get(&SessionOwnerPrimaryKey { session_uid: session_uid.to_owned() }).await? {
            Some(owner) if owner.account_uid == account_uid => Ok(owner),
            _ => Err(not_found("session", session_uid)),
        }
    }

    /// Like `owned_session`, but a soft-deleted session is NotFound too.
    pub(crate) async fn visible_session(
        &self,
        account_uid: &str,
        session_uid: &str,
    ) -> StoreResult<(SessionOwner, Session)> {
        let owner = self.owned_session(account_uid, session_uid).await?;
        match self.tables.sessions.get(&session_key(&owner)).await? {
            Some(session) if session.deleted_at.is_none() => Ok((owner, session)),
            _ => Err(not_found("session", session_uid)),
        }
    }
}

pub(crate) fn session_key(owner: &SessionOwner) -> SessionByUserPrimaryKey {
    SessionByUserPrimaryKey {
        account_uid: owner.account_uid.clone(),
        created_at: owner.created_at,
        session_uid: owner.session_uid.clone(),
    }
}

pub(crate) fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound { what, id: id.to_owned() }
}
