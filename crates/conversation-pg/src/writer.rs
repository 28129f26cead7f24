//! A write transaction, and the outbox entries it owes.

use conversation_store::StoreResult;

use crate::outbox::{self, Changed};

/// One transaction of a domain write. Every changed row goes through [`Writer::changed`], which
/// records it in the outbox when the store has one.
pub(crate) struct Writer<'a> {
    pub tx: &'a tokio_postgres::Transaction<'a>,
    pub outbox: bool,
}

impl Writer<'_> {
    pub async fn changed(&self, session_uid: &str, changed: Changed, version: i64) -> StoreResult<()> {
        if self.outbox {
            outbox::record(self.tx, session_uid, &changed, version).await?;
        }
        Ok(())
    }
}
