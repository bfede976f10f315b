//! Whole-or-nothing file writes with the right permissions.
//!
//! Every file k8s-hard writes (certificates, keys, kubeconfigs, state) goes through
//! [`write_file`]: the bytes go to a temporary file in the same folder, which is given its final
//! mode, flushed to disk and renamed over the target. A reader (or a crash) sees the old file or
//! the new one, never half of one. Secrets are written [`Mode::Secret`] (0600) and their folder
//! is created (or tightened to) 0700 by [`ensure_private_dir`].
//!
//! What it does not do: locking between concurrent writers (the last rename wins), or anything
//! on non-Unix systems.
//!
//! # Example
//! ```
//! use k8s_files::{ensure_private_dir, write_file, Mode};
//! # fn main() -> Result<(), k8s_files::Error> {
//! let tmp = tempfile::tempdir().map_err(|e| k8s_files::Error::Io { path: ".".into(), source: e })?;
//! let dir = tmp.path().join("pki");
//! ensure_private_dir(&dir)?;
//! write_file(&dir.join("ca-key.pem"), b"-----BEGIN PRIVATE KEY-----\n", Mode::Secret)?;
//! write_file(&dir.join("ca.pem"), b"-----BEGIN CERTIFICATE-----\n", Mode::Public)?;
//! # Ok(()) }
//! ```

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and its parents) if missing and sets it to 0700.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be created or its mode set.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(io(dir))
}

/// Writes `contents` to `path` whole: temp file in the same folder, mode set, fsync, rename.
///
/// The parent folder must exist. An existing file at `path` is replaced atomically; its old
/// mode does not carry over.
///
/// # Errors
/// [`Error::Io`] naming the file; the target is then untouched and the temp file removed.
pub fn write_file(path: &Path, contents: &[u8], mode: Mode) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // pid + counter: unique across processes and across threads of this one.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut f: File = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode.bits())
            .open(&tmp)
            .map_err(io(&tmp))?;
        // The umask may have narrowed the mode at creation; set it exactly.
        f.set_permissions(Permissions::from_mode(mode.bits()))
            .map_err(io(&tmp))?;
        f.write_all(contents).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Like [`write_file`], but leaves the file alone when it already holds exactly `contents`
/// with `mode`. Returns whether it wrote.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_if_changed(path: &Path, contents: &[u8], mode: Mode) -> Result<bool> {
    let same_bytes = fs::read(path).is_ok_and(|old| old == contents);
    let same_mode = fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == mode.bits());
    if same_bytes && same_mode {
        return Ok(false);
    }
    write_file(path, contents, mode)?;
    Ok(true)
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
}
