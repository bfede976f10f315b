//! `k8s-hard encryption-config generate | rotate | promote | prune | status`
//! ("Kubernetes from the ground up" STEP 7, and key rotation in Kubernetes' documented stages).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use k8s_files::{Mode, write_file};
use k8s_kubeconfig::{
    EncryptionConfig, Prepared, RotationStage, parse_encryption_config, prepare_encryption_config,
    render_encryption_config,
};
use serde::Serialize;
use serde_json::json;

use crate::cli::EncryptionCommand;
use crate::output::Ui;

/// `<dir>/encryption-config.yaml`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("encryption-config.yaml")
}

/// How existing secrets are re-encrypted with the key that writes now.
pub const REENCRYPT: &str = "kubectl get secrets -A -o json | kubectl replace -f -";

fn read_existing(file: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

pub fn run(dir: &Path, cmd: &EncryptionCommand, ui: &Ui) -> Result<bool> {
    match cmd {
        EncryptionCommand::Generate => generate(dir, ui).map(|_| true),
        EncryptionCommand::Rotate => stage(dir, Step::Rotate, ui).map(|()| true),
        EncryptionCommand::Promote => stage(dir, Step::Promote, ui).map(|()| true),
        EncryptionCommand::Prune => stage(dir, Step::Prune, ui).map(|()| true),
        EncryptionCommand::Status => status(dir, ui).map(|()| true),
    }
}

/// Makes the file if missing; keeps an existing key (replacing it would make every stored
/// secret unreadable). Returns what it did.
pub fn generate(dir: &Path, ui: &Ui) -> Result<&'static str> {
    let file = path(dir);
    let existing = read_existing(&file)?;
    let prepared = prepare_encryption_config(existing.as_deref()).with_context(|| {
        format!(
            "{}: invalid encryption config (fix or move it away; never delete a key still in use)",
            file.display()
        )
    })?;
    let what = match &prepared {
        Prepared::KeepExisting(_) => "kept",
        Prepared::UpgradeExisting(_) => "upgraded",
        Prepared::GeneratedNew(_) => "generated",
    };
    if prepared.needs_write() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_file(
            &file,
            render_encryption_config(prepared.config())?.as_bytes(),
            Mode::Secret,
        )?;
    }
    let keys = key_names(prepared.config());
    match what {
        "kept" => ui.detail(format!(
            "kept {} (keys: {})",
            file.display(),
            keys.join(", ")
        )),
        "upgraded" => ui.status(format!(
            "rewrote {} in the current EncryptionConfiguration form, same keys",
            file.display()
        )),
        _ => ui.status(format!(
            "wrote {} with a new 32-byte aescbc key",
            file.display()
        )),
    }
    ui.result(
        &json!({ "file": file, "status": what, "keys": keys }),
        String::new,
    )?;
    Ok(what)
}

fn key_names(config: &EncryptionConfig) -> Vec<String> {
    config
        .secrets_keys()
        .iter()
        .map(|k| k.name.clone())
        .collect()
}

fn load(file: &Path) -> Result<EncryptionConfig> {
    let text = read_existing(file)?.with_context(|| {
        format!(
            "{} does not exist: run `k8s-hard encryption-config generate` first",
            file.display()
        )
    })?;
    parse_encryption_config(&text)
        .with_context(|| format!("{}: invalid encryption config", file.display()))
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Rotate,
    Promote,
    Prune,
}

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

fn stage(dir: &Path, step: Step, ui: &Ui) -> Result<()> {
    let file = path(dir);
    let mut config = load(&file)?;
    let done = match step {
        Step::Rotate => {
            let new = config.rotate()?;
            format!(
                "added key {new} second: every API server can read with it, none writes with it yet"
            )
        }
        Step::Promote => {
            let new = config.promote()?;
            format!(
                "moved key {new} first: API servers given this file write with it; the old keys stay to read"
            )
        }
        Step::Prune => {
            let removed = config.prune()?;
            if removed.is_empty() {
                format!(
                    "nothing to prune: {} is the only key",
                    key_names(&config).join(", ")
                )
            } else {
                format!(
                    "removed {} (make sure every secret was re-encrypted first: `{REENCRYPT}`)",
                    removed.join(", ")
                )
            }
        }
    };
    write_file(
        &file,
        render_encryption_config(&config)?.as_bytes(),
        Mode::Secret,
    )?;
    let stage = config.rotation_stage();
    let keys = key_names(&config);
    ui.status(format!("{}: {done}", file.display()));
    ui.status(format!("next: {}", next_steps(&stage)));
    ui.result(
        &json!({
            "file": file,
            "keys": keys,
            "stage": stage,
            "next": next_steps(&stage),
        }),
        String::new,
    )
}

fn status(dir: &Path, ui: &Ui) -> Result<()> {
    let file = path(dir);
    let config = load(&file)?;
    let stage = config.rotation_stage();
    let keys = key_names(&config);
    ui.result(
        &json!({ "file": file, "keys": keys, "stage": stage, "next": next_steps(&stage) }),
        || {
            format!(
                "{}: {stage} (keys in order: {})\nnext: {}\n",
                file.display(),
                keys.join(", "),
                next_steps(&stage)
            )
        },
    )
}

#[allow(dead_code)] // for `k8s-hard status`, which is to call `masters_stage`
/// One master's copy of encryption-config.yaml, as `status` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteCopy {
    /// The node has no such file.
    Missing,
    /// The file's text (read over SSH).
    Text(String),
    /// Only the file's sha256 (hex), as a distribution check reports it.
    Sha256(String),
}

#[allow(dead_code)] // for `k8s-hard status`, which is to call `masters_stage`
/// Where one master stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MasterStage {
    /// The node.
    pub node: String,
    /// Whether its copy is byte for byte the local file.
    pub same_as_local: bool,
    /// Its copy's stage, when it could be read (the local stage when it is the same file).
    pub stage: Option<RotationStage>,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
}

#[allow(dead_code)] // for `k8s-hard status`, which is to call `masters_stage`
/// The masters' copies of the encryption config, judged together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MastersEncryption {
    /// The local file's stage.
    pub local_stage: RotationStage,
    /// Every master has the local file, byte for byte.
    pub all_same: bool,
    /// Every pair of readable copies can read what the other writes: a mixed state that is a
    /// rollout in progress, not a fault. `false` when a copy is missing or unreadable too.
    pub compatible: bool,
    /// Per master.
    pub masters: Vec<MasterStage>,
    /// One line for people: the stage and what to do next.
    pub summary: String,
}

#[allow(dead_code)] // for `k8s-hard status`, which is to call `masters_stage`
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[allow(dead_code)] // for `k8s-hard status`, which is to call `masters_stage`
/// For `k8s-hard status`: given the local encryption-config.yaml's text and each master's
/// copy (its text, or only its sha256), tells which stage of a rotation the masters are in,
/// whether they all have the same file, and whether a mix is safe (every copy can read what
/// every other writes) or not.
///
/// # Errors
/// When the local text is not a valid encryption config.
pub fn masters_stage(local: &str, copies: &[(String, RemoteCopy)]) -> Result<MastersEncryption> {
    let local_config = parse_encryption_config(local).context("local encryption-config.yaml")?;
    let local_stage = local_config.rotation_stage();
    let local_sha = sha256_hex(local.as_bytes());
    let mut masters = Vec::new();
    let mut configs: Vec<Option<EncryptionConfig>> = Vec::new();
    for (node, copy) in copies {
        let (same, config, problem) = match copy {
            RemoteCopy::Missing => (false, None, Some("no encryption-config.yaml".to_string())),
            RemoteCopy::Sha256(sha) if sha.eq_ignore_ascii_case(&local_sha) => {
                (true, Some(local_config.clone()), None)
            }
            RemoteCopy::Sha256(_) => (
                false,
                None,
                Some("differs from the local file (contents not read)".to_string()),
            ),
            RemoteCopy::Text(text) => match parse_encryption_config(text) {
                Ok(c) => (text == local, Some(c), None),
                Err(e) => (false, None, Some(format!("invalid: {e}"))),
            },
        };
        masters.push(MasterStage {
            node: node.clone(),
            same_as_local: same,
            stage: config.as_ref().map(EncryptionConfig::rotation_stage),
            problem,
        });
        configs.push(config);
    }
    let all_same = masters.iter().all(|m| m.same_as_local);
    let readable: Vec<&EncryptionConfig> = configs.iter().flatten().collect();
    let compatible = readable.len() == configs.len()
        && readable
            .iter()
            .all(|a| readable.iter().all(|b| a.reads_writes_of(b)));
    let summary = if all_same {
        format!(
            "every master has the local file: {local_stage}; next: {}",
            next_steps(&local_stage)
        )
    } else {
        let same = masters.iter().filter(|m| m.same_as_local).count();
        let verdict = if compatible {
            "safe mix (each can read what the others write): finish with `k8s-hard distribute` and restart kube-apiserver where it changed"
        } else {
            "NOT safe: some master writes with a key another cannot read; `k8s-hard distribute` and restart kube-apiserver on every master before anything else"
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_kubeconfig::EncryptionKey;

    fn text(config: &EncryptionConfig) -> String {
        render_encryption_config(config).unwrap()
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
                (
                    "m1".into(),
                    RemoteCopy::Sha256(sha256_hex(stage1.as_bytes())),
                ),
            ],
        )
        .unwrap();
        assert!(all.all_same && all.compatible, "{all:?}");
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
        assert!(!rollout.all_same && rollout.compatible, "{rollout:?}");
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
        assert!(!fault.compatible, "{fault:?}");
        assert!(fault.summary.contains("NOT safe"), "{}", fault.summary);
        assert_eq!(
            fault.masters[2].problem.as_deref(),
            Some("no encryption-config.yaml")
        );
    }
}
