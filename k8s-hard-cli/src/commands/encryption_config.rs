//! `k8s-hard encryption-config generate | rotate` (seed STEP 7).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use k8s_files::{Mode, write_file};
use k8s_kubeconfig::{
    Prepared, parse_encryption_config, prepare_encryption_config, render_encryption_config,
};
use serde_json::json;

use crate::cli::EncryptionCommand;
use crate::output::Ui;

/// `<dir>/encryption-config.yaml`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("encryption-config.yaml")
}

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
        EncryptionCommand::Rotate => rotate(dir, ui).map(|()| true),
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
    let keys: Vec<&str> = prepared
        .config()
        .secrets_keys()
        .iter()
        .map(|k| k.name.as_str())
        .collect();
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

fn rotate(dir: &Path, ui: &Ui) -> Result<()> {
    let file = path(dir);
    let text = read_existing(&file)?.with_context(|| {
        format!(
            "{} does not exist: run `k8s-hard encryption-config generate` first",
            file.display()
        )
    })?;
    let mut config = parse_encryption_config(&text)
        .with_context(|| format!("{}: invalid encryption config", file.display()))?;
    let new = config.rotate()?;
    write_file(
        &file,
        render_encryption_config(&config)?.as_bytes(),
        Mode::Secret,
    )?;
    let keys: Vec<&str> = config
        .secrets_keys()
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    ui.status(format!(
        "added key {new} first in {}; older keys stay to read existing secrets ({}). Distribute it to every master and restart kube-apiserver",
        file.display(),
        keys.join(", ")
    ));
    ui.result(
        &json!({ "file": file, "new_key": new, "keys": keys }),
        String::new,
    )
}
