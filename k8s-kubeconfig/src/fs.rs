//! The crate's only filesystem edge: the user's kubeconfig, read, merged and written back.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use k8s_files::Mode;

use crate::error::{Error, Result};
use crate::merge::{CurrentContext, merge_kubeconfig, name_clashes};
use crate::model::{Kubeconfig, parse_kubeconfig, render_kubeconfig};

/// Where kubectl looks first: the first non-empty entry of `$KUBECONFIG`, else
/// `~/.kube/config`.
///
/// # Errors
/// [`Error::NoUserKubeconfig`] when neither `$KUBECONFIG` nor `$HOME` is set.
pub fn user_kubeconfig_path() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    user_kubeconfig_path_from(std::env::var_os("KUBECONFIG").as_deref(), home.as_deref())
        .ok_or(Error::NoUserKubeconfig)
}

/// [`user_kubeconfig_path`] with the environment given: `kubeconfig_env` is `$KUBECONFIG`
/// (a `:`-separated list), `home` is `$HOME`.
pub fn user_kubeconfig_path_from(
    kubeconfig_env: Option<&OsStr>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    let from_env =
        kubeconfig_env.and_then(|v| std::env::split_paths(v).find(|p| !p.as_os_str().is_empty()));
    from_env.or_else(|| {
        home.filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".kube").join("config"))
    })
}

/// Reads and parses the kubeconfig at `path`; a missing file is an empty kubeconfig.
///
/// # Errors
/// [`Error::Read`] when the file exists but cannot be read; parse errors as
/// [`parse_kubeconfig`].
pub fn read_kubeconfig(path: &Path) -> Result<Kubeconfig> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_kubeconfig(&text),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Kubeconfig::default()),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Merges `incoming` into the kubeconfig at `path` (see [`merge_kubeconfig`]) and writes the
/// result back whole (temp file + rename) with mode 0600. A missing file is created, and a
/// missing folder created 0700; an existing folder keeps its mode. When `path` is a symlink
/// the file it points to is rewritten, not the link. Returns the merged kubeconfig.
///
/// # Errors
/// [`Error::Read`] / [`Error::Parse`] / [`Error::InvalidField`] when the existing file cannot
/// be read or is not a kubeconfig (it is then left untouched); [`Error::Write`] when writing
/// fails.
pub fn merge_into_file(
    path: &Path,
    incoming: &Kubeconfig,
    current: CurrentContext,
) -> Result<Kubeconfig> {
    merge_into_file_checked(path, incoming, current, Replace::Always)
}

/// What [`merge_into_file_checked`] does with an entry of the same name that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace it, as kubectl does.
    Always,
    /// Refuse the whole merge ([`Error::NameClash`]) and leave the file untouched.
    Never,
}

/// [`merge_into_file`], refusing ([`Replace::Never`]) to replace a cluster, user or context
/// that exists in the file under the same name with different content (see
/// [`name_clashes`](crate::name_clashes)). Merging the same entries again is not a clash.
///
/// # Errors
/// As [`merge_into_file`]; [`Error::NameClash`] listing the entries when refusing.
pub fn merge_into_file_checked(
    path: &Path,
    incoming: &Kubeconfig,
    current: CurrentContext,
    replace: Replace,
) -> Result<Kubeconfig> {
    let target = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == ErrorKind::NotFound => path.to_path_buf(),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let base = read_kubeconfig(&target)?;
    if replace == Replace::Never {
        let clashes = name_clashes(&base, incoming);
        if !clashes.is_empty() {
            return Err(Error::NameClash {
                path: target,
                clashes: clashes.iter().map(|c| c.to_string()).collect(),
            });
        }
    }
    let merged = merge_kubeconfig(base, incoming, current);
    let text = render_kubeconfig(&merged)?;
    let write_err = |source| Error::Write {
        path: target.clone(),
        source,
    };
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        k8s_files::ensure_private_dir(dir).map_err(write_err)?;
    }
    k8s_files::write_file(&target, text.as_bytes(), Mode::Secret).map_err(write_err)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_env_first_entry_wins_over_home() {
        let home = Path::new("/home/u");
        assert_eq!(
            user_kubeconfig_path_from(None, Some(home)),
            Some(PathBuf::from("/home/u/.kube/config"))
        );
        assert_eq!(
            user_kubeconfig_path_from(Some(OsStr::new("/a/one:/b/two")), Some(home)),
            Some(PathBuf::from("/a/one"))
        );
        assert_eq!(
            user_kubeconfig_path_from(Some(OsStr::new(":/b/two")), Some(home)),
            Some(PathBuf::from("/b/two"))
        );
        assert_eq!(
            user_kubeconfig_path_from(Some(OsStr::new("")), Some(home)),
            Some(PathBuf::from("/home/u/.kube/config"))
        );
        assert_eq!(user_kubeconfig_path_from(None, None), None);
    }

    #[test]
    fn checked_merge_refuses_a_differing_namesake_and_leaves_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config");
        let mine = crate::parse_kubeconfig(
            "users:\n- name: c1-admin\n  user: {token: mine}\ncontexts:\n- name: c1\n  context: {cluster: c1, user: c1-admin}\ncurrent-context: c1\n",
        )
        .unwrap();
        let stale = "users:\n- name: c1-admin\n  user: {token: stale}\n";
        std::fs::write(&path, stale).unwrap();
        let err =
            merge_into_file_checked(&path, &mine, CurrentContext::UseIncoming, Replace::Never)
                .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("already has a different user \"c1-admin\": merging would replace it"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), stale);
        merge_into_file_checked(&path, &mine, CurrentContext::UseIncoming, Replace::Always)
            .unwrap();
        // the same entries again: no clash
        let merged =
            merge_into_file_checked(&path, &mine, CurrentContext::UseIncoming, Replace::Never)
                .unwrap();
        assert_eq!(merged.current_context, "c1");
    }
}
