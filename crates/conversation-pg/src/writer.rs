//! A write transaction, and the outbox entries it owes.

use conversation_store::StoreResult;

use crate::marker::mark_as_store;
use crate::outbox::{self, Changed};
use crate::phase::{self, RelationalWrites};
use crate::store::Recording;

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
