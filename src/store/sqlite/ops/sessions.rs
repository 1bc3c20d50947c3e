//! The SQLite driver's dashboard sign-outs: written by the writer, read on
//! the read pool.

use chrono::{DateTime, Utc};

use crate::store::StoreError;
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::sessions::SignOut;

impl SqliteDriver {
    pub(in crate::store) async fn sign_out(
        &self,
        session: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let session = session.to_string();
        self.send(|reply| SignOut {
            session,
            expires,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn signed_out(&self, session: &str) -> Result<bool, StoreError> {
        let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM sign_outs WHERE session = ?")
            .bind(session)
            .fetch_optional(&self.reader)
            .await?;
        Ok(found.is_some())
    }
}
