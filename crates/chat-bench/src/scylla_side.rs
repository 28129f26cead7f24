//! The ScyllaDB side: loading the data set into the store's tables, and the three read patterns
//! as the design runs them.

use std::future::Future;
use std::pin::Pin;

use conversation_store::{
    SessionByUser, SessionByUserPartitionKey, SessionOwner, StepByTurn, StepByTurnPartitionKey, StoreTables,
    TurnByParent, TurnByParentPartitionKey, TurnBySession, TurnBySessionPartitionKey, TurnLocation, TurnType,
};
use futures::{StreamExt, TryStreamExt};
use scylla_table::{ClusteringSlice, Database};

use crate::dataset::{self, Scale, Session};
use crate::progress::Progress;
use crate::BenchError;

/// Writes in flight while loading.
const LOAD_CONCURRENCY: usize = 256;
/// Steps of one conversation fetched at once, as the store does.
const STEP_CONCURRENCY: usize = 32;

type Write = Pin<Box<dyn Future<Output = Result<(), scylla_table::Error>> + Send>>;

/// The store's tables, read and written directly: the loader skips the store's checks, and the
/// patterns run the design's queries without the store's access control.
#[derive(Clone)]
pub struct ScyllaSide {
    tables: StoreTables,
}

impl ScyllaSide {
    pub fn new(db: &Database) -> ScyllaSide {
        ScyllaSide { tables: StoreTables::new(db) }
    }

    /// Loads every session of the data set with plain writes (no lightweight transactions: the
    /// ids are known to be new), `LOAD_CONCURRENCY` at a time.
    pub async fn load(&self, scale: &Scale, seed: u64, total_rows: usize) -> Result<(), BenchError> {
        let mut progress = Progress::new("ScyllaDB rows", total_rows);
        let writes = (0..scale.sessions).flat_map(|index| self.writes_for(dataset::session(scale, seed, index)));
        let mut pending = futures::stream::iter(writes).buffer_unordered(LOAD_CONCURRENCY);
        while let Some(result) = pending.next().await {
            result?;
            progress.advance(1);
        }
        Ok(())
    }

    fn writes_for(&self, session: Session) -> Vec<Write> {
        let mut writes: Vec<Write> = Vec::new();
        let table = self.tables.sessions.clone();
        let row = SessionByUser {
            account_uid: session.account_uid.clone(),
            created_at: session.created_at,
            session_uid: session.uid.clone(),
            title: session.title.clone(),
            deleted_at: None,
        };
        writes.push(Box::pin(async move { table.insert(&row).await }));
        let table = self.tables.owners.clone();
        let active_root = session.turns.iter().rev().find(|turn| turn.parent.is_none()).map(|turn| turn.uid.clone());
        let row = SessionOwner {
            session_uid: session.uid.clone(),
            account_uid: session.account_uid.clone(),
            created_at: session.created_at,
            active_root,
        };
        writes.push(Box::pin(async move { table.insert(&row).await }));
        for turn in session.turns {
            let by_session = TurnBySession {
                session_uid: session.uid.clone(),
                created_at: turn.created_at,
                turn_uid: turn.uid.clone(),
                turn_type: turn.turn_type,
                parent_uid: turn.parent.clone(),
                active_child: turn.active_child.clone(),
                prompt: turn.prompt.clone(),
                liked: turn.liked,
            };
            let table = self.tables.turns.clone();
            writes.push(Box::pin(async move { table.insert(&by_session).await }));
            let by_parent = TurnByParent {
                parent_uid: turn.parent.clone().unwrap_or_else(|| conversation_store::root_parent_key(&session.uid)),
                created_at: turn.created_at,
                turn_uid: turn.uid.clone(),
                session_uid: session.uid.clone(),
                turn_type: turn.turn_type,
            };
            let table = self.tables.parents.clone();
            writes.push(Box::pin(async move { table.insert(&by_parent).await }));
            let location = TurnLocation {
                turn_uid: turn.uid.clone(),
                session_uid: session.uid.clone(),
                created_at: turn.created_at,
                turn_type: turn.turn_type,
                parent_uid: turn.parent.clone(),
            };
            let table = self.tables.locations.clone();
            writes.push(Box::pin(async move { table.insert(&location).await }));
            for step in turn.steps {
                let row = StepByTurn {
                    turn_uid: turn.uid.clone(),
                    idx: step.idx,
                    tpe: step.tpe,
                    content: step.content,
                    created_at: step.created_at,
                };
                let table = self.tables.steps.clone();
                writes.push(Box::pin(async move { table.insert(&row).await }));
            }
        }
        writes
    }

    /// Load a conversation: the session's turns, then every agent turn's steps concurrently.
    /// Returns the number of rows read.
    pub async fn load_conversation(&self, session_uid: String) -> Result<usize, scylla_table::Error> {
        let turns = self.tables.turns.partition_vec(&TurnBySessionPartitionKey { session_uid }).await?;
        let keys: Vec<StepByTurnPartitionKey> = turns
            .iter()
            .filter(|turn| turn.turn_type == TurnType::Agent)
            .map(|turn| StepByTurnPartitionKey { turn_uid: turn.turn_uid.clone() })
            .collect();
        let table = self.tables.steps.clone();
        let steps: Vec<usize> = futures::stream::iter(keys.into_iter().map(move |key| {
            let table = table.clone();
            async move { table.partition_vec(&key).await.map(|steps| steps.len()) }
        }))
        .buffered(STEP_CONCURRENCY)
        .try_collect()
        .await?;
        Ok(turns.len() + steps.iter().sum::<usize>())
    }

    /// User history: the 20 most recent sessions of an account.
    pub async fn user_history(&self, account_uid: String) -> Result<usize, scylla_table::Error> {
        let rows =
            self.tables.sessions.slice(&SessionByUserPartitionKey { account_uid }, &ClusteringSlice::new(20)).await?;
        Ok(rows.len())
    }

    /// Thread navigation: the children of one turn.
    pub async fn children(&self, parent_uid: String) -> Result<usize, scylla_table::Error> {
        Ok(self.tables.parents.partition_vec(&TurnByParentPartitionKey { parent_uid }).await?.len())
    }
}
