//! Host key checking: a known_hosts file with a policy for unknown hosts, or pinned keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use russh::keys::{HashAlg, PublicKey, known_hosts};

use crate::error::{Error, Result};

/// What to do with a host whose key is not recorded anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownHosts {
    /// Refuse it (OpenSSH `StrictHostKeyChecking=yes`). The default.
    #[default]
    Refuse,
    /// Record its key in the known_hosts file and go on (`StrictHostKeyChecking=accept-new`).
    /// A changed key is still refused.
    AcceptNew,
}

/// Where the trusted host keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeys {
    /// An OpenSSH known_hosts file (plain or hashed host names, `[host]:port` for other ports).
    KnownHosts {
        /// The file; it need not exist yet with [`UnknownHosts::AcceptNew`].
        path: PathBuf,
        /// What to do with unknown hosts.
        unknown: UnknownHosts,
    },
    /// Keys pinned per node name, as OpenSSH public key lines (`ssh-ed25519 AAAA… [comment]`),
    /// e.g. read from the instances' console output and kept in cluster state. A node without
    /// an entry is refused.
    Pinned(BTreeMap<String, Vec<String>>),
}

impl HostKeys {
    /// The user's `~/.ssh/known_hosts` with the strict policy.
    ///
    /// # Errors
    /// [`Error::NoHomeDir`] when `HOME` is not set.
    pub fn user_known_hosts() -> Result<Self> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(Error::NoHomeDir)?;
        Ok(HostKeys::KnownHosts {
            path: Path::new(&home).join(".ssh").join("known_hosts"),
            unknown: UnknownHosts::Refuse,
        })
    }
}

/// The SHA256 fingerprint as OpenSSH prints it (`SHA256:…`).
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// A parsed, ready-to-use form of [`HostKeys`], shared by all sessions of a client.
#[derive(Debug)]
pub(crate) enum Verifier {
    KnownHosts {
        path: PathBuf,
        unknown: UnknownHosts,
        // Concurrent sessions may learn keys at once: appends go one at a time.
        lock: Mutex<()>,
    },
    Pinned(BTreeMap<String, Vec<PublicKey>>),
}

/// Why a host key was not accepted.
#[derive(Debug)]
pub(crate) enum Rejection {
    Unknown {
        fingerprint: String,
        source_name: String,
    },
    Changed {
        expected: Vec<String>,
        found: String,
        source_name: String,
    },
    File {
        path: PathBuf,
        reason: String,
    },
}

impl Verifier {
    pub(crate) fn new(keys: &HostKeys) -> Result<Self> {
        Ok(match keys {
            HostKeys::KnownHosts { path, unknown } => Verifier::KnownHosts {
                path: path.clone(),
                unknown: *unknown,
                lock: Mutex::new(()),
            },
            HostKeys::Pinned(map) => {
                let mut parsed = BTreeMap::new();
                for (node, lines) in map {
                    let mut keys = Vec::with_capacity(lines.len());
                    for line in lines {
                        let key =
                            parse_public_key_line(line).map_err(|reason| Error::PinnedKey {
                                node: node.clone(),
                                reason,
                            })?;
                        keys.push(key);
                    }
                    parsed.insert(node.clone(), keys);
                }
                Verifier::Pinned(parsed)
            }
        })
    }

    /// Accepts the key, or says why not. Runs inside the handshake, before authentication.
    pub(crate) fn check(
        &self,
        node: &str,
        host: &str,
        port: u16,
        key: &PublicKey,
    ) -> std::result::Result<(), Rejection> {
        match self {
            Verifier::Pinned(map) => {
                let source_name = "pinned keys".to_string();
                let pinned = map.get(node).map(Vec::as_slice).unwrap_or_default();
                if pinned.iter().any(|k| k.key_data() == key.key_data()) {
                    return Ok(());
                }
                if pinned.is_empty() {
                    return Err(Rejection::Unknown {
                        fingerprint: fingerprint(key),
                        source_name,
                    });
                }
                Err(Rejection::Changed {
                    expected: pinned.iter().map(fingerprint).collect(),
                    found: fingerprint(key),
                    source_name,
                })
            }
            Verifier::KnownHosts {
                path,
                unknown,
                lock,
            } => {
                let file_err = |e: russh::keys::Error| Rejection::File {
                    path: path.clone(),
                    reason: e.to_string(),
                };
                // Hold the lock for check + learn, so two sessions never append the same host.
                let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                match known_hosts::check_known_hosts_path(host, port, key, path) {
                    Ok(true) => Ok(()),
                    Ok(false) => match unknown {
                        UnknownHosts::Refuse => Err(Rejection::Unknown {
                            fingerprint: fingerprint(key),
                            source_name: path.display().to_string(),
                        }),
                        UnknownHosts::AcceptNew => {
                            known_hosts::learn_known_hosts_path(host, port, key, path)
                                .map_err(file_err)
                        }
                    },
                    Err(russh::keys::Error::KeyChanged { .. }) => {
                        let recorded = known_hosts::known_host_keys_path(host, port, path)
                            .map_err(file_err)?;
                        Err(Rejection::Changed {
                            expected: recorded
                                .iter()
                                .filter(|(_, k)| k.algorithm() == key.algorithm())
                                .map(|(_, k)| fingerprint(k))
                                .collect(),
                            found: fingerprint(key),
                            source_name: path.display().to_string(),
                        })
                    }
                    Err(e) => Err(file_err(e)),
                }
            }
        }
    }
}

/// Parses `ssh-ed25519 AAAA… [comment]` (or just the base64 part).
fn parse_public_key_line(line: &str) -> std::result::Result<PublicKey, String> {
    let mut parts = line.split_whitespace();
    let first = parts.next().ok_or("empty")?;
    let b64 = match parts.next() {
        Some(second) if first.starts_with("ssh-") || first.starts_with("ecdsa-") => second,
        _ => first,
    };
    russh::keys::parse_public_key_base64(b64).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir host-a";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDc866T9utlTpO0M5d5pCUISLx20KlQH01J3kod2D7bK host-b";

    #[test]
    fn known_hosts_unknown_accept_new_and_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let a = parse_public_key_line(ED).unwrap();
        let b = parse_public_key_line(ED2).unwrap();
        let strict = Verifier::new(&HostKeys::KnownHosts {
            path: path.clone(),
            unknown: UnknownHosts::Refuse,
        })
        .unwrap();
        assert!(matches!(
            strict.check("n", "127.0.0.1", 2200, &a),
            Err(Rejection::Unknown { .. })
        ));
        let accept = Verifier::new(&HostKeys::KnownHosts {
            path: path.clone(),
            unknown: UnknownHosts::AcceptNew,
        })
        .unwrap();
        accept.check("n", "127.0.0.1", 2200, &a).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .trim_start()
                .starts_with("[127.0.0.1]:2200 ssh-ed25519 ")
        );
        strict.check("n", "127.0.0.1", 2200, &a).unwrap();
        match accept.check("n", "127.0.0.1", 2200, &b) {
            Err(Rejection::Changed {
                expected, found, ..
            }) => {
                assert_eq!(expected, vec![fingerprint(&a)]);
                assert_eq!(found, fingerprint(&b));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pinned_keys() {
        let v = Verifier::new(&HostKeys::Pinned(BTreeMap::from([(
            "n".to_string(),
            vec![ED.to_string()],
        )])))
        .unwrap();
        let a = parse_public_key_line(ED).unwrap();
        let b = parse_public_key_line(ED2).unwrap();
        v.check("n", "h", 22, &a).unwrap();
        assert!(matches!(
            v.check("n", "h", 22, &b),
            Err(Rejection::Changed { .. })
        ));
        assert!(matches!(
            v.check("other", "h", 22, &a),
            Err(Rejection::Unknown { .. })
        ));
        assert!(
            Verifier::new(&HostKeys::Pinned(BTreeMap::from([(
                "n".to_string(),
                vec!["ssh-ed25519 notbase64!".to_string()],
            )])))
            .is_err()
        );
    }
}
