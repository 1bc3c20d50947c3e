//! The Paperspace rate limit shared by the daemons on one database: the
//! client's token bucket takes its tokens from the store's `rate_limit`
//! row ([`Store::take_rate_token`]) instead of its own.

use std::time::Duration;

use async_trait::async_trait;

use crate::paperspace::throttle::SharedBucket;
use crate::store::Store;

/// The store's token bucket, as the Paperspace client's shared bucket.
pub(super) struct StoreBucket(pub(super) Store);

#[async_trait]
impl SharedBucket for StoreBucket {
    async fn take(&self, rate: f64, burst: u32) -> Result<Duration, String> {
        self.0
            .take_rate_token(rate, burst)
            .await
            .map_err(|e| e.to_string())
    }
}
