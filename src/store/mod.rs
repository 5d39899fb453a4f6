//! Placeholder until the version store lands.
#![allow(missing_docs)]
use std::time::Duration;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    Applying,
    Applied,
    RollingBack,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedVersion {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub state: VersionState,
    pub applied_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: i64,
}
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("lock timeout after {waited:?}")]
    LockTimeout { waited: Duration },
}
#[async_trait::async_trait]
pub trait VersionStore: Send + Sync {
    async fn ensure_table(&self) -> Result<(), StoreError>;
    async fn lock(&self, timeout: Duration) -> Result<(), StoreError>;
    async fn unlock(&self) -> Result<(), StoreError>;
    async fn list(&self) -> Result<Vec<AppliedVersion>, StoreError>;
    async fn mark(
        &self,
        version: i64,
        name: &str,
        checksum: &str,
        state: VersionState,
    ) -> Result<(), StoreError>;
    async fn mark_applied(&self, version: i64, duration_ms: i64) -> Result<(), StoreError>;
    async fn remove(&self, version: i64) -> Result<(), StoreError>;
    async fn close(&self);
}
pub async fn connect(_url: &str, _table: &str) -> Result<Box<dyn VersionStore>, StoreError> {
    Err(StoreError::LockTimeout {
        waited: Duration::ZERO,
    })
}
