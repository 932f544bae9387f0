//! The store's one error enum. redb's errors are wrapped in [`StorageFault`], never re-exported,
//! so a future backend can fail the same way.

use idm_model::ModelError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("{what} {key:?} does not exist")]
    NotFound { what: &'static str, key: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Refused(String),
    #[error("the data directory is in use by a running server (or another process)")]
    InUse,
    #[error("the data has schema version {found}; this build reads up to {supported}")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("corrupt record {0}")]
    Corrupt(String),
    #[error("backup: {0}")]
    Backup(String),
    #[error("storage: {0}")]
    Storage(StorageFault),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub(crate) fn not_found(what: &'static str, uuid: Uuid) -> Self {
        StoreError::NotFound {
            what,
            key: uuid.to_string(),
        }
    }
}

/// An error of the embedded database, kept opaque.
#[derive(Debug)]
pub struct StorageFault(redb::Error);

impl std::fmt::Display for StorageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StorageFault {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                let e: redb::Error = e.into();
                match e {
                    redb::Error::DatabaseAlreadyOpen => StoreError::InUse,
                    other => StoreError::Storage(StorageFault(other)),
                }
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
