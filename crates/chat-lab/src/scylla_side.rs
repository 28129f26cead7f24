//! The ScyllaDB side: the three read patterns as the design runs them, on the store's tables.
//! The data set gets there the way a migration puts it there: `chat-migrate backfill`.

use conversation_store::{
    SessionByUserPartitionKey, StepBySessionPartitionKey, StepByTurnPartitionKey, StoreTables,
    TurnByParentPartitionKey, TurnBySessionPartitionKey, TurnType,
};
use futures::{StreamExt, TryStreamExt};
use scylla_table::Database;

/// Steps of one conversation fetched at once, as the store does.
pub(crate) const STEP_CONCURRENCY: usize = 32;

/// The store's tables, read directly: the patterns run the design's queries without the store's
/// access control.
#[derive(Clone)]
pub struct ScyllaSide {
    tables: StoreTables,
}

impl ScyllaSide {
    pub fn new(db: &Database) -> ScyllaSide {
        ScyllaSide { tables: StoreTables::new(db) }
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

    /// Load a conversation with `steps_by_session`: the session's turns and all its steps, in two
    /// concurrent single-partition reads. Returns the number of rows read.
    pub async fn load_conversation_in_two_reads(&self, session_uid: String) -> Result<usize, scylla_table::Error> {
        let steps = StepBySessionPartitionKey { session_uid: session_uid.clone() };
        let turns = TurnBySessionPartitionKey { session_uid };
        let (turns, steps) = futures::try_join!(
            self.tables.turns.partition_vec(&turns),
            self.tables.steps_by_session.partition_vec(&steps)
        )?;
        Ok(turns.len() + steps.len())
    }

    /// Recent sessions: the 20 most recent sessions of an account.
    pub async fn recent_sessions(&self, account_uid: String) -> Result<usize, scylla_table::Error> {
        let rows = self.tables.sessions.slice(&SessionByUserPartitionKey { account_uid }).limit(20).fetch().await?;
        Ok(rows.len())
    }

    /// Thread navigation: the children of one turn.
    pub async fn children(&self, parent_uid: String) -> Result<usize, scylla_table::Error> {
        Ok(self.tables.parents.partition_vec(&TurnByParentPartitionKey { parent_uid }).await?.len())
    }
}
