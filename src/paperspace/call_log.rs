//! A record of every HTTP call a client makes, for whoever asked for one.
//!
//! A job's history needs each Paperspace call it caused (method, route,
//! status, latency, error). Threading a recorder through every trait method
//! would burden every backend, so the clients report to a task-local log that
//! the caller opens around the work with [`record_calls`]; outside such a
//! scope, reporting is a no-op.

use crate::machine::ApiCallRecord;
use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static CALL_LOG: Arc<Mutex<Vec<ApiCallRecord>>>;
}

/// A log that collects the calls made inside its [`CallLog::scope`]; the
/// calls so far can be taken at any time (a job writes them with each
/// checkpoint, not only at the end).
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    /// Shared with the task-local slot while a scope runs.
    calls: Arc<Mutex<Vec<ApiCallRecord>>>,
}

impl CallLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `work` with this log collecting its calls.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        CALL_LOG.scope(self.calls.clone(), work).await
    }

    /// The calls recorded since the last take.
    pub fn take(&self) -> Vec<ApiCallRecord> {
        std::mem::take(&mut *self.calls.lock().expect("call log lock poisoned"))
    }
}

/// Runs `work` and returns what it returned along with every call it made.
pub async fn record_calls<F: Future>(work: F) -> (F::Output, Vec<ApiCallRecord>) {
    let log = CallLog::new();
    let out = log.scope(work).await;
    (out, log.take())
}

/// Reports one call to the enclosing [`record_calls`] scope, if any.
pub fn report(record: ApiCallRecord) {
    let _ = CALL_LOG.try_with(|log| {
        log.lock().expect("call log lock poisoned").push(record);
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rec(route: &str) -> ApiCallRecord {
        ApiCallRecord {
            method: "GET".into(),
            route: route.into(),
            machine_id: None,
            status: Some(200),
            latency: Duration::from_millis(3),
            error: None,
        }
    }

    #[tokio::test]
    async fn records_inside_scope_only() {
        report(rec("/outside"));
        let (value, calls) = record_calls(async {
            report(rec("/a"));
            report(rec("/b"));
            7
        })
        .await;
        assert_eq!(value, 7);
        let routes: Vec<_> = calls.iter().map(|c| c.route.as_str()).collect();
        assert_eq!(routes, ["/a", "/b"]);
    }
}
