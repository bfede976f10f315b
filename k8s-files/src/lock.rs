//! One writer per folder: an advisory lock on `DIR/.k8s-hard.lock` that names its holder.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result, io};

/// The lock file's name inside the locked folder.
pub const LOCK_FILE_NAME: &str = ".k8s-hard.lock";

/// Who holds a [`DirLock`], as it wrote itself into the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's process ID.
    pub pid: u32,
    /// The holder's command line (or whatever it passed to [`DirLock::acquire`]).
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PID {} (`{}`)", self.pid, self.command)
    }
}

/// An exclusive lock on a folder, held until dropped.
///
/// It is an `flock(2)` on `DIR/.k8s-hard.lock` (std's [`File::try_lock`]), so the kernel
/// releases it when the holding process ends in any way, SIGKILL and power loss included: a
/// lock file left behind by a dead process is not a lock. The holder writes its PID and
/// command into the file so that a refused process can say who is in the way.
///
/// The file stays when the lock is released: deleting it would let two processes lock two
/// different files of the same name. Only processes that take this lock are kept out; it does
/// not stop an editor or `rm`.
///
/// # Example
/// ```
/// use k8s_files::{DirLock, Error};
/// # fn main() -> Result<(), Error> {
/// # let tmp = tempfile::tempdir().map_err(|e| Error::Io { path: ".".into(), source: e })?;
/// let dir = tmp.path().join("cluster");
/// let lock = DirLock::acquire(&dir, "k8s-hard bundle")?;
/// // A second acquire, from this process or another, is refused and names the holder.
/// match DirLock::acquire(&dir, "k8s-hard pki generate") {
///     Err(Error::Locked { holder: Some(h), .. }) => assert_eq!(h.pid, std::process::id()),
///     other => panic!("{other:?}"),
/// }
/// drop(lock);
/// DirLock::acquire(&dir, "k8s-hard pki generate")?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir` (created 0700 with its parents when missing) without waiting,
    /// and records this process's PID and `command` in the lock file (0600).
    ///
    /// # Errors
    /// [`Error::Locked`] when another holder has it, naming that holder when it could be
    /// read; [`Error::Io`] when the folder or the lock file cannot be made or opened.
    pub fn acquire(dir: &Path, command: &str) -> Result<DirLock> {
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io(dir))?;
            // The new folder's own entry, for the files renamed into it later.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::sync_dir(parent)?;
            }
        }
        let path = dir.join(LOCK_FILE_NAME);
        // No truncation at open: the holder's PID must survive a refused opener.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                    holder: read_holder(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => return Err(Error::Io { path, source }),
        }
        let record = format!("{}\n{}\n", std::process::id(), command.replace('\n', " "));
        file.set_len(0).map_err(io(&path))?;
        file.seek(SeekFrom::Start(0)).map_err(io(&path))?;
        file.write_all(record.as_bytes()).map_err(io(&path))?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The holder recorded in `dir`'s lock file, if any process holds the lock now.
    ///
    /// # Errors
    /// [`Error::Io`] when the lock file exists but cannot be opened.
    pub fn holder(dir: &Path) -> Result<Option<Holder>> {
        let path = dir.join(LOCK_FILE_NAME);
        let mut file = match OpenOptions::new().read(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(None),
            Err(TryLockError::WouldBlock) => Ok(read_holder(&mut file)),
            Err(TryLockError::Error(source)) => Err(Error::Io { path, source }),
        }
    }
}

/// The holder's record; it writes it right after locking, so an empty file is read again a
/// few times before giving up (the lock itself was already refused: this only names it).
fn read_holder(file: &mut File) -> Option<Holder> {
    for attempt in 0..20 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok()
            && file.read_to_string(&mut text).is_ok()
            && let Some(holder) = parse_holder(&text)
        {
            return Some(holder);
        }
        if attempt < 19 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    None
}

fn parse_holder(text: &str) -> Option<Holder> {
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let command = lines.next()?.trim().to_string();
    Some(Holder { pid, command })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn second_acquire_is_refused_with_the_holder_then_allowed_after_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/cluster");
        let lock = DirLock::acquire(&dir, "k8s-hard bundle").unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::metadata(lock.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let err = DirLock::acquire(&dir, "k8s-hard up").unwrap_err();
        let me = std::process::id();
        let text = err.to_string();
        assert!(text.contains(&format!("PID {me}")), "{text}");
        assert!(text.contains("`k8s-hard bundle`"), "{text}");
        assert_eq!(
            DirLock::holder(&dir).unwrap(),
            Some(Holder {
                pid: me,
                command: "k8s-hard bundle".into()
            })
        );
        drop(lock);
        assert_eq!(DirLock::holder(&dir).unwrap(), None);
        let again = DirLock::acquire(&dir, "k8s-hard up").unwrap();
        // the record is the new holder's, not a mix with the longer old one
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert_eq!(text, format!("{me}\nk8s-hard up\n"));
    }

    #[test]
    fn a_record_without_a_lock_is_not_a_lock() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join(LOCK_FILE_NAME),
            "999999999\nk8s-hard bundle\n",
        )
        .unwrap();
        assert_eq!(DirLock::holder(tmp.path()).unwrap(), None);
        DirLock::acquire(tmp.path(), "k8s-hard bundle").unwrap();
    }

    #[test]
    fn parses_only_whole_records() {
        assert_eq!(parse_holder(""), None);
        assert_eq!(parse_holder("12"), None);
        assert_eq!(parse_holder("x\ny\n"), None);
        assert_eq!(
            parse_holder("12\nk8s-hard up --plan\n"),
            Some(Holder {
                pid: 12,
                command: "k8s-hard up --plan".into()
            })
        );
    }
}
