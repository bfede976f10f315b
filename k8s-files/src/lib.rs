//! Whole-or-nothing file writes with the right permissions, one writer per folder.
//!
//! Every file k8s-hard writes (certificates, keys, kubeconfigs, state) goes through
//! [`write_file`] or, many at once, [`write_files`]: the bytes go to a temporary file in the same
//! folder (created exclusively: never through a symlink, never over another file), which is
//! given its final mode, flushed to disk and renamed over the target; then the folder itself is
//! flushed, so that the rename survives a power loss too. A reader (or a crash) sees the old
//! file or the new one, never half of one. Secrets are written [`Mode::Secret`] (0600) and their
//! folder is created (or tightened to) 0700 by [`ensure_private_dir`]; [`create_private_dir`]
//! makes a missing folder 0700 and leaves an existing one alone.
//!
//! Around the writes:
//! - [`DirLock`]: one writing process per folder; a second one is refused at once, told the
//!   holder's PID and command. The kernel drops the lock when its holder dies.
//! - [`FileLock`]: one read-modify-write at a time of a file shared with other processes
//!   (`~/.ssh/known_hosts`), waiting for the others.
//! - [`tighten`]: brings existing secret files and folders (made by hand, by an older version,
//!   by a heredoc) down to 0600 / 0700, and reports each change.
//! - [`remove_temp_files_on_interrupt`]: Ctrl-C lets the write in progress finish and exits
//!   130, leaving no temp file; [`sweep_temp_files`] removes those a killed process left.
//!
//! What it does not do: anything on non-Unix systems, or stop processes that do not take the
//! lock.
//!
//! # Example
//! ```
//! use k8s_files::{DirLock, FileWrite, Mode, ensure_private_dir, write_file, write_files};
//! # fn main() -> Result<(), k8s_files::Error> {
//! # let tmp = tempfile::tempdir().map_err(|e| k8s_files::Error::Io { path: ".".into(), source: e })?;
//! let cluster = tmp.path().join("cluster");
//! let _lock = DirLock::acquire(&cluster, "my-tool generate")?;
//! let dir = cluster.join("pki");
//! ensure_private_dir(&dir)?;
//! write_file(&dir.join("ca-key.pem"), b"-----BEGIN PRIVATE KEY-----\n", Mode::Secret)?;
//! // Many files: written and flushed in parallel, renamed in order, one folder flush.
//! write_files(&[
//!     FileWrite::new(&dir.join("admin-key.pem"), b"-----BEGIN PRIVATE KEY-----\n", Mode::Secret),
//!     FileWrite::new(&dir.join("admin.pem"), b"-----BEGIN CERTIFICATE-----\n", Mode::Public),
//! ])?;
//! # Ok(()) }
//! ```

mod lock;
mod modes;
mod temp;

pub use lock::{DirLock, FileLock, Holder, LOCK_FILE_NAME};
pub use modes::{PrivatePath, Tightened, tighten};
pub use temp::{remove_temp_files, remove_temp_files_on_interrupt, sweep_temp_files};

use std::collections::BTreeSet;
use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Errors from writing files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the folder's [`DirLock`].
    #[error("{dir} is in use by {}; wait for it to finish (a lock of a process that has ended is released by itself)", .holder.as_ref().map_or_else(|| "another process".to_string(), |h| h.to_string()))]
    Locked {
        /// The locked folder.
        dir: PathBuf,
        /// Who holds it, when its record could be read.
        holder: Option<Holder>,
    },
    /// A secret file or folder is a symbolic link, or belongs to another user: it is neither
    /// followed nor changed.
    #[error(
        "{path} {reason}: a secret must be a file or folder of the user running this, not a link: refusing to use or change it"
    )]
    UnsafeSecret {
        /// The link, or the file or folder of another user.
        path: PathBuf,
        /// What it is: `is a symbolic link to …`, `is owned by uid …`.
        reason: String,
    },
    /// The signal handler could not be installed.
    #[error("cannot handle Ctrl-C: {reason}")]
    Signal {
        /// Why.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 0600: private keys, kubeconfigs with embedded keys, encryption keys, state with secrets.
    Secret,
    /// 0644: certificates and other public material.
    Public,
}

impl Mode {
    /// The Unix permission bits.
    pub fn bits(self) -> u32 {
        match self {
            Mode::Secret => 0o600,
            Mode::Public => 0o644,
        }
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and its parents) if missing and sets it to 0700, keeping its setgid bit (which
/// only gives new files the folder's group). A folder it creates is flushed into its parent,
/// so that files later renamed into it survive a power loss.
///
/// Meant for folders the caller owns (`pki/`); for one that may be the user's own, see
/// [`create_private_dir`].
///
/// # Errors
/// [`Error::Io`] when the folder cannot be created or its mode set.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    let created = !dir.is_dir();
    fs::create_dir_all(dir).map_err(io(dir))?;
    let setgid = fs::metadata(dir).map_err(io(dir))?.permissions().mode() & 0o2000;
    fs::set_permissions(dir, Permissions::from_mode(0o700 | setgid)).map_err(io(dir))?;
    if created {
        sync_dir(&parent_of(dir))?;
    }
    Ok(())
}

/// Creates `dir` (and its missing parents) 0700 when it is missing, and flushes it into its
/// parent; a folder that exists is left as it is (it may be the user's own, shared on
/// purpose). Returns whether it created it.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be created.
pub fn create_private_dir(dir: &Path) -> Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    sync_dir(&parent_of(dir))?;
    Ok(true)
}

pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Flushes a folder's entries to disk: after a rename into it, the new name survives a
/// power loss.
///
/// # Errors
/// [`Error::Io`] naming the folder.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The temp file for `path`, written, with its mode, flushed; removed again on failure.
fn prepare(path: &Path, contents: &[u8], mode: Mode, writing: &temp::Writing) -> Result<PathBuf> {
    let (tmp, mut file) = temp::create_beside(path, mode, writing)?;
    let result = (|| {
        // The umask may have narrowed the mode at creation; set it exactly.
        file.set_permissions(Permissions::from_mode(mode.bits()))?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            temp::discard(&tmp);
            Err(io(&tmp)(e))
        }
    }
}

/// Writes `contents` to `path` whole: temp file in the same folder, mode set, fsync, rename,
/// fsync of the folder.
///
/// The parent folder must exist. An existing file at `path` is replaced atomically (a symlink
/// there is replaced, not followed); its old mode does not carry over.
///
/// # Errors
/// [`Error::Io`] naming the file; the target is then untouched and the temp file removed.
pub fn write_file(path: &Path, contents: &[u8], mode: Mode) -> Result<()> {
    let writing = temp::writing();
    let tmp = prepare(path, contents, mode, &writing)?;
    if let Err(e) = fs::rename(&tmp, path) {
        temp::discard(&tmp);
        return Err(io(path)(e));
    }
    temp::forget(&tmp);
    drop(writing);
    sync_dir(&parent_of(path))
}

/// Like [`write_file`], but leaves the file alone when it already holds exactly `contents`
/// with `mode`. Returns whether it wrote.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_if_changed(path: &Path, contents: &[u8], mode: Mode) -> Result<bool> {
    if unchanged(path, contents, mode) {
        return Ok(false);
    }
    write_file(path, contents, mode)?;
    Ok(true)
}

fn unchanged(path: &Path, contents: &[u8], mode: Mode) -> bool {
    let same_bytes = fs::read(path).is_ok_and(|old| old == contents);
    same_bytes && fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == mode.bits())
}

/// One file of a [`write_files`] batch.
#[derive(Debug, Clone, Copy)]
pub struct FileWrite<'a> {
    /// Where it goes; its folder must exist.
    pub path: &'a Path,
    /// Its bytes.
    pub contents: &'a [u8],
    /// Its mode.
    pub mode: Mode,
}

impl<'a> FileWrite<'a> {
    /// A file to write.
    pub fn new(path: &'a Path, contents: &'a [u8], mode: Mode) -> Self {
        FileWrite {
            path,
            contents,
            mode,
        }
    }
}

/// The most temp files made and flushed at once: flushes wait on the disk, not the CPU, and
/// the journal commits concurrent ones together.
const WRITERS: usize = 16;

/// Writes many files with [`write_file`]'s guarantees, fast: every temp file is written and
/// flushed in parallel, then they are renamed into place in the order given, then each folder
/// involved is flushed once.
///
/// A crash (or an error) during the renames leaves the files before it new and the rest old,
/// so order them so that every such prefix is a state the reader accepts (e.g. a key before
/// its certificate).
///
/// # Errors
/// [`Error::Io`] naming the file. When a temp file cannot be made no target is touched; when a
/// rename fails, the files before it are already in place. No temp file is left either way.
pub fn write_files(files: &[FileWrite<'_>]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let chunk = files.len().div_ceil(WRITERS.min(files.len()));
    // One hold for the whole batch, shared by its writer threads.
    let hold = temp::writing();
    let writing = &hold;
    let prepared: Vec<Result<PathBuf>> = std::thread::scope(|s| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|f| prepare(f.path, f.contents, f.mode, writing))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join().unwrap_or_else(|_| {
                    vec![Err(Error::Io {
                        path: PathBuf::from("."),
                        source: std::io::Error::other("a writer thread panicked"),
                    })]
                })
            })
            .collect()
    });
    let mut temps = Vec::with_capacity(files.len());
    let mut first_error = None;
    for result in prepared {
        match result {
            Ok(tmp) => temps.push(tmp),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        temps.iter().for_each(|t| temp::discard(t));
        return Err(e);
    }
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for (i, (file, tmp)) in files.iter().zip(&temps).enumerate() {
        if let Err(e) = fs::rename(tmp, file.path) {
            temps[i..].iter().for_each(|t| temp::discard(t));
            // What was renamed so far stays; make that much durable before reporting.
            for dir in &dirs {
                let _ = sync_dir(dir);
            }
            return Err(io(file.path)(e));
        }
        temp::forget(tmp);
        dirs.insert(parent_of(file.path));
    }
    drop(hold);
    for dir in &dirs {
        sync_dir(dir)?;
    }
    Ok(())
}

/// [`write_files`] for the files whose bytes or mode differ from what is on disk; returns the
/// paths it wrote, in order.
///
/// # Errors
/// As [`write_files`].
pub fn write_files_if_changed(files: &[FileWrite<'_>]) -> Result<Vec<PathBuf>> {
    let changed: Vec<FileWrite<'_>> = files
        .iter()
        .filter(|f| !unchanged(f.path, f.contents, f.mode))
        .copied()
        .collect();
    write_files(&changed)?;
    Ok(changed.iter().map(|f| f.path.to_path_buf()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_with_exact_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let key = dir.join("k.pem");
        write_file(&key, b"secret", Mode::Secret).unwrap();
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_file(&key, b"public now", Mode::Public).unwrap();
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(fs::read(&key).unwrap(), b"public now");
        // no temp files left behind
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn failure_names_the_file_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("no/such/dir/f");
        let err = write_file(&missing, b"x", Mode::Secret).unwrap_err();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn write_if_changed_skips_identical_files() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        assert!(write_if_changed(&f, b"a", Mode::Secret).unwrap());
        assert!(!write_if_changed(&f, b"a", Mode::Secret).unwrap());
        assert!(write_if_changed(&f, b"a", Mode::Public).unwrap());
        assert!(write_if_changed(&f, b"b", Mode::Public).unwrap());
        assert_eq!(fs::read(&f).unwrap(), b"b");
    }

    #[test]
    fn tightens_an_existing_folder() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(tmp.path()).unwrap();
        assert_eq!(
            fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn a_folder_keeps_its_setgid_bit_and_one_that_exists_is_left_as_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, Permissions::from_mode(0o2775)).unwrap();
        ensure_private_dir(&shared).unwrap();
        assert_eq!(
            fs::metadata(&shared).unwrap().permissions().mode() & 0o7777,
            0o2700
        );
        let project = tmp.path().join("project");
        fs::create_dir(&project).unwrap();
        fs::set_permissions(&project, Permissions::from_mode(0o2755)).unwrap();
        assert!(!create_private_dir(&project).unwrap());
        assert_eq!(
            fs::metadata(&project).unwrap().permissions().mode() & 0o7777,
            0o2755
        );
        let new = tmp.path().join("a/b");
        assert!(create_private_dir(&new).unwrap());
        assert_eq!(
            fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn batch_writes_every_file_with_its_mode_and_leaves_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        ensure_private_dir(&a).unwrap();
        ensure_private_dir(&b).unwrap();
        let names: Vec<(PathBuf, Vec<u8>, Mode)> = (0..100)
            .map(|i| {
                let dir = if i % 2 == 0 { &a } else { &b };
                let mode = if i % 3 == 0 {
                    Mode::Public
                } else {
                    Mode::Secret
                };
                (
                    dir.join(format!("f{i}")),
                    format!("file {i}").into_bytes(),
                    mode,
                )
            })
            .collect();
        let batch: Vec<FileWrite> = names
            .iter()
            .map(|(p, c, m)| FileWrite::new(p, c, *m))
            .collect();
        write_files(&batch).unwrap();
        for (p, c, m) in &names {
            assert_eq!(&fs::read(p).unwrap(), c);
            assert_eq!(
                fs::metadata(p).unwrap().permissions().mode() & 0o777,
                m.bits()
            );
        }
        assert_eq!(fs::read_dir(&a).unwrap().count(), 50);
        assert_eq!(fs::read_dir(&b).unwrap().count(), 50);
        // again: only what differs is written
        assert!(write_files_if_changed(&batch).unwrap().is_empty());
        let changed = [FileWrite::new(&names[0].0, b"new", Mode::Secret)];
        assert_eq!(
            write_files_if_changed(&changed).unwrap(),
            vec![names[0].0.clone()]
        );
    }

    #[test]
    fn batch_touches_nothing_when_a_file_cannot_be_made() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good");
        let bad = tmp.path().join("missing/bad");
        let err = write_files(&[
            FileWrite::new(&good, b"g", Mode::Secret),
            FileWrite::new(&bad, b"b", Mode::Secret),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn locked_error_names_the_holder() {
        let err = Error::Locked {
            dir: PathBuf::from("/c"),
            holder: Some(Holder {
                pid: 42,
                command: "k8s-hard bundle".into(),
            }),
        };
        assert!(
            err.to_string()
                .starts_with("/c is in use by PID 42 (`k8s-hard bundle`); wait"),
            "{err}"
        );
    }
}
