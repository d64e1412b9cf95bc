//! The Redis queue store (not written yet).
use super::store::StoreError;
use secrecy::SecretString;
use std::time::Duration;
use url::Url;
pub struct RedisStore;
impl RedisStore {
    pub async fn connect(
        _: &Url,
        _: Option<&SecretString>,
        _: &str,
        _: Duration,
        _: Duration,
    ) -> Result<super::memory::MemoryStore, StoreError> {
        Err(StoreError("the Redis store is not built yet".into()))
    }
}
