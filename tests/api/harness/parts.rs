//! Without the daemon ([`Run::Router`], [`Run::Nothing`]): the store, the
//! schedule registry and, for the router, the admin API on port 0.

use std::sync::Arc;

use machinist::clock::SharedClock;
use machinist::config::AdminToken;
use machinist::cost::{CostSettings, Ledger};
use machinist::http::HttpState;
use machinist::job::JobDefaults;
use machinist::paperspace::Backend;
use machinist::schedule::spec::ScheduleContext;
use machinist::scheduler::registry::Registry;
use machinist::store::{Store, StoreOptions};

use super::{AppOptions, Run, TestApp};

pub(super) struct Parts {
    pub(super) store: Store,
    registry: Registry,
    context: Arc<ScheduleContext>,
}

impl Parts {
    /// Opens the store at `db` and, for [`Run::Router`], serves the admin
    /// API on it; the parts and the API's URL (empty without it).
    pub(super) async fn start(
        options: &AppOptions,
        db: StoreOptions,
        clock: SharedClock,
        token: Option<AdminToken>,
    ) -> (Parts, String) {
        let store = Store::open(&db).await.unwrap();
        let context = Arc::new(ScheduleContext {
            defaults: JobDefaults::default(),
            calendars: options.calendars.clone(),
            default_zone: options.default_zone.into(),
        });
        let registry = Registry::new(store.clone(), clock.clone(), context.clone());
        let url = if options.run == Run::Router {
            let shutdown = tokio_util::sync::CancellationToken::new();
            let state = HttpState {
                shutdown: shutdown.clone(),
                webhooks: machinist::delivery::Webhooks::new(
                    store.clone(),
                    clock.clone(),
                    Arc::new(options.webhooks.clone()),
                ),
                store: store.clone(),
                clock,
                defaults: JobDefaults::default(),
                token,
                viewer_token: options.viewer_token.map(|t| AdminToken::new(t).unwrap()),
                registry: registry.clone(),
                api: None,
                ledger: Ledger::new(
                    store.clone(),
                    CostSettings {
                        monthly_billed: options
                            .monthly_billed
                            .iter()
                            .map(|m| m.to_string())
                            .collect(),
                        ..CostSettings::new(Backend::V1)
                    },
                ),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let router = machinist::http::router(state, &options.limits);
            tokio::spawn(machinist::http::serve(
                listener,
                router,
                options.limits.clone(),
                shutdown,
            ));
            format!("http://{addr}")
        } else {
            String::new()
        };
        let parts = Parts {
            store,
            registry,
            context,
        };
        (parts, url)
    }
}

impl TestApp {
    /// The schedule registry (not with [`Run::Daemon`]).
    pub fn registry(&self) -> &Registry {
        &self.parts.as_ref().expect("no daemon").registry
    }

    /// The schedule context (not with [`Run::Daemon`]).
    pub fn context(&self) -> &Arc<ScheduleContext> {
        &self.parts.as_ref().expect("no daemon").context
    }
}
