//! The PKI folder on disk, with cfssljson's file names: `<name>.pem` and `<name>-key.pem`.
//!
//! This is the crate's only filesystem code; everything else works on memory.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use k8s_files::{Mode, ensure_private_dir, write_file};

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

/// Writes what changed in `bundle` under `dir` (made 0700): keys 0600, certificates 0644,
/// each file whole. Kept files are not touched. Returns the paths written.
///
/// # Errors
/// [`Error::Write`] naming the file.
pub fn save(dir: &Path, bundle: &Bundle) -> Result<Vec<PathBuf>> {
    ensure_private_dir(dir)?;
    let mut written = Vec::new();
    for item in bundle.items.iter().filter(|i| i.change != Change::Kept) {
        // Key first: a crash in between leaves a cert/key mismatch the next run repairs.
        if item.key_changed {
            let path = key_path(dir, &item.name);
            write_file(&path, item.key_pem.expose().as_bytes(), Mode::Secret)?;
            written.push(path);
        }
        let path = cert_path(dir, &item.name);
        write_file(&path, item.cert_pem.as_bytes(), Mode::Public)?;
        written.push(path);
    }
    Ok(written)
}
