//! A write transaction, and the outbox entries it owes.

use crate::typed;
use conversation_store::StoreResult;
use tokio_postgres::GenericClient;

use crate::outbox::{self, Changed};
use crate::phase::{self, RelationalWrites};
use crate::store::{pg, Recording};

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

/// One transaction of a domain write. Every changed row goes through [`Writer::changed`], which
/// records it in the outbox when the store (or the shared phase) asks for it.
pub(crate) struct Writer<'a> {
    pub tx: &'a tokio_postgres::Transaction<'a>,
    pub outbox: bool,
}

impl<'a> Writer<'a> {
    /// The writer of a transaction just begun. Following the shared phase, it first takes the
    /// phase's lock (shared) and reads what the phase asks of writes: the answer holds until the
    /// transaction ends, and a refused write ends here, before it changed anything.
    pub async fn begin(tx: &'a tokio_postgres::Transaction<'a>, recording: Recording) -> StoreResult<Writer<'a>> {
        // Sent together with the phase's lock and read: no round trip of its own.
        let (marked, outbox) = futures::join!(mark_as_store(tx), async {
            Ok(match recording {
                Recording::Never => false,
                Recording::Always => true,
                Recording::AsThePhaseSays => match phase::writes_in(tx).await? {
                    RelationalWrites::Plain => false,
                    RelationalWrites::Recorded => true,
                    RelationalWrites::Refused => return Err(phase::refused()),
                },
            })
        });
        marked?;
        Ok(Writer { tx, outbox: outbox? })
    }

    pub async fn changed(&self, session_uid: &str, changed: Changed, version: i64) -> StoreResult<()> {
        if self.outbox {
            outbox::record(self.tx, session_uid, &changed, version).await?;
        }
        Ok(())
    }
}
