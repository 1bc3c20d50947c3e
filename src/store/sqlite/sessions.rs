//! Dashboard sign-outs in SQLite: a row per session signed out before it
//! expired, gone once it would have expired anyway.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::tx::{Effects, Reply, Tx, pending};
use crate::store::StoreError;
use crate::store::rows::to_ms;

/// A sign-out to record (`Store::sign_out`), with the channel the answer
/// goes back on.
pub(super) struct SignOut {
    /// The hash of the session's id.
    pub(super) session: String,
    /// When the session would have expired.
    pub(super) expires: DateTime<Utc>,
    /// Sign-outs of sessions expired by then are forgotten.
    pub(super) now: DateTime<Utc>,
    /// Where the answer goes after the commit.
    pub(super) reply: Reply<()>,
}

/// Applies a sign-out in the batch's transaction; its answer goes into
/// `fx.pending`.
pub(super) fn apply(tx: &Tx<'_>, sign_out: SignOut, fx: &mut Effects) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM sign_outs WHERE expires_at <= ?1")?
        .execute([to_ms(sign_out.now)])?;
    tx.prepare_cached(
        "INSERT INTO sign_outs (session, expires_at) VALUES (?1, ?2) ON CONFLICT (session) DO NOTHING",
    )?
    .execute(params![sign_out.session, to_ms(sign_out.expires)])?;
    fx.pending.push(pending(sign_out.reply, ()));
    Ok(())
}
