//! The mark that tells an adopted database's triggers a write is the store's own: a setting of
//! the transaction, read by the triggers that `adoption` installs.

use crate::typed;
use conversation_store::StoreResult;
use tokio_postgres::GenericClient;

use crate::store::pg;

/// Says, for the rest of the transaction, that its writes are the store's: the triggers of an
/// adopted database (see [`crate::adoption`]) then leave them alone, since the store versions
/// and records its changes itself, and nothing is recorded twice. Every transaction of the
/// store that writes the conversation tables starts with it.
pub(crate) async fn mark_as_store(tx: &(impl GenericClient + Sync)) -> StoreResult<()> {
    tx.execute_typed("SELECT set_config('conversation_pg.writer', 'store', true)", typed![])
        .await
        .map_err(pg("marking the transaction as the store's"))?;
    Ok(())
}
