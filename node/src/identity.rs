//! The data directory and the citizen's keys.
//!
//! The data directory is, in order: the `--data-dir` given by the user, the
//! `COMMUNECTER_HOME` environment variable, or the platform's data directory
//! (`~/.local/share/communecter` on Linux). It holds:
//!
//! | file | what |
//! |---|---|
//! | `author.key` | the ed25519 seed that signs every change (hex, mode 0600) |
//! | `network.key` | the seed of the libp2p identity, kept apart (hex, mode 0600) |
//! | `store.redb` | the store |

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::{Actor, AuthorKey, hex, parse_hex};

/// Environment variable naming the data directory.
pub const HOME_VARIABLE: &str = "COMMUNECTER_HOME";

/// Why the identity could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No data directory could be found.
    #[error("no data directory: pass --data-dir or set {HOME_VARIABLE}")]
    NoDataDir,
    /// The directory has no identity yet.
    #[error("no identity in {0}: run `communecter init --postal-code <your postal code>` first")]
    NotInitialized(String),
    /// The directory already has an identity.
    #[error("{0} already holds an identity; use another --data-dir to start afresh")]
    AlreadyInitialized(String),
    /// A key file is not what it should be.
    #[error("the key file {path} is malformed: {reason}")]
    BadKeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The operating system refused.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: String,
        /// The error.
        error: std::io::Error,
    },
    /// No randomness from the operating system.
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
}

/// Maps an I/O error on `path` to [`IdentityError::Io`].
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |error| IdentityError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// The data directory of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory given, else `COMMUNECTER_HOME`, else the platform's.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self, IdentityError> {
        let root = explicit
            .or_else(|| std::env::var_os(HOME_VARIABLE).map(PathBuf::from))
            .or_else(|| {
                directories::ProjectDirs::from("org", "Communecter", "communecter")
                    .map(|dirs| dirs.data_dir().to_path_buf())
            })
            .ok_or(IdentityError::NoDataDir)?;
        Ok(Self { root })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store.redb")
    }

    fn author_key_path(&self) -> PathBuf {
        self.root.join("author.key")
    }

    fn network_key_path(&self) -> PathBuf {
        self.root.join("network.key")
    }

    /// Whether an identity was created here.
    pub fn is_initialized(&self) -> bool {
        self.author_key_path().exists()
    }

    /// The lock file a running node holds (an OS file lock).
    pub fn node_lock(&self) -> PathBuf {
        self.root.join("node.lock")
    }

    /// The file where a running node publishes its API address
    /// (`{"api": "http://127.0.0.1:7878", "pid": …}`).
    pub fn api_file(&self) -> PathBuf {
        self.root.join("api.json")
    }

    /// The bearer token of a running node's API, new at each start.
    pub fn token_file(&self) -> PathBuf {
        self.root.join("api.token")
    }

    /// Whether a node holds this data directory right now: the node holds
    /// `node.lock` exclusively; this asks for a shared lock, which other
    /// commands asking the same at the same moment do not prevent.
    pub fn node_running(&self) -> bool {
        let Ok(file) = fs::File::open(self.node_lock()) else {
            return false;
        };
        matches!(file.try_lock_shared(), Err(fs::TryLockError::WouldBlock))
    }

    /// The API address a running node published, if any.
    pub fn published_api(&self) -> Option<String> {
        let text = fs::read_to_string(self.api_file()).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        value["api"].as_str().map(str::to_owned)
    }
}

/// A citizen's keys on one device.
pub struct Identity {
    /// Signs every change.
    pub signing_key: SigningKey,
    /// Seed of the network (libp2p) identity, separate from the author key.
    pub network_seed: [u8; 32],
}

impl Identity {
    /// The author's public key.
    pub fn author(&self) -> AuthorKey {
        AuthorKey::of(&self.signing_key)
    }

    /// The Automerge actor of this device.
    pub fn actor(&self, device: u32) -> Actor {
        Actor {
            author: self.author(),
            device,
        }
    }

    /// Creates fresh keys in `dir` (which is created, mode 0700), refusing
    /// to overwrite an existing identity.
    pub fn create(dir: &DataDir) -> Result<Self, IdentityError> {
        if dir.is_initialized() {
            return Err(IdentityError::AlreadyInitialized(
                dir.root.display().to_string(),
            ));
        }
        create_private_dir(&dir.root)?;
        let author_seed = random_seed()?;
        let network_seed = random_seed()?;
        write_key(&dir.network_key_path(), &network_seed)?;
        // The author key is written last: its presence marks an identity.
        write_key(&dir.author_key_path(), &author_seed)?;
        Ok(Self {
            signing_key: SigningKey::from_bytes(&author_seed),
            network_seed,
        })
    }

    /// Loads the keys of `dir`.
    pub fn load(dir: &DataDir) -> Result<Self, IdentityError> {
        if !dir.is_initialized() {
            return Err(IdentityError::NotInitialized(
                dir.root.display().to_string(),
            ));
        }
        Ok(Self {
            signing_key: SigningKey::from_bytes(&read_key(&dir.author_key_path())?),
            network_seed: read_key(&dir.network_key_path())?,
        })
    }
}

/// 32 random bytes from the operating system.
pub fn random_seed() -> Result<[u8; 32], IdentityError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|error| IdentityError::Random(error.to_string()))?;
    Ok(seed)
}

fn create_private_dir(path: &Path) -> Result<(), IdentityError> {
    fs::create_dir_all(path).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io(path))?;
    }
    Ok(())
}

/// Writes a secret file readable by its owner only.
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), IdentityError> {
    // Written beside, then renamed over: readers see the old file or the
    // new one, never a partial one.
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(io(&temporary))?;
    file.write_all(contents).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    fs::rename(&temporary, path).map_err(io(path))?;
    Ok(())
}

/// The seed of the network identity of `dir`, made on first use: what a
/// relay, which has no author key, needs.
pub fn network_seed(dir: &DataDir) -> Result<[u8; 32], IdentityError> {
    let path = dir.network_key_path();
    if path.exists() {
        return read_key(&path);
    }
    create_private_dir(dir.root())?;
    let seed = random_seed()?;
    write_key(&path, &seed)?;
    Ok(seed)
}

fn write_key(path: &Path, seed: &[u8; 32]) -> Result<(), IdentityError> {
    write_secret(path, format!("{}\n", hex(seed)).as_bytes())
}

fn read_key(path: &Path) -> Result<[u8; 32], IdentityError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    // Written in lowercase; read in either case, as an editor may leave it.
    parse_hex(&text.trim().to_ascii_lowercase()).ok_or_else(|| IdentityError::BadKeyFile {
        path: path.display().to_string(),
        reason: "expected 64 hexadecimal digits".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command asking whether a node runs does not make another command,
    /// asking at the same moment, believe one does.
    #[test]
    fn asking_whether_a_node_runs_does_not_make_it_seem_to() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(temp.path().join("home"))).unwrap();
        fs::create_dir_all(dir.root()).unwrap();
        assert!(!dir.node_running(), "no lock file");
        let lock = fs::File::create(dir.node_lock()).unwrap();
        assert!(!dir.node_running(), "nobody holds it");
        // Another command, asking: a shared lock.
        let asking = fs::File::open(dir.node_lock()).unwrap();
        asking.lock_shared().unwrap();
        assert!(!dir.node_running(), "another command asking is not a node");
        drop(asking);
        // A node: the exclusive lock.
        lock.lock().unwrap();
        assert!(dir.node_running());
    }

    #[test]
    fn keys_are_created_once_private_and_reloaded() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(temp.path().join("home"))).unwrap();
        let created = Identity::create(&dir).unwrap();
        assert!(matches!(
            Identity::create(&dir),
            Err(IdentityError::AlreadyInitialized(_))
        ));
        let loaded = Identity::load(&dir).unwrap();
        assert_eq!(created.author(), loaded.author());
        assert_eq!(created.network_seed, loaded.network_seed);
        assert_ne!(
            created.signing_key.to_bytes(),
            created.network_seed,
            "the network key is separate"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in ["author.key", "network.key"] {
                let mode = fs::metadata(dir.root().join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
        }
    }

    #[test]
    fn a_corrupt_key_file_is_reported() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(temp.path().to_path_buf())).unwrap();
        Identity::create(&dir).unwrap();
        let key = dir.root().join("author.key");
        let written = fs::read_to_string(&key).unwrap();
        // 64 bytes, but not 64 digits: refused, without slicing a
        // character in two.
        for bad in ["not hex", &"é".repeat(32), &written[..40]] {
            fs::write(&key, bad).unwrap();
            assert!(matches!(
                Identity::load(&dir),
                Err(IdentityError::BadKeyFile { .. })
            ));
        }
        fs::write(&key, written.to_uppercase()).unwrap();
        assert!(Identity::load(&dir).is_ok(), "either case is read");
    }
}
