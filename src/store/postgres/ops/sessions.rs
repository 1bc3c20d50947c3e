//! The PostgreSQL driver's dashboard sign-outs, shared by every daemon of
//! the database.

use chrono::{DateTime, Utc};

use crate::store::StoreError;
use crate::store::postgres::{Effects, PostgresDriver};
use crate::store::rows::to_ms;

impl PostgresDriver {
    pub(in crate::store) async fn sign_out(
        &self,
        session: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sign_outs WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_outs (session, expires_at) VALUES ($1, $2) \
             ON CONFLICT (session) DO NOTHING",
        )
        .bind(session)
        .bind(to_ms(expires))
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn signed_out(&self, session: &str) -> Result<bool, StoreError> {
        let found: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM sign_outs WHERE session = $1")
            .bind(session)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}
