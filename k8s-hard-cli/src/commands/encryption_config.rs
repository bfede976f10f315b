//! `k8s-hard encryption-config generate | rotate | promote | prune | status`
//! ("Kubernetes from the ground up" STEP 7, and key rotation in Kubernetes' documented stages).
//! `promote` and `prune` first check over SSH that every master holds the local file as it
//! is; `prune` asks, and keeps the keys it removes in `encryption-keys.retired.yaml`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use k8s_cluster::{
    Cluster, EncryptionChange, Layout, MastersEncryption, REENCRYPT, check_masters_encryption,
    generate_encryption_config, next_steps, read_encryption_config, retire_keys,
    write_encryption_config,
};
use k8s_kubeconfig::{EncryptionConfig, EncryptionKey, RotationStage};
use serde_json::json;
use time::OffsetDateTime;

use crate::cli::{EncryptionCommand, PruneArgs, StageArgs};
use crate::commands::status;
use crate::output::Ui;

pub fn run(dir: &Path, cmd: &EncryptionCommand, ui: &Ui) -> Result<bool> {
    match cmd {
        EncryptionCommand::Generate => generate(dir, ui).map(|_| true),
        EncryptionCommand::Rotate => rotate(dir, ui).map(|()| true),
        EncryptionCommand::Promote(args) => promote(dir, args, ui).map(|()| true),
        EncryptionCommand::Prune(args) => prune(dir, args, ui).map(|()| true),
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

fn rotate(dir: &Path, ui: &Ui) -> Result<()> {
    let layout = Layout::new(dir);
    let mut config = read_encryption_config(&layout)?;
    let new = config.rotate()?;
    write_encryption_config(&layout, &config)?;
    done(
        &layout,
        &config,
        &format!(
            "added key {new} second: every API server can read with it, none writes with it yet"
        ),
        json!({}),
        ui,
    )
}

fn promote(dir: &Path, args: &StageArgs, ui: &Ui) -> Result<()> {
    let layout = Layout::new(dir);
    let mut config = read_encryption_config(&layout)?;
    let stage = config.rotation_stage();
    // Changed in memory first: a promote that is refused for itself needs no check.
    let new = config.promote()?;
    let masters = check_masters(
        dir,
        "promote",
        &stage,
        &format!(
            "every API server must be able to read with {new} before any writes with it, or it cannot read their new secrets"
        ),
        args,
        ui,
    )?;
    write_encryption_config(&layout, &config)?;
    done(
        &layout,
        &config,
        &format!(
            "moved key {new} first: API servers given this file write with it; the old keys stay to read"
        ),
        json!({ "masters": masters }),
        ui,
    )
}

fn prune(dir: &Path, args: &PruneArgs, ui: &Ui) -> Result<()> {
    let layout = Layout::new(dir);
    let mut config = read_encryption_config(&layout)?;
    let stage = config.rotation_stage();
    let retiring: Vec<EncryptionKey> = config.secrets_keys().iter().skip(1).cloned().collect();
    let removed = config.prune()?;
    let keys = key_names(&config);
    let writing = keys.first().map_or("", String::as_str);
    if removed.is_empty() {
        return done(
            &layout,
            &config,
            &format!("nothing to prune: {writing} is the only key"),
            json!({ "removed": removed }),
            ui,
        );
    }
    let removed_list = removed.join(", ");
    let masters = check_masters(
        dir,
        "prune",
        &stage,
        &format!(
            "every API server must write with {writing} before {removed_list} goes: one still writing with it would write secrets that nobody can read after the prune"
        ),
        &args.stage,
        ui,
    )?;
    let retired_file = layout.retired_encryption_keys();
    ui.status(format!(
        "before the prune, every secret must be re-encrypted with {writing}: `{REENCRYPT}` (and etcd backed up); secrets still encrypted with {removed_list} cannot be read once the prune reaches the API servers"
    ));
    let question = format!(
        "remove {removed_list} from {} (it is kept in {})?",
        layout.encryption_config().display(),
        retired_file.display()
    );
    if !confirm(&question, args.yes)? {
        ui.status("nothing pruned");
        return Ok(());
    }
    // The copy first: an interruption between the two writes leaves the key in both files.
    retire_keys(&layout, &retiring, writing, OffsetDateTime::now_utc())?;
    write_encryption_config(&layout, &config)?;
    done(
        &layout,
        &config,
        &format!(
            "removed {removed_list} (kept in {})",
            retired_file.display()
        ),
        json!({ "masters": masters, "removed": removed, "retired_file": retired_file }),
        ui,
    )
}

/// Says what a stage did and what comes next; the result on stdout is `extra` with the file,
/// its keys, its stage and the next step.
fn done(
    layout: &Layout,
    config: &EncryptionConfig,
    what: &str,
    mut extra: serde_json::Value,
    ui: &Ui,
) -> Result<()> {
    let file = layout.encryption_config();
    let stage = config.rotation_stage();
    ui.status(format!("{}: {what}", file.display()));
    ui.status(format!("next: {}", next_steps(&stage)));
    extra["file"] = json!(file);
    extra["keys"] = json!(key_names(config));
    extra["stage"] = json!(stage);
    extra["next"] = json!(next_steps(&stage));
    ui.result(&extra, String::new)
}

/// Before `step` changes the local file (at `stage`): every master must hold it as it is now,
/// judged over SSH. Refuses naming the masters that do not and what they hold, with `why`;
/// `--force` skips the check (`None`).
fn check_masters(
    dir: &Path,
    step: &str,
    stage: &RotationStage,
    why: &str,
    args: &StageArgs,
    ui: &Ui,
) -> Result<Option<MastersEncryption>> {
    let force_hint = format!("--force to {step} without this check");
    if args.force {
        ui.warn(format!(
            "--force: the masters' copies of encryption-config.yaml were not checked before the {step}"
        ));
        return Ok(None);
    }
    let cluster = Cluster::load(dir)
        .with_context(|| format!("cannot check the masters' copies ({force_hint})"))?;
    let file = cluster.layout.encryption_config();
    let local = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let check = runtime
        .block_on(async {
            let (client, manifest) = status::quick_client(&cluster, &args.ssh, &args.aws).await?;
            Ok::<_, anyhow::Error>(
                check_masters_encryption(
                    &client,
                    &manifest,
                    &local,
                    args.ssh.target_dir.as_deref(),
                )
                .await?,
            )
        })
        .with_context(|| format!("cannot check the masters' copies ({force_hint})"))?;
    let lagging = check.not_holding_local();
    if lagging.is_empty() {
        ui.status(format!(
            "every master ({}) holds {} as it is now ({stage})",
            check.masters.len(),
            file.display()
        ));
        return Ok(Some(check));
    }
    let lines: String = lagging
        .iter()
        .map(|m| format!("\n  {}: {}", m.node, m.holds()))
        .collect();
    bail!(
        "refusing to {step}: {} of {} masters do not hold {} as it is now ({stage}):{lines}\n{why}. \
         Run `k8s-hard distribute`, restart kube-apiserver on those masters, then {step} again \
         ({force_hint})",
        lagging.len(),
        check.masters.len(),
        file.display()
    )
}

/// Asks `question` on the terminal; `yes` answers it. Without a terminal to ask, refuses.
fn confirm(question: &str, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to prune without --yes (stdin is not a terminal to ask): pass --yes");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
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
