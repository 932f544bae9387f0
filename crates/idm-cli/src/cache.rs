//! The session-token cache: `<user cache dir>/idm/tokens.json`, one session per server URL.
//!
//! The file holds bearer tokens, so it is created with mode 0600 (its directory 0700) from the
//! start, never loosened and chmod-ed after: a token must not be readable by others even for a
//! moment. Writes go to a fresh private file that is renamed over the old one, so a crash
//! mid-write leaves the previous cache, not half of one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::client::{CliError, Secret};

/// A session from `idm login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(test, derive(PartialEq, Eq))]
pub struct Session {
    /// Who logged in, for the "log in again" hint.
    pub name: String,
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct TokenCache {
    path: PathBuf,
}

impl TokenCache {
    /// `dirs::cache_dir()/idm/tokens.json` (on Linux `$XDG_CACHE_HOME` or `~/.cache`).
    pub fn default_location() -> Result<Self, CliError> {
        let dir = dirs::cache_dir().ok_or(CliError::NoCacheDir)?;
        Ok(Self::at(dir.join("idm").join("tokens.json")))
    }

    pub fn at(path: PathBuf) -> Self {
        TokenCache { path }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The session cached for `url` (a normalised URL), expired or not.
    pub fn get(&self, url: &str) -> Result<Option<Session>, CliError> {
        Ok(self.load()?.remove(url))
    }

    pub fn put(&self, url: &str, session: Session) -> Result<(), CliError> {
        let mut sessions = self.load()?;
        sessions.insert(url.to_owned(), session);
        self.store(&sessions)
    }

    /// Forgets the session for `url`; returns it if there was one.
    pub fn remove(&self, url: &str) -> Result<Option<Session>, CliError> {
        let mut sessions = self.load()?;
        let removed = sessions.remove(url);
        if removed.is_some() {
            self.store(&sessions)?;
        }
        Ok(removed)
    }

    fn load(&self) -> Result<BTreeMap<String, Session>, CliError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| CliError::CacheCorrupt {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(self.io_error(source)),
        }
    }

    fn store(&self, sessions: &BTreeMap<String, Session>) -> Result<(), CliError> {
        let bytes =
            serde_json::to_vec_pretty(sessions).map_err(|source| CliError::CacheCorrupt {
                path: self.path.clone(),
                source,
            })?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| self.io_error(e))?;
        let tmp = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        let written = write_private(&tmp, &bytes).and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            // Best effort: the original error is the one worth reporting.
            let _ = fs::remove_file(&tmp);
            return Err(self.io_error(e));
        }
        Ok(())
    }

    fn io_error(&self, source: io::Error) -> CliError {
        CliError::CacheIo {
            path: self.path.clone(),
            source,
        }
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `bytes` to a new file that is 0600 from the moment it exists; a stale temporary file
/// left by a crashed run is replaced rather than trusted.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let open = || {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(path)
    };
    let mut file: File = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(path)?;
            open()?
        }
        other => other?,
    };
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str, token: &str) -> Session {
        Session {
            name: name.into(),
            token: Secret::new(token.into()),
            expires_at: DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn round_trip_keyed_by_url() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::at(dir.path().join("idm").join("tokens.json"));
        assert_eq!(cache.get("https://a:8443").unwrap(), None);

        cache
            .put("https://a:8443", session("admin", "tok-a"))
            .unwrap();
        cache
            .put("https://b:8443", session("bob", "tok-b"))
            .unwrap();
        assert_eq!(
            cache.get("https://a:8443").unwrap(),
            Some(session("admin", "tok-a"))
        );
        assert_eq!(
            cache.get("https://b:8443").unwrap(),
            Some(session("bob", "tok-b"))
        );

        // A new login replaces the old session for that server only.
        cache
            .put("https://a:8443", session("alice", "tok-a2"))
            .unwrap();
        assert_eq!(
            cache.get("https://a:8443").unwrap(),
            Some(session("alice", "tok-a2"))
        );

        assert_eq!(
            cache.remove("https://a:8443").unwrap(),
            Some(session("alice", "tok-a2"))
        );
        assert_eq!(cache.remove("https://a:8443").unwrap(), None);
        assert_eq!(
            cache.get("https://b:8443").unwrap(),
            Some(session("bob", "tok-b"))
        );

        let leftovers: Vec<_> = fs::read_dir(dir.path().join("idm"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec!["tokens.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_and_dir_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::at(dir.path().join("idm").join("tokens.json"));
        cache.put("https://a", session("admin", "tok")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cache.path()), 0o600);
        assert_eq!(mode(&dir.path().join("idm")), 0o700);

        // A cache someone made world-readable is replaced by a private one on the next write.
        fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o644)).unwrap();
        cache.put("https://b", session("admin", "tok")).unwrap();
        assert_eq!(mode(cache.path()), 0o600);
    }

    #[test]
    fn stale_temporary_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::at(dir.path().join("tokens.json"));
        let tmp = cache
            .path()
            .with_extension(format!("json.{}.tmp", std::process::id()));
        fs::write(&tmp, "junk").unwrap();
        cache.put("https://a", session("admin", "tok")).unwrap();
        assert!(!tmp.exists());
        assert_eq!(
            cache.get("https://a").unwrap(),
            Some(session("admin", "tok"))
        );
    }

    #[test]
    fn corrupt_cache_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::at(dir.path().join("tokens.json"));
        fs::write(cache.path(), "{not json").unwrap();
        let e = cache.get("https://a").unwrap_err();
        assert!(e.to_string().contains("delete it and log in again"), "{e}");
    }

    #[test]
    fn tokens_are_not_in_debug_output() {
        let shown = format!("{:?}", session("admin", "very-secret"));
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
