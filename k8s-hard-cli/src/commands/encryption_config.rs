//! `k8s-hard encryption-config generate | rotate | promote | prune | status`
//! ("Kubernetes from the ground up" STEP 7, and key rotation in Kubernetes' documented stages).

use std::path::Path;

use anyhow::Result;
use k8s_cluster::{
    EncryptionChange, Layout, REENCRYPT, generate_encryption_config, next_steps,
    read_encryption_config, write_encryption_config,
};
use k8s_kubeconfig::EncryptionConfig;
use serde_json::json;

use crate::cli::EncryptionCommand;
use crate::output::Ui;

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
pub fn generate(dir: &Path, ui: &Ui) -> Result<EncryptionChange> {
    let layout = Layout::new(dir);
    let file = layout.encryption_config();
    let (change, config) = generate_encryption_config(&layout)?;
    let keys = key_names(&config);
    match change {
        EncryptionChange::Kept => ui.detail(format!(
            "kept {} (keys: {})",
            file.display(),
            keys.join(", ")
        )),
        EncryptionChange::Upgraded => ui.status(format!(
            "rewrote {} in the current EncryptionConfiguration form, same keys",
            file.display()
        )),
        EncryptionChange::Generated => ui.status(format!(
            "wrote {} with a new 32-byte aescbc key",
            file.display()
        )),
    }
    ui.result(
        &json!({ "file": file, "status": change, "keys": keys }),
        String::new,
    )?;
    Ok(change)
}

fn key_names(config: &EncryptionConfig) -> Vec<String> {
    config
        .secrets_keys()
        .iter()
        .map(|k| k.name.clone())
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Rotate,
    Promote,
    Prune,
}

fn stage(dir: &Path, step: Step, ui: &Ui) -> Result<()> {
    let layout = Layout::new(dir);
    let file = layout.encryption_config();
    let mut config = read_encryption_config(&layout)?;
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
    write_encryption_config(&layout, &config)?;
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
    let layout = Layout::new(dir);
    let file = layout.encryption_config();
    let config = read_encryption_config(&layout)?;
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
