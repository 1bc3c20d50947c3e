//! Waiting for what the app writes: the test reads again after each commit
//! of the store ([`Store::commits`]), never on a timer.

use std::future::Future;
use std::time::Duration;

use machinist::store::Store;
use serde_json::Value;

use super::TestApp;

/// Re-runs `read` after every commit of `store` until it answers `Ok`, and
/// returns that; panics with its last `Err` once `within` has passed. Nothing
/// polls: between reads it waits for [`Store::commits`].
pub async fn until_committed<T, F, Fut>(store: &Store, within: Duration, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut commits = store.commits();
    loop {
        // Seen before reading, so that a commit during the read wakes the next wait.
        commits.borrow_and_update();
        let waiting = match read().await {
            Ok(done) => return done,
            Err(waiting) => waiting,
        };
        match tokio::time::timeout_at(deadline, commits.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("the store closed: {waiting}"),
            Err(_) => panic!("not within {within:?}: {waiting}"),
        }
    }
}

fn is_final(job: &Value) -> bool {
    matches!(
        job["state"].as_str(),
        Some("succeeded" | "failed" | "cancelled")
    )
}

impl TestApp {
    /// Waits until the job is final (the workers run on their own; this
    /// only watches), for at most 30 s: it reads the job again after each
    /// commit.
    pub async fn finished(&self, id: i64) -> Value {
        self.job_until(id, "finish", is_final).await
    }

    /// Waits until the job is in `state` (read after each commit, for at most 30 s).
    pub async fn reached(&self, id: i64, state: &str) -> Value {
        self.job_until(id, state, |job| job["state"] == state).await
    }

    async fn job_until(&self, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let done = &done;
        until_committed(self.store(), Duration::from_secs(30), move || async move {
            let job = self.job(id).await;
            if done(&job) {
                Ok(job)
            } else {
                Err(format!("job {id} did not {what}: {job:#}"))
            }
        })
        .await
    }
}
