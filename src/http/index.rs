//! `GET /`: an index of the admin API for whoever finds the daemon's address
//! (a browser, `curl`), instead of a 404. It is built from the route table
//! ([`super::routes::ROUTES`]), so it cannot list a route the router does not
//! serve, and it needs the admin token like `/openapi.json`, which says the
//! same and more.

use axum::Json;
use serde::{Deserialize, Serialize};

use super::routes::{self, ROUTES};

/// The answer of `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiIndex {
    /// Always `machinist`.
    pub name: String,
    /// The daemon's version (its crate version).
    pub version: String,
    /// Path of the OpenAPI document.
    pub openapi: String,
    /// Path of the liveness probe.
    pub health: String,
    /// Path of the readiness probe.
    pub ready: String,
    /// Every route, in the order of the route table.
    pub routes: Vec<IndexRoute>,
}

/// One route of [`ApiIndex::routes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRoute {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path template, `{name}` for a path parameter.
    pub path: String,
    /// The route's one-line summary, as in the OpenAPI document.
    pub summary: String,
}

/// The index as the route table makes it.
pub fn api_index() -> ApiIndex {
    ApiIndex {
        name: "machinist".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        openapi: routes::OPENAPI_PATH.to_string(),
        health: routes::HEALTH_PATH.to_string(),
        ready: routes::READY_PATH.to_string(),
        routes: ROUTES
            .iter()
            .map(|r| IndexRoute {
                method: r.method.as_str().to_string(),
                path: r.path.to_string(),
                summary: r.summary.to_string(),
            })
            .collect(),
    }
}

pub(super) async fn index() -> Json<ApiIndex> {
    Json(api_index())
}
