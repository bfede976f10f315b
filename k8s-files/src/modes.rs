//! Bringing existing secret files and folders to their modes, whoever made them.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

/// Removes every permission beyond 0600 (files) or 0700 (folders, whose setgid bit stays)
/// from the given paths that exist, and returns what it changed. Missing paths are left
/// alone; a file that is already tighter (0400) stays so.
///
/// A secret that is a symbolic link (its target may be anything, anywhere) or is owned by
/// another user (whose file this one must not change, nor trust) is refused, not followed nor
/// changed: the paths before it are tightened, the ones after it not looked at.
///
/// # Errors
/// [`crate::Error::UnsafeSecret`] naming the link or the file of another user;
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
    let unsafe_secret = |reason: String| crate::Error::UnsafeSecret {
        path: path.to_path_buf(),
        reason,
    };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(io(path))?;
        return Err(unsafe_secret(format!(
            "is a symbolic link to {}",
            target.display()
        )));
    }
    let right_kind = if dir { meta.is_dir() } else { meta.is_file() };
    if !right_kind {
        return Ok(());
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_secret(format!(
            "is owned by uid {}, not by this user (uid {me})",
            meta.uid()
        )));
    }
    // A folder's setgid bit stays: it only gives new files the folder's group.
    let allowed = if dir { 0o2700 } else { 0o600 };
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
        let wanted = [
            PrivatePath::Dir(root.clone()),
            PrivatePath::Dir(pki.clone()),
            PrivatePath::FilesIn {
                dir: pki.clone(),
                suffix: "-key.pem".into(),
            },
            PrivatePath::File(enc.clone()),
            PrivatePath::File(root.join("missing")),
            PrivatePath::FilesIn {
                dir: root.join("ssh"),
                suffix: String::new(),
            },
        ];
        let shared = root.join("ssh");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o2770)).unwrap();
        let mut wanted = wanted.to_vec();
        wanted.push(PrivatePath::Dir(shared.clone()));
        let changed = tighten(&wanted).unwrap();
        let said: Vec<String> = changed.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            said,
            [
                format!("tightened {} from 0755 to 0700", root.display()),
                format!("tightened {} from 0644 to 0600", key.display()),
                format!("tightened {} from 0664 to 0600", enc.display()),
                format!("tightened {} from 2770 to 2700", shared.display()),
            ]
        );
        assert_eq!(mode(&shared), 0o2700, "setgid kept");
        assert_eq!(mode(&cert), 0o644, "certificates are public");
        assert_eq!(mode(&readonly), 0o400);
        assert!(tighten(&wanted).unwrap().is_empty());
    }

    /// `pki/` with a loose certificate (0644) and the given `ca-key.pem`.
    fn pki_with(make_key: impl Fn(&Path)) -> (tempfile::TempDir, PathBuf, Vec<PrivatePath>) {
        let tmp = tempfile::tempdir().unwrap();
        let pki = tmp.path().join("pki");
        fs::create_dir(&pki).unwrap();
        fs::set_permissions(&pki, fs::Permissions::from_mode(0o700)).unwrap();
        let key = pki.join("ca-key.pem");
        make_key(&key);
        let wanted = vec![PrivatePath::FilesIn {
            dir: pki.clone(),
            suffix: "-key.pem".into(),
        }];
        (tmp, key, wanted)
    }

    #[test]
    fn a_secret_that_is_a_symlink_is_refused_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("elsewhere.pem");
        fs::write(&target, "x").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        let (_tmp, key, wanted) = pki_with(|key| std::os::unix::fs::symlink(&target, key).unwrap());
        let err = tighten(&wanted).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a symbolic link to {}: a secret must be a file or folder of the user running this, not a link: refusing to use or change it",
                key.display(),
                target.display()
            )
        );
        assert_eq!(mode(&target), 0o644, "the link's target is not chmodded");
        assert!(fs::symlink_metadata(&key).unwrap().file_type().is_symlink());
        // A linked folder is refused the same way.
        let linked = outside.path().join("pki-link");
        std::os::unix::fs::symlink(outside.path(), &linked).unwrap();
        assert!(matches!(
            tighten(&[PrivatePath::Dir(linked)]),
            Err(crate::Error::UnsafeSecret { .. })
        ));
    }

    /// Run as root (as the tests are): the file is given to `nobody`.
    #[test]
    fn a_secret_owned_by_another_user_is_refused_not_chmodded() {
        let (_tmp, key, wanted) = pki_with(|key| {
            fs::write(key, "x").unwrap();
            fs::set_permissions(key, fs::Permissions::from_mode(0o644)).unwrap();
            std::os::unix::fs::chown(key, Some(65534), Some(65534))
                .expect("chown to nobody (the tests run as root)");
        });
        let err = tighten(&wanted).unwrap_err();
        let me = rustix::process::geteuid().as_raw();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is owned by uid 65534, not by this user (uid {me}): a secret must be a file or folder of the user running this, not a link: refusing to use or change it",
                key.display()
            )
        );
        assert_eq!(mode(&key), 0o644);
    }
}
