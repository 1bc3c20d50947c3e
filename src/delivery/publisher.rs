//! Publishing events: stored with their deliveries, or skipped at no cost
//! when no endpoint wants their type.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::store::{Publication, Published, Store, StoreError};
use crate::webhook::{Event, EventType};

/// Publishes events. Cheap to clone; every producer holds one.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where events and their deliveries are written.
    store: Store,
    /// For the time of a publication.
    clock: SharedClock,
    /// Attempts each delivery gets.
    max_attempts: u32,
    /// The event types some active endpoint wants, as of the last
    /// [`Publisher::refresh`]; `None` until the first, when every event is
    /// written (the store's own filter decides).
    wanted: RwLock<Option<HashSet<EventType>>>,
    /// Told after every refresh, so that a watch with nothing to tell
    /// sleeps until an endpoint wants it instead of waking on a timer.
    refreshed: Notify,
}

impl Publisher {
    pub fn new(store: Store, clock: SharedClock, max_attempts: u32) -> Self {
        Publisher {
            inner: Arc::new(Inner {
                store,
                clock,
                max_attempts,
                wanted: RwLock::new(None),
                refreshed: Notify::new(),
            }),
        }
    }

    /// Reads again which event types the active endpoints want; called at
    /// start and after every change to an endpoint.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let endpoints = self.inner.store.endpoints().await?;
        let wanted: HashSet<EventType> = endpoints
            .iter()
            .filter(|e| !e.paused && e.disabled.is_none())
            .flat_map(|e| e.events.iter().copied())
            .collect();
        *self.inner.wanted.write().expect("wanted set poisoned") = Some(wanted);
        self.inner.refreshed.notify_waiters();
        Ok(())
    }

    /// Until `kind` is wanted (at once if it is).
    pub async fn until_wanted(&self, kind: EventType) {
        loop {
            let refreshed = self.inner.refreshed.notified();
            tokio::pin!(refreshed);
            refreshed.as_mut().enable();
            if self.wants(kind) {
                return;
            }
            refreshed.await;
        }
    }

    /// Whether some active endpoint wants events of `kind`.
    pub fn wants(&self, kind: EventType) -> bool {
        self.inner
            .wanted
            .read()
            .expect("wanted set poisoned")
            .as_ref()
            .is_none_or(|w| w.contains(&kind))
    }

    /// Attempts each delivery gets.
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// Publishes `event` (see [`crate::store::Store::publish`]); with
    /// `mark`, also sets that alarm mark. Nothing is written when no
    /// endpoint wants the type (and then no mark is set either). A failure
    /// is logged and answered `None`: an event is never worth failing the
    /// work that raised it.
    pub async fn publish(&self, event: Event, mark: Option<String>) -> Option<Published> {
        if !self.wants(event.kind) {
            return None;
        }
        let kind = event.kind;
        let publication = Publication {
            event,
            max_attempts: self.inner.max_attempts,
            mark,
            only: None,
        };
        match self
            .inner
            .store
            .publish(publication, self.inner.clock.now())
            .await
        {
            Ok(published) => {
                if !published.deliveries.is_empty() {
                    tracing::debug!(event = %kind, deliveries = published.deliveries.len(), "event published");
                }
                Some(published)
            }
            Err(e) => {
                tracing::error!(event = %kind, error = %e, "could not publish a webhook event");
                None
            }
        }
    }

    /// The store, for the alarms' marks.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}
