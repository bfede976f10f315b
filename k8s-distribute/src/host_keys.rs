//! Host key checking: a known_hosts file with a policy for unknown hosts, or pinned keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use russh::keys::{HashAlg, PublicKey};

use crate::error::{Error, Result};
use crate::known_hosts::{self, Verdict};

/// What to do with a host whose key is not recorded anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownHosts {
    /// Refuse it (OpenSSH `StrictHostKeyChecking=yes`). The default.
    #[default]
    Refuse,
    /// Record its key in the known_hosts file and go on (`StrictHostKeyChecking=accept-new`).
    /// Only a host with no recorded key at all is new: a host with a recorded key of any type
    /// that offers another key is refused as changed, and nothing is recorded.
    AcceptNew,
}

/// Where the trusted host keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeys {
    /// An OpenSSH known_hosts file (plain or hashed host names, `[host]:port` for other ports,
    /// wildcards, `@revoked`), read as described in the [crate docs](crate#host-keys).
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
        /// `FILE:LINE, …` for a known_hosts file, `pinned keys` otherwise.
        source_name: String,
    },
    Revoked {
        fingerprint: String,
        path: PathBuf,
        line: usize,
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
            Verifier::KnownHosts { path, unknown } => {
                let file_err = |e: std::io::Error| Rejection::File {
                    path: path.clone(),
                    reason: e.to_string(),
                };
                // Read + decide + append as one step under the file's lock, so two sessions
                // (or processes) never append the same host twice, and a pin never loses an
                // append. Refusing unknown hosts writes nothing, so needs no lock.
                let _lock = match unknown {
                    UnknownHosts::AcceptNew => {
                        Some(known_hosts::lock(path).map_err(|reason| Rejection::File {
                            path: path.clone(),
                            reason,
                        })?)
                    }
                    UnknownHosts::Refuse => None,
                };
                let text = known_hosts::read(path).map_err(file_err)?;
                let entries = known_hosts::parse(&String::from_utf8_lossy(&text));
                let name = known_hosts::host_name(host, port);
                match known_hosts::decide(&entries, &name, key) {
                    Verdict::Known => Ok(()),
                    Verdict::Revoked { line } => Err(Rejection::Revoked {
                        fingerprint: fingerprint(key),
                        path: path.clone(),
                        line,
                    }),
                    Verdict::Changed { recorded } => Err(Rejection::Changed {
                        expected: recorded.iter().map(|(_, k)| fingerprint(k)).collect(),
                        found: fingerprint(key),
                        source_name: recorded
                            .iter()
                            .map(|(line, _)| format!("{}:{line}", path.display()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    }),
                    Verdict::Unknown => match unknown {
                        UnknownHosts::Refuse => Err(Rejection::Unknown {
                            fingerprint: fingerprint(key),
                            source_name: path.display().to_string(),
                        }),
                        UnknownHosts::AcceptNew => {
                            known_hosts::append(path, &text, &name, key).map_err(file_err)
                        }
                    },
                }
            }
        }
    }
}

/// Parses `ssh-ed25519 AAAA… [comment]` (or just the base64 part).
pub(crate) fn parse_public_key_line(line: &str) -> std::result::Result<PublicKey, String> {
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

    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC+NpQh0MXsXy5ebd5QnHY1g4nEgwAjQykD+EJyVsiPp92v2v+hg3ifXmrOcbSt2Cz1H1Fq9jAs3msPvF4w0N5JWDd2kfR4V4AtWw9og/16kndmXX+0ggzsVYC9Cnw19Mr6SOcUzzimjqejZ+rKcoQiNSzvfsQKbebeHcPjeUFU0yT/08b13NRkz7RSRX6naDWNgIXx5VqeKVlAeSuH0auSdR94JbEGdve/NUUODsM+z6DZUUR0lwXr1GjPqNUKEXLvICco28fxD35BZUx8+seGzaHmUUJrCJa/q2b20KqmsfwSCNO4uZZXKKvgKEkwgVWxQCOF0nics2sIEWG5xMlz";

    #[test]
    fn accept_new_never_adds_a_second_key_and_refuses_revoked_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let before = format!(
            "[127.0.0.1]:2200 {RSA}\n@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDc866T9utlTpO0M5d5pCUISLx20KlQH01J3kod2D7bK\n"
        );
        std::fs::write(&path, &before).unwrap();
        let accept = Verifier::new(&HostKeys::KnownHosts {
            path: path.clone(),
            unknown: UnknownHosts::AcceptNew,
        })
        .unwrap();
        let a = parse_public_key_line(ED).unwrap();
        let b = parse_public_key_line(ED2).unwrap();
        match accept.check("n", "127.0.0.1", 2200, &a) {
            Err(Rejection::Changed {
                expected,
                found,
                source_name,
            }) => {
                assert_eq!(
                    expected,
                    vec!["SHA256:mXBdrNxJxXXourFzMMojcsPKhswTIC5U8ZXLVr7RsOI".to_string()]
                );
                assert_eq!(found, "SHA256:rZydqOV8AV7nrJa1o0VRy7mmFmxpm3quOkUmhzo3tYo");
                assert_eq!(source_name, format!("{}:1", path.display()));
            }
            other => panic!("{other:?}"),
        }
        match accept.check("n", "127.0.0.9", 22, &b) {
            Err(Rejection::Revoked {
                fingerprint, line, ..
            }) => {
                assert_eq!(
                    fingerprint,
                    "SHA256:s4DHd1Z1vm5S5gBwxwM/vUs2rWTRUYx+vziLrbLm5hk"
                );
                assert_eq!(line, 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        // A truly new host: exactly one line, then known.
        accept.check("n", "127.0.0.2", 22, &a).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "{before}127.0.0.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir\n"
            )
        );
        accept.check("n", "127.0.0.2", 22, &a).unwrap();
        assert!(matches!(
            accept.check("n", "127.0.0.2", 22, &b),
            Err(Rejection::Revoked { line: 2, .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn concurrent_sessions_to_a_new_host_record_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let accept = Verifier::new(&HostKeys::KnownHosts {
            path: path.clone(),
            unknown: UnknownHosts::AcceptNew,
        })
        .unwrap();
        let a = parse_public_key_line(ED).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| accept.check("n", "10.0.0.5", 22, &a).unwrap());
            }
        });
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir\n"
        );
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
