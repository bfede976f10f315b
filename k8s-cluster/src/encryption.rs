//! Encryption key rotation across the masters: which stage each master's copy of
//! `encryption-config.yaml` is in, whether a mix of copies is safe (Kubernetes'
//! documented procedure: add the new key second everywhere, move it first, re-encrypt, prune),
//! whether every master holds the local file before its next stage, and the keys a prune
//! retires, kept in `encryption-keys.retired.yaml`.

use std::path::PathBuf;

use k8s_distribute::{Manifest, NodeFiles, SshClient, UploadOptions, UploadReport};
use k8s_files::{Mode, write_file};
use k8s_kubeconfig::{
    EncryptionConfig, EncryptionKey, RotationStage, Secret, parse_encryption_config,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Layout;
use crate::error::{Error, Result};
use crate::steps::read_optional;

/// How existing secrets are re-encrypted with the key that writes now.
pub const REENCRYPT: &str = "kubectl get secrets -A -o json | kubectl replace -f -";

/// What to do after reaching `stage`, as one sentence.
pub fn next_steps(stage: &RotationStage) -> String {
    let rollout = "`k8s-hard distribute`, then restart kube-apiserver on every master";
    match stage {
        RotationStage::Single { .. } => format!(
            "nothing pending; after a prune: {rollout}. Next rotation: `k8s-hard encryption-config rotate`"
        ),
        RotationStage::NewKeySecond { .. } => format!(
            "{rollout} (each can now read with the new key); then `k8s-hard encryption-config promote`"
        ),
        RotationStage::NewKeyFirst { .. } => format!(
            "{rollout} (new secrets are then written with the new key); then re-encrypt every secret: `{REENCRYPT}`; back up etcd; then `k8s-hard encryption-config prune`"
        ),
    }
}

/// One master's copy of encryption-config.yaml, as `status` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteCopy {
    /// The node has no such file.
    Missing,
    /// Byte for byte the local file (same sha256).
    SameAsLocal,
    /// Not the local file; its contents were not read.
    Differs,
    /// The file's text (read over SSH).
    Text(String),
    /// The node could not be checked; why.
    Unknown(String),
}

/// Where one master stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MasterStage {
    /// The node.
    pub node: String,
    /// Whether its copy is byte for byte the local file.
    pub same_as_local: bool,
    /// Its copy's stage, when known (the local stage when it is the same file).
    pub stage: Option<RotationStage>,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
}

impl MasterStage {
    /// What this master holds, for people: `the local file`, `another file: one key (key1)`,
    /// `no encryption-config.yaml`, `unreachable: …`.
    pub fn holds(&self) -> String {
        match (&self.problem, &self.stage) {
            _ if self.same_as_local => "the local file".to_string(),
            (Some(problem), _) => problem.clone(),
            (None, Some(stage)) => format!("another file: {stage}"),
            (None, None) => "another file".to_string(),
        }
    }
}

/// The masters' copies of the encryption config, judged together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MastersEncryption {
    /// The local file's stage.
    pub local_stage: RotationStage,
    /// Every master has the local file, byte for byte.
    pub all_same: bool,
    /// Whether every copy can read what every other writes (a mix that is a rollout in
    /// progress, not a fault): `Some(false)` when one cannot, or a copy is missing; `None`
    /// when a differing copy's contents are unknown.
    pub compatible: Option<bool>,
    /// Per master.
    pub masters: Vec<MasterStage>,
    /// One line for people: the stage and what to do next.
    pub summary: String,
}

impl MastersEncryption {
    /// The masters that do not hold the local file byte for byte (whatever the reason: another
    /// file, none, not reachable): before `promote` or `prune` changes the local file, every
    /// master must hold it as it is, or the next stage can lose data (a server that cannot
    /// read the new key's writes, or one still writing with the key a prune removes).
    pub fn not_holding_local(&self) -> Vec<&MasterStage> {
        self.masters.iter().filter(|m| !m.same_as_local).collect()
    }
}

/// For `k8s-hard status`: given the local encryption-config.yaml's text and each master's
/// copy, tells which stage of a rotation the masters are in, whether they all have the same
/// file, and whether a mix is safe (every copy can read what every other writes) or not.
///
/// # Errors
/// When the local text is not a valid encryption config.
pub fn masters_stage(local: &str, copies: &[(String, RemoteCopy)]) -> Result<MastersEncryption> {
    let local_config = parse_encryption_config(local).map_err(|source| Error::Encryption {
        path: FILE_NAME.into(),
        source,
    })?;
    let local_stage = local_config.rotation_stage();
    let mut masters = Vec::new();
    // Per master: Some(Some(config)) known contents, Some(None) missing/invalid, None unknown.
    let mut known: Vec<Option<Option<EncryptionConfig>>> = Vec::new();
    for (node, copy) in copies {
        let (same, config, problem): (bool, Option<Option<EncryptionConfig>>, Option<String>) =
            match copy {
                RemoteCopy::Missing => (
                    false,
                    Some(None),
                    Some("no encryption-config.yaml".to_string()),
                ),
                RemoteCopy::SameAsLocal => (true, Some(Some(local_config.clone())), None),
                RemoteCopy::Differs => {
                    (false, None, Some("differs from the local file".to_string()))
                }
                RemoteCopy::Unknown(why) => (false, None, Some(why.clone())),
                RemoteCopy::Text(text) => match parse_encryption_config(text) {
                    Ok(c) => (text == local, Some(Some(c)), None),
                    Err(e) => (false, Some(None), Some(format!("invalid: {e}"))),
                },
            };
        masters.push(MasterStage {
            node: node.clone(),
            same_as_local: same,
            stage: config
                .as_ref()
                .and_then(|c| c.as_ref().map(EncryptionConfig::rotation_stage)),
            problem,
        });
        known.push(config);
    }
    let all_same = masters.iter().all(|m| m.same_as_local);
    let compatible = if known.iter().any(|k| matches!(k, Some(None))) {
        Some(false)
    } else if known.iter().any(Option::is_none) {
        None
    } else {
        let configs: Vec<&EncryptionConfig> = known.iter().flatten().flatten().collect();
        Some(
            configs
                .iter()
                .all(|a| configs.iter().all(|b| a.reads_writes_of(b))),
        )
    };
    let summary = if all_same {
        format!(
            "every master has the local file: {local_stage}; next: {}",
            next_steps(&local_stage)
        )
    } else {
        let same = masters.iter().filter(|m| m.same_as_local).count();
        let verdict = match compatible {
            Some(true) => {
                "safe mix (each can read what the others write): finish with `k8s-hard distribute` and restart kube-apiserver where it changed"
            }
            Some(false) => {
                "NOT safe: a master lacks the file or writes with a key another cannot read; `k8s-hard distribute` and restart kube-apiserver on every master before anything else"
            }
            None => {
                "finish with `k8s-hard distribute` and restart kube-apiserver where it changed before the next stage"
            }
        };
        format!(
            "{same} of {} masters have the local file ({local_stage}); {verdict}",
            masters.len()
        )
    };
    Ok(MastersEncryption {
        local_stage,
        all_same,
        compatible,
        masters,
        summary,
    })
}

/// [`masters_stage`] for `status`: each node that is sent `encryption-config.yaml` (the
/// masters) is judged by that file's status in the check-only distribution `report`, and the
/// text of the copies that differ from the local file is read over SSH (`cat`), so that their
/// stage is known too.
///
/// # Errors
/// When the local text is not a valid encryption config.
pub async fn masters_stage_on_nodes(
    client: &SshClient,
    manifest: &Manifest,
    report: &UploadReport,
    local: &str,
    target_dir: Option<&str>,
) -> Result<MastersEncryption> {
    let mut copies = copies_from_report(report);
    let differing: Vec<String> = copies
        .iter()
        .filter(|(_, c)| *c == RemoteCopy::Differs)
        .map(|(node, _)| node.clone())
        .collect();
    if !differing.is_empty() {
        let path = match target_dir {
            Some(dir) => format!("{dir}/{FILE_NAME}"),
            None => FILE_NAME.to_string(),
        };
        let command = format!("cat -- '{}'", path.replace('\'', "'\\''"));
        let nodes: Vec<k8s_distribute::Node> = manifest
            .nodes()
            .into_iter()
            .filter(|n| differing.contains(&n.name))
            .collect();
        for run in client.run(&nodes, &command, &|_| {}).await {
            let copy = match run.result {
                Ok(out) if out.success() => {
                    RemoteCopy::Text(String::from_utf8_lossy(&out.stdout).into_owned())
                }
                Ok(out) => RemoteCopy::Unknown(format!(
                    "cat failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => RemoteCopy::Unknown(e.to_string()),
            };
            if let Some(entry) = copies.iter_mut().find(|(node, _)| *node == run.node) {
                entry.1 = copy;
            }
        }
    }
    masters_stage(local, &copies)
}

/// For `encryption-config promote` and `prune`: each master's copy of encryption-config.yaml
/// (the nodes `manifest` sends it to), judged against the local file's text `local` (which
/// `manifest` sends): that one file is compared by a check-only distribution (its sha256 on
/// the node, nothing changed there), then the copies that differ are read (`cat`), as
/// [`masters_stage_on_nodes`] does for `status`.
///
/// # Errors
/// When the local text is not a valid encryption config or the local file cannot be read;
/// a master that cannot be reached is in the result, with why.
pub async fn check_masters_encryption(
    client: &SshClient,
    manifest: &Manifest,
    local: &str,
    target_dir: Option<&str>,
) -> Result<MastersEncryption> {
    let this_file = Manifest {
        nodes: manifest
            .nodes
            .iter()
            .filter_map(|nf| {
                let files: Vec<_> = nf
                    .files
                    .iter()
                    .filter(|f| f.remote_name == FILE_NAME)
                    .cloned()
                    .collect();
                (!files.is_empty()).then(|| NodeFiles {
                    node: nf.node.clone(),
                    role: nf.role,
                    files,
                })
            })
            .collect(),
    };
    let options = UploadOptions {
        target_dir: target_dir.map(str::to_string),
        check_only: true,
    };
    let report = client.upload(&this_file, &options, &|_| {}).await?;
    masters_stage_on_nodes(client, &this_file, &report, local, target_dir).await
}

/// A key a prune removed, as `encryption-keys.retired.yaml` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    /// Its name, which etcd stores in front of every value it encrypted
    /// (`k8s:enc:aescbc:v1:<name>:`).
    pub name: String,
    /// The base64 key.
    pub secret: Secret,
    /// When it was pruned (RFC 3339, UTC, whole seconds).
    pub retired: String,
    /// The key that wrote instead when it was pruned.
    pub replaced_by: String,
}

/// The first lines of a new `encryption-keys.retired.yaml`.
const RETIRED_HEADER: &str = "\
# Encryption keys removed by `k8s-hard encryption-config prune`, oldest first (0600: secrets).
# Keep this file as long as an etcd backup taken before a prune may be restored: secrets in it
# are readable only with their key. To read them, add the key back to encryption-config.yaml's
# aescbc keys, after the first, and distribute it.
";

/// Appends `keys` (the keys a prune removes; `replaced_by` writes instead) to
/// [`Layout::retired_encryption_keys`], 0600, whole or nothing (through `k8s-files`' atomic
/// writer). The entries already there stay byte for byte; a file that is not a list of retired
/// keys is never overwritten. Returns the file's path.
///
/// # Errors
/// [`Error::Read`] when the file exists but cannot be read, [`Error::RetiredKeys`] when it is
/// not such a list, [`Error::Write`] when it cannot be written.
pub fn retire_keys(
    layout: &Layout,
    keys: &[EncryptionKey],
    replaced_by: &str,
    at: OffsetDateTime,
) -> Result<PathBuf> {
    let path = layout.retired_encryption_keys();
    let bad = |reason: String| Error::RetiredKeys {
        path: path.clone(),
        reason,
    };
    // Whole seconds: the time is for people.
    let retired = at
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .map_err(|e| bad(format!("cannot write the time: {e}")))?;
    let entries: Vec<RetiredKey> = keys
        .iter()
        .map(|k| RetiredKey {
            name: k.name.clone(),
            secret: k.secret.clone(),
            retired: retired.clone(),
            replaced_by: replaced_by.to_string(),
        })
        .collect();
    let existing = read_optional(&path)?;
    let kept = match &existing {
        // Only comments (or nothing) is no entry yet.
        Some(text) => serde_yaml::from_str::<Option<Vec<RetiredKey>>>(text)
            .map_err(|e| bad(e.to_string()))?
            .map_or(0, |v| v.len()),
        None => 0,
    };
    let mut text = existing.unwrap_or_else(|| RETIRED_HEADER.to_string());
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text += &serde_yaml::to_string(&entries).map_err(|e| bad(e.to_string()))?;
    // Appending to a list written by hand (a flow list, a mapping) would not extend it.
    let all: Vec<RetiredKey> = serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if all.len() != kept + entries.len() || all[kept..] != entries[..] {
        return Err(bad(
            "its list cannot be extended by appending (write it as a block list)".to_string(),
        ));
    }
    write_file(&path, text.as_bytes(), Mode::Secret).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Each node that is sent `encryption-config.yaml` (the masters), with its copy as a
/// check-only distribution `report` found it.
fn copies_from_report(report: &UploadReport) -> Vec<(String, RemoteCopy)> {
    use k8s_distribute::{FileStatus, SendReason};
    report
        .nodes
        .iter()
        .filter_map(|n| {
            let file = n.files.iter().find(|f| f.name == FILE_NAME)?;
            let copy = match (&n.error, &file.status) {
                (Some(e), _) => RemoteCopy::Unknown(format!("unreachable: {e}")),
                (None, s) if s.is_in_place() => RemoteCopy::SameAsLocal,
                (None, FileStatus::WouldFixMode) => RemoteCopy::SameAsLocal,
                (None, FileStatus::WouldSend(SendReason::Missing)) => RemoteCopy::Missing,
                (None, FileStatus::WouldSend(_)) => RemoteCopy::Differs,
                (None, other) => RemoteCopy::Unknown(format!("{other:?}")),
            };
            Some((n.node.clone(), copy))
        })
        .collect()
}

/// The file's name, here and on the nodes.
const FILE_NAME: &str = "encryption-config.yaml";

#[cfg(test)]
mod tests {
    use super::*;

    fn text(config: &EncryptionConfig) -> String {
        k8s_kubeconfig::render_encryption_config(config).unwrap()
    }

    #[test]
    fn masters_stage_tells_a_rollout_from_a_fault() {
        let mut c = EncryptionConfig::with_key(EncryptionKey::from_bytes("key1", &[1; 32]));
        let stage0 = text(&c);
        c.rotate_with(EncryptionKey::from_bytes("key2", &[2; 32]))
            .unwrap();
        let stage1 = text(&c);
        c.promote().unwrap();
        let stage2 = text(&c);

        let all = masters_stage(
            &stage1,
            &[
                ("m0".into(), RemoteCopy::Text(stage1.clone())),
                ("m1".into(), RemoteCopy::SameAsLocal),
            ],
        )
        .unwrap();
        assert!(all.all_same && all.compatible == Some(true), "{all:?}");
        assert!(all.summary.contains("promote"), "{}", all.summary);

        // Stage 1 reached two of three masters: safe.
        let rollout = masters_stage(
            &stage1,
            &[
                ("m0".into(), RemoteCopy::Text(stage1.clone())),
                ("m1".into(), RemoteCopy::Text(stage1.clone())),
                ("m2".into(), RemoteCopy::Text(stage0.clone())),
            ],
        )
        .unwrap();
        assert!(
            !rollout.all_same && rollout.compatible == Some(true),
            "{rollout:?}"
        );
        assert!(rollout.summary.starts_with("2 of 3"), "{}", rollout.summary);

        // Stage 2 on a master that never got stage 1: the old one cannot read its writes.
        let fault = masters_stage(
            &stage2,
            &[
                ("m0".into(), RemoteCopy::Text(stage2.clone())),
                ("m1".into(), RemoteCopy::Text(stage0)),
                ("m2".into(), RemoteCopy::Missing),
            ],
        )
        .unwrap();
        assert_eq!(fault.compatible, Some(false), "{fault:?}");
        assert!(fault.summary.contains("NOT safe"), "{}", fault.summary);
        assert_eq!(
            fault.masters[2].problem.as_deref(),
            Some("no encryption-config.yaml")
        );
        // Stage 2 on one master, stage 0 on the other: unsafe without the missing one too.
        let unsafe_pair = masters_stage(
            &stage2,
            &[
                ("m0".into(), RemoteCopy::Text(stage2.clone())),
                (
                    "m1".into(),
                    RemoteCopy::Text(text(&EncryptionConfig::with_key(
                        EncryptionKey::from_bytes("key1", &[1; 32]),
                    ))),
                ),
            ],
        )
        .unwrap();
        assert_eq!(unsafe_pair.compatible, Some(false), "{unsafe_pair:?}");
        // Only hashes: a differing copy's safety is unknown.
        let hashes = masters_stage(
            &stage2,
            &[
                ("m0".into(), RemoteCopy::SameAsLocal),
                ("m1".into(), RemoteCopy::Differs),
            ],
        )
        .unwrap();
        assert_eq!(hashes.compatible, None, "{hashes:?}");
        assert!(hashes.summary.starts_with("1 of 2"), "{}", hashes.summary);
    }

    #[test]
    fn status_report_maps_to_copies() {
        use k8s_distribute::{FileReport, FileStatus, NodeReport, SendReason, UploadReport};
        let local = text(&EncryptionConfig::with_key(EncryptionKey::from_bytes(
            "key1", &[1; 32],
        )));
        let node = |name: &str, status: FileStatus| NodeReport {
            node: name.into(),
            address: "127.0.0.1:22".into(),
            files: vec![
                FileReport {
                    name: "ca.pem".into(),
                    status: FileStatus::Unchanged,
                },
                FileReport {
                    name: FILE_NAME.into(),
                    status,
                },
            ],
            error: None,
        };
        let report = UploadReport {
            nodes: vec![
                node("m0", FileStatus::Unchanged),
                node("m1", FileStatus::WouldSend(SendReason::Missing)),
                node("m2", FileStatus::WouldSend(SendReason::Differs)),
                NodeReport {
                    node: "w0".into(),
                    address: "127.0.0.1:22".into(),
                    files: vec![],
                    error: None,
                },
            ],
        };
        let got = masters_stage(&local, &copies_from_report(&report)).unwrap();
        let names: Vec<(&str, bool, Option<&str>)> = got
            .masters
            .iter()
            .map(|m| (m.node.as_str(), m.same_as_local, m.problem.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("m0", true, None),
                ("m1", false, Some("no encryption-config.yaml")),
                ("m2", false, Some("differs from the local file")),
            ]
        );
        assert_eq!(got.compatible, Some(false));
    }

    #[test]
    fn retired_keys_are_appended_and_a_file_of_another_shape_is_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        let epoch = OffsetDateTime::UNIX_EPOCH;
        let path = retire_keys(
            &layout,
            &[EncryptionKey::from_bytes("key1", &[1; 32])],
            "key2",
            epoch,
        )
        .unwrap();
        assert_eq!(path, tmp.path().join("encryption-keys.retired.yaml"));
        let first = std::fs::read_to_string(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(first.starts_with(RETIRED_HEADER), "{first}");
        assert!(
            first.ends_with(
                "- name: key1\n  secret: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n  retired: 1970-01-01T00:00:00Z\n  replaced_by: key2\n"
            ),
            "{first}"
        );
        let later = epoch + time::Duration::days(1);
        retire_keys(
            &layout,
            &[
                EncryptionKey::from_bytes("key2", &[2; 32]),
                EncryptionKey::from_bytes("key3", &[3; 16]),
            ],
            "key4",
            later,
        )
        .unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        assert!(second.starts_with(&first), "{second}");
        let all: Vec<RetiredKey> = serde_yaml::from_str(&second).unwrap();
        let got: Vec<(&str, &str, &str)> = all
            .iter()
            .map(|k| (k.name.as_str(), k.retired.as_str(), k.replaced_by.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("key1", "1970-01-01T00:00:00Z", "key2"),
                ("key2", "1970-01-02T00:00:00Z", "key4"),
                ("key3", "1970-01-02T00:00:00Z", "key4"),
            ]
        );
        for other in [
            "retired: []\n",
            "[]\n",
            "- {name: key1}\n",
            "[{name: key1, secret: AQ==, retired: x, replaced_by: key2}]\n",
            "- name: [unclosed\n",
        ] {
            std::fs::write(&path, other).unwrap();
            let err = retire_keys(
                &layout,
                &[EncryptionKey::from_bytes("key5", &[5; 32])],
                "key6",
                later,
            )
            .unwrap_err();
            assert!(matches!(err, Error::RetiredKeys { .. }), "{other}: {err}");
            assert!(err.to_string().contains("nothing was pruned"), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), other);
        }
    }

    #[test]
    fn a_master_says_what_it_holds() {
        let local = text(&EncryptionConfig::with_key(EncryptionKey::from_bytes(
            "key1", &[1; 32],
        )));
        let mut rotated = EncryptionConfig::with_key(EncryptionKey::from_bytes("key1", &[1; 32]));
        rotated
            .rotate_with(EncryptionKey::from_bytes("key2", &[2; 32]))
            .unwrap();
        let got = masters_stage(
            &local,
            &[
                ("m0".into(), RemoteCopy::SameAsLocal),
                ("m1".into(), RemoteCopy::Text(text(&rotated))),
                ("m2".into(), RemoteCopy::Missing),
                (
                    "m3".into(),
                    RemoteCopy::Unknown("unreachable: refused".into()),
                ),
                ("m4".into(), RemoteCopy::Differs),
            ],
        )
        .unwrap();
        let lagging: Vec<(&str, String)> = got
            .not_holding_local()
            .iter()
            .map(|m| (m.node.as_str(), m.holds()))
            .collect();
        assert_eq!(
            lagging,
            [
                (
                    "m1",
                    "another file: rotated: key2 added second, key1 still writes".to_string()
                ),
                ("m2", "no encryption-config.yaml".to_string()),
                ("m3", "unreachable: refused".to_string()),
                ("m4", "differs from the local file".to_string()),
            ]
        );
        assert_eq!(got.masters[0].holds(), "the local file");
    }
}
