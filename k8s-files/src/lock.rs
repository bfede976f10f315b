//! One writer per folder: an advisory lock on `DIR/.k8s-hard.lock` that names its holder; and
//! one read-modify-write at a time on a single shared file ([`FileLock`]).

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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
/// The holder removes the file when it releases the lock (before unlocking it), and a process
/// that wins the lock on a file no longer at that path tries again, so the folder is left as it
/// was and two processes never hold two files of the same name. A process killed while holding
/// it leaves the file, with its PID, but not the lock. Only processes that take this lock are
/// kept out; it does not stop an editor or `rm`.
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
        crate::create_private_dir(dir)?;
        let path = dir.join(LOCK_FILE_NAME);
        // A holder removes the file before it unlocks, so a lock won on a file that is no
        // longer (or no longer the one) at `path` is void: open it again.
        for _ in 0..100 {
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
            let locked = file.metadata().map_err(io(&path))?;
            match std::fs::symlink_metadata(&path) {
                Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {}
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            }
            let record = format!("{}\n{}\n", std::process::id(), command.replace('\n', " "));
            file.set_len(0).map_err(io(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io(&path))?;
            file.write_all(record.as_bytes()).map_err(io(&path))?;
            return Ok(DirLock { _file: file, path });
        }
        Err(Error::Io {
            path,
            source: std::io::Error::other("the lock file keeps being replaced"),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The holder recorded in `dir`'s lock file, if any process holds the lock now. (It takes a
    /// shared lock for an instant: an [`acquire`](Self::acquire) at that very moment is refused.)
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

impl Drop for DirLock {
    fn drop(&mut self) {
        // Still locked here (the file closes after this): no one can be holding a newer file.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An exclusive lock on one file that is rewritten by rename ([`crate::write_file`]) or
/// appended to, held until dropped: for a read-modify-write of a file that other processes
/// change too (`~/.ssh/known_hosts`), so that none of them loses another's change.
///
/// It is an `flock(2)` on the file itself, so no lock file is left beside it. A rename puts a
/// new file at the path while a waiter still waits on the old one: a lock won on a file that is
/// no longer at the path is dropped and taken again on the new one. Symbolic links are
/// followed (the lock is on the file they point to). A missing file is created empty (0600),
/// and its folder flushed, so that there is something to lock; its folder must exist. Only
/// processes that take this lock are kept out.
///
/// # Example
/// ```
/// use k8s_files::{FileLock, Mode, write_file};
/// # fn main() -> Result<(), k8s_files::Error> {
/// # let tmp = tempfile::tempdir().map_err(|e| k8s_files::Error::Io { path: ".".into(), source: e })?;
/// let known_hosts = tmp.path().join("known_hosts");
/// let lock = FileLock::acquire(&known_hosts)?; // waits while another process holds it
/// let mut text = std::fs::read_to_string(&known_hosts).unwrap_or_default();
/// text.push_str("node-1 ssh-ed25519 AAAA...\n");
/// write_file(&known_hosts, text.as_bytes(), Mode::Secret)?;
/// drop(lock);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// How long [`FileLock::acquire`] goes on when every lock it wins is on a file just replaced.
const REPLACED_FOR: std::time::Duration = std::time::Duration::from_secs(120);

impl FileLock {
    /// Waits for the lock on `path` and takes it.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened, created or locked.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        // Each writer replaces the file (rename), so a lock won on the old one is void: open
        // it again. Every such retry means another writer finished, so waiters make progress;
        // what bounds them is time, not a count (eight threads rewriting one file at once
        // outran a count of 100 on a loaded machine).
        let deadline = std::time::Instant::now() + REPLACED_FOR;
        while std::time::Instant::now() < deadline {
            let (file, created) = open_or_create(path)?;
            if created {
                crate::sync_dir(&crate::parent_of(path))?;
            }
            file.lock().map_err(io(path))?;
            let locked = file.metadata().map_err(io(path))?;
            match std::fs::metadata(path) {
                Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {
                    return Ok(FileLock { _file: file });
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(path)(e)),
            }
        }
        Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "the file kept being replaced for {} s",
                REPLACED_FOR.as_secs()
            )),
        })
    }
}

/// The file at `path`, opened to be locked (read-write where allowed: NFS locks need it), or
/// created empty (0600) when missing; and whether it was created.
fn open_or_create(path: &Path) -> Result<(File, bool)> {
    loop {
        let existing = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => OpenOptions::new().read(true).open(path),
                _ => Err(e),
            });
        match existing {
            Ok(file) => return Ok((file, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(path)(e)),
        }
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(file) => return Ok((file, true)),
            // Another process made it meanwhile: open that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(path)(e)),
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
        assert!(
            !dir.join(LOCK_FILE_NAME).exists(),
            "released: the file is gone"
        );
        let again = DirLock::acquire(&dir, "k8s-hard up").unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert_eq!(text, format!("{me}\nk8s-hard up\n"));
    }

    #[test]
    fn a_record_without_a_lock_is_not_a_lock() {
        let tmp = tempfile::tempdir().unwrap();
        // What a killed holder leaves: a longer record than the next holder's.
        std::fs::write(
            tmp.path().join(LOCK_FILE_NAME),
            "999999999\nk8s-hard bundle --a-long-command-line\n",
        )
        .unwrap();
        assert_eq!(DirLock::holder(tmp.path()).unwrap(), None);
        let lock = DirLock::acquire(tmp.path(), "k8s-hard up").unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text, format!("{}\nk8s-hard up\n", std::process::id()));
    }

    #[test]
    fn many_threads_one_holder_at_a_time() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if let Ok(lock) = DirLock::acquire(dir, "t") {
                            most.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
                            inside.fetch_sub(1, SeqCst);
                            drop(lock);
                        }
                    }
                });
            }
        });
        assert_eq!(most.load(SeqCst), 1);
        assert!(!dir.join(LOCK_FILE_NAME).exists());
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
