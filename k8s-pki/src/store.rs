//! The PKI folder on disk, with cfssljson's file names: `<name>.pem` and `<name>-key.pem`.
//!
//! This is the crate's only filesystem code; everything else works on memory. Writes are
//! crash-safe ([`save`], [`recover`]) and batched: a PKI of a thousand nodes is written in one
//! parallel pass with one folder flush.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use k8s_files::{FileWrite, Mode, ensure_private_dir, write_file, write_files};

use crate::catalog::CertSpec;
use crate::error::{Error, Result};
use crate::material::{Bundle, Change, Existing, ExistingPair, SecretPem};

/// `<dir>/<name>.pem`.
pub fn cert_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pem"))
}

/// `<dir>/<name>-key.pem`.
pub fn key_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}-key.pem"))
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads whatever exists in `dir` for the given specs. A missing folder or file is not an
/// error (it is simply absent); an unreadable one is.
///
/// # Errors
/// [`Error::Io`] naming the unreadable file.
pub fn load(dir: &Path, specs: &[CertSpec]) -> Result<Existing> {
    let mut existing = Existing::new();
    for spec in specs {
        let pair = ExistingPair {
            cert_pem: read_optional(&cert_path(dir, &spec.name))?,
            key_pem: read_optional(&key_path(dir, &spec.name))?.map(SecretPem::new),
        };
        if pair.cert_pem.is_some() || pair.key_pem.is_some() {
            existing.insert(spec.name.clone(), pair);
        }
    }
    Ok(existing)
}

/// The file that makes writing a new CA all-or-nothing: the new certificate and key in one
/// file (0600), renamed into `pki/` before `ca.pem` and `ca-key.pem` are replaced and removed
/// after. Its presence means a run was interrupted in between; [`recover`] finishes it.
pub const CA_PENDING: &str = ".ca-pending.pem";

/// Writes what changed in `bundle` under `dir` (made 0700): keys 0600, certificates 0644,
/// each file whole and durable (see [`k8s_files::write_files`]: written and flushed in
/// parallel, renamed, one folder flush). Kept files are not touched. Returns the paths written.
///
/// A new CA is written so that a crash at any point leaves the old pair, or the new pair, or
/// [`CA_PENDING`] from which [`recover`] makes the new pair: never a key of one CA beside the
/// certificate of another. Each leaf's key is renamed before its certificate, and leaves only
/// after the CA, so an interrupted run leaves pairs the next reconcile repairs.
///
/// # Errors
/// [`Error::Write`] naming the file.
pub fn save(dir: &Path, bundle: &Bundle) -> Result<Vec<PathBuf>> {
    ensure_private_dir(dir)?;
    let mut files: Vec<(PathBuf, &[u8], Mode)> = Vec::new();
    let mut new_ca = None;
    for item in bundle.items.iter().filter(|i| i.change != Change::Kept) {
        if item.name == crate::CA && item.key_changed {
            new_ca = Some(item);
        }
        if item.key_changed {
            files.push((
                key_path(dir, &item.name),
                item.key_pem.expose().as_bytes(),
                Mode::Secret,
            ));
        }
        files.push((
            cert_path(dir, &item.name),
            item.cert_pem.as_bytes(),
            Mode::Public,
        ));
    }
    let pending = dir.join(CA_PENDING);
    if let Some(ca) = new_ca {
        let both = zeroize::Zeroizing::new(format!("{}{}", ca.cert_pem, ca.key_pem.expose()));
        write_file(&pending, both.as_bytes(), Mode::Secret)?;
    }
    let batch: Vec<FileWrite> = files
        .iter()
        .map(|(path, bytes, mode)| FileWrite::new(path, bytes, *mode))
        .collect();
    write_files(&batch)?;
    if new_ca.is_some() {
        remove_and_sync(&pending)?;
    }
    Ok(files.into_iter().map(|(path, _, _)| path).collect())
}

fn remove_and_sync(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(k8s_files::sync_dir(dir)?)
}

/// What [`recover`] repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// A run was interrupted while writing a new CA: `ca.pem` and `ca-key.pem` are now the CA
    /// that run made (certificates it had not written yet are re-issued by the next reconcile).
    FinishedCaWrite,
    /// `ca-key.pem` was there without `ca.pem` and without any certificate beside it (an
    /// interrupted first run of an older version): it never signed anything that was kept, so
    /// it was moved aside (not deleted) and a new CA will be made.
    SetAsideLoneCaKey {
        /// Where the key is now.
        moved_to: PathBuf,
    },
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovery::FinishedCaWrite => write!(
                f,
                "finished writing the CA of an interrupted run (ca.pem and ca-key.pem now match)"
            ),
            Recovery::SetAsideLoneCaKey { moved_to } => write!(
                f,
                "ca-key.pem had no ca.pem and no certificate was signed with it (an interrupted first run): moved it to {}",
                moved_to.display()
            ),
        }
    }
}

/// Whether an interrupted run left a CA to finish ([`CA_PENDING`]); [`recover`] does it.
pub fn has_pending_ca(dir: &Path) -> bool {
    dir.join(CA_PENDING).is_file()
}

/// Refuses a folder whose CA an interrupted run left half-written ([`CA_PENDING`]): what
/// every reader of the CA that does not finish it with [`recover`] (a check, a kubeconfig, a
/// distribution of the files) calls before [`load`] or reading `ca.pem`.
///
/// # Errors
/// [`Error::CaPending`] naming the pending file.
pub fn check_no_pending_ca(dir: &Path) -> Result<()> {
    let path = dir.join(CA_PENDING);
    match fs::symlink_metadata(&path) {
        Ok(_) => Err(Error::CaPending { path }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { path, source }),
    }
}

/// Repairs what an interrupted [`save`] (or an older version's interrupted first run) left in
/// `dir`, before [`load`]: finishes a pending CA write, and moves aside a `ca-key.pem` that has
/// no `ca.pem` when no certificate in `dir` exists that it could have signed. Call it while
/// holding the folder's lock; a folder with nothing to repair is left alone.
///
/// # Errors
/// [`Error::CaUnusable`] when the pending file is damaged (it is then kept for inspection);
/// [`Error::Io`] / [`Error::Write`] naming the file.
pub fn recover(dir: &Path) -> Result<Option<Recovery>> {
    let pending = dir.join(CA_PENDING);
    if let Some(both) = read_optional(&pending)? {
        let both = zeroize::Zeroizing::new(both);
        let (cert, key) = split_pending(&both).ok_or_else(|| Error::CaUnusable {
            reason: format!(
                "{} (left by an interrupted run) does not hold a certificate and a key",
                pending.display()
            ),
        })?;
        let ca_key = key_path(dir, crate::CA);
        let ca_cert = cert_path(dir, crate::CA);
        write_files(&[
            FileWrite::new(&ca_key, key.as_bytes(), Mode::Secret),
            FileWrite::new(&ca_cert, cert.as_bytes(), Mode::Public),
        ])?;
        remove_and_sync(&pending)?;
        return Ok(Some(Recovery::FinishedCaWrite));
    }
    let ca_key = key_path(dir, crate::CA);
    if ca_key.is_file() && !cert_path(dir, crate::CA).exists() && !any_certificate(dir)? {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let moved_to = dir.join(format!("ca-key.pem.unused-{stamp}"));
        fs::rename(&ca_key, &moved_to).map_err(|source| Error::Io {
            path: ca_key.clone(),
            source,
        })?;
        k8s_files::sync_dir(dir)?;
        return Ok(Some(Recovery::SetAsideLoneCaKey { moved_to }));
    }
    Ok(None)
}

/// `(certificate, key)` PEM of the pending file: the certificate block first, the key after.
fn split_pending(both: &str) -> Option<(&str, &str)> {
    const END: &str = "-----END CERTIFICATE-----";
    if !both.starts_with("-----BEGIN CERTIFICATE-----") {
        return None;
    }
    let end = both.find(END)? + END.len();
    let end = if both[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    let (cert, key) = both.split_at(end);
    key.contains("PRIVATE KEY-----").then_some((cert, key))
}

/// Whether `dir` holds any certificate file (`<name>.pem`).
fn any_certificate(dir: &Path) -> Result<bool> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".pem") && !name.ends_with("-key.pem") && !name.starts_with('.') {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_file_splits_into_certificate_and_key() {
        let both = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";
        let (cert, key) = split_pending(both).unwrap();
        assert_eq!(
            cert,
            "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"
        );
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            split_pending("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"),
            None
        );
        assert_eq!(split_pending("garbage"), None);
    }
}
