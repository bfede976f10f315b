//! Bringing existing secret files and folders to their modes, whoever made them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{Result, io};

/// A secret path to keep private: what [`tighten`] looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivatePath {
    /// A folder, at most 0700.
    Dir(PathBuf),
    /// A file, at most 0600.
    File(PathBuf),
    /// Every regular file directly in `dir` whose name ends with `suffix` (all when empty), at
    /// most 0600.
    FilesIn {
        /// The folder listed (not recursively).
        dir: PathBuf,
        /// The file name ending to match, e.g. `-key.pem`.
        suffix: String,
    },
}

/// A path whose mode [`tighten`] narrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The file or folder.
    pub path: PathBuf,
    /// Its permission bits before.
    pub from: u32,
    /// Its permission bits now.
    pub to: u32,
}

impl std::fmt::Display for Tightened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tightened {} from {:04o} to {:04o}",
            self.path.display(),
            self.from,
            self.to
        )
    }
}

/// Removes every permission beyond 0600 (files) or 0700 (folders) from the given paths that
/// exist, and returns what it changed. Missing paths and symlinks are left alone (a link's
/// target may be anything, anywhere); a file that is already tighter (0400) stays so.
///
/// # Errors
/// [`crate::Error::Io`] naming the path that cannot be read or changed.
pub fn tighten(paths: &[PrivatePath]) -> Result<Vec<Tightened>> {
    let mut changed = Vec::new();
    for entry in paths {
        match entry {
            PrivatePath::Dir(dir) => tighten_one(dir, true, &mut changed)?,
            PrivatePath::File(file) => tighten_one(file, false, &mut changed)?,
            PrivatePath::FilesIn { dir, suffix } => {
                let listing = match fs::read_dir(dir) {
                    Ok(l) => l,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(dir)(e)),
                };
                let mut files = Vec::new();
                for item in listing {
                    let item = item.map_err(io(dir))?;
                    if item
                        .file_name()
                        .to_string_lossy()
                        .ends_with(suffix.as_str())
                    {
                        files.push(item.path());
                    }
                }
                files.sort();
                for file in files {
                    tighten_one(&file, false, &mut changed)?;
                }
            }
        }
    }
    Ok(changed)
}

fn tighten_one(path: &Path, dir: bool, changed: &mut Vec<Tightened>) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    };
    let right_kind = if dir { meta.is_dir() } else { meta.is_file() };
    if !right_kind {
        return Ok(());
    }
    let allowed = if dir { 0o700 } else { 0o600 };
    let from = meta.permissions().mode() & 0o7777;
    let to = from & allowed;
    if to != from {
        fs::set_permissions(path, fs::Permissions::from_mode(to)).map_err(io(path))?;
        changed.push(Tightened {
            path: path.to_path_buf(),
            from,
            to,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn narrows_loose_paths_only_and_says_which() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("c");
        let pki = root.join("pki");
        fs::create_dir_all(&pki).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&pki, fs::Permissions::from_mode(0o700)).unwrap();
        let key = pki.join("ca-key.pem");
        let cert = pki.join("ca.pem");
        let readonly = pki.join("admin-key.pem");
        let enc = root.join("encryption-config.yaml");
        for (p, m) in [
            (&key, 0o644),
            (&cert, 0o644),
            (&readonly, 0o400),
            (&enc, 0o664),
        ] {
            fs::write(p, "x").unwrap();
            fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        }
        let link = root.join("state.json");
        std::os::unix::fs::symlink(&cert, &link).unwrap();
        let wanted = [
            PrivatePath::Dir(root.clone()),
            PrivatePath::Dir(pki.clone()),
            PrivatePath::FilesIn {
                dir: pki.clone(),
                suffix: "-key.pem".into(),
            },
            PrivatePath::File(enc.clone()),
            PrivatePath::File(link.clone()),
            PrivatePath::File(root.join("missing")),
            PrivatePath::FilesIn {
                dir: root.join("ssh"),
                suffix: String::new(),
            },
        ];
        let changed = tighten(&wanted).unwrap();
        let said: Vec<String> = changed.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            said,
            [
                format!("tightened {} from 0755 to 0700", root.display()),
                format!("tightened {} from 0644 to 0600", key.display()),
                format!("tightened {} from 0664 to 0600", enc.display()),
            ]
        );
        assert_eq!(
            mode(&cert),
            0o644,
            "certificates are public, and links not followed"
        );
        assert_eq!(mode(&readonly), 0o400);
        assert!(tighten(&wanted).unwrap().is_empty());
    }
}
