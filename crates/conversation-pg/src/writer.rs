//! A write transaction, and the outbox entries it owes.

use std::sync::Mutex;

use conversation_store::StoreResult;

use crate::marker::mark_as_store;
use crate::outbox::{self, Changed};
use crate::phase::{self, RelationalWrites};
use crate::rows::{Written, WrittenRow};
use crate::store::Recording;

/// One transaction of a domain write. Every changed row goes through [`Writer::wrote`] (a purge,
/// which leaves no row, through [`Writer::changed`]), which records it in the outbox when the
/// store (or the shared phase) asks for it.
pub(crate) struct Writer<'a> {
    pub tx: &'a tokio_postgres::Transaction<'a>,
    pub outbox: bool,
    /// The recorded rows as written, for the store to hand on once the transaction commits.
    written: Mutex<Vec<Written>>,
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
        Ok(Writer { tx, outbox: outbox?, written: Mutex::new(Vec::new()) })
    }

    /// Records a change that left no row to copy (a purge).
    pub async fn changed(&self, session_uid: &str, changed: Changed, version: i64) -> StoreResult<()> {
        if self.outbox {
            outbox::record(self.tx, session_uid, &changed, version).await?;
        }
        Ok(())
    }

    /// Records the change of a row, whole as the statement that wrote it returned it.
    pub async fn wrote(&self, session_uid: &str, row: WrittenRow) -> StoreResult<()> {
        if self.outbox {
            let entry_id = outbox::record(self.tx, session_uid, &row.changed(), row.version()).await?;
            let written = Written { entry_id, session_uid: session_uid.to_owned(), row };
            self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(written);
        }
        Ok(())
    }

    /// The rows recorded so far, in the order they were written.
    pub fn into_written(self) -> Vec<Written> {
        self.written.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
