//! Dashboard sessions signed out: the store remembers them, so that every
//! daemon of a database, and a restarted one, refuses a signed-out cookie.

use chrono::{DateTime, Utc};

use super::Store;
use crate::store::driver::on_driver;
use crate::store::error::StoreError;

impl Store {
    /// Records that the dashboard session `session` (a hash of its id,
    /// never the id) was signed out; it would have expired at `expires`.
    /// Sign-outs whose sessions expired by `now` are forgotten meanwhile.
    pub async fn sign_out(
        &self,
        session: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.sign_out(session, expires, now).await)
    }

    /// Whether the dashboard session `session` (as given to
    /// [`Store::sign_out`]) was signed out.
    pub async fn signed_out(&self, session: &str) -> Result<bool, StoreError> {
        on_driver!(self, d => d.signed_out(session).await)
    }
}
