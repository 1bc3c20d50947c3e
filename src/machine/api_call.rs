//! The record of one HTTP call to Paperspace, as a job's history keeps it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One HTTP call to Paperspace. Holds no secret: routes are templates and
/// errors are [`crate::paperspace::ApiError`] texts, which never contain the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiCallRecord {
    /// HTTP method, e.g. `GET` or `POST`.
    pub method: String,
    /// Route template, e.g. `POST /machines/:machineId/start` has route `/machines/:machineId/start`.
    pub route: String,
    /// The machine the call was about, when it names one.
    pub machine_id: Option<String>,
    /// HTTP status, `None` when no answer came.
    pub status: Option<u16>,
    /// Time from sending the request to having the answer (or giving up).
    pub latency: Duration,
    /// The error text when the call failed.
    pub error: Option<String>,
}
