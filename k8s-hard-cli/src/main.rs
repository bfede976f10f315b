//! `k8s-hard`: the command line over the k8s-hard libraries.

mod cli;
mod commands;
mod local_state;
mod output;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use output::Ui;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ctrl-C (and SIGTERM/SIGHUP) removes the temp files being written before exiting; the
    // renames already done leave states the next run accepts.
    if let Err(e) = k8s_files::remove_temp_files_on_interrupt() {
        eprintln!("warning: {e}");
    }
    let ui = Ui {
        output: cli.output,
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    match run(&cli, &ui) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            ui.error(&e, hint(&e));
            ExitCode::from(1)
        }
    }
}

/// Runs the command; `Ok(false)` means it ran but found problems (exit 1).
fn run(cli: &Cli, ui: &Ui) -> anyhow::Result<bool> {
    let dir = &cli.dir;
    // One writer per DIR; read-only commands neither wait nor block.
    let _lock = if cli.command.writes() {
        Some(local_state::guard(dir, ui)?)
    } else {
        None
    };
    match &cli.command {
        Command::Init(args) => commands::init::run(dir, args, ui).map(|()| true),
        Command::Up(args) => commands::up::run(dir, args, ui),
        Command::Down(args) => commands::down::run(dir, args, ui),
        Command::Status(args) => commands::status::run(dir, args, ui),
        Command::Infra(args) => commands::infra::run(dir, args, ui),
        Command::Pki(cmd) => commands::pki::run(dir, cmd, ui),
        Command::Kubeconfig(cmd) => commands::kubeconfig::run(dir, cmd, ui),
        Command::EncryptionConfig(cmd) => commands::encryption_config::run(dir, cmd, ui),
        Command::Bundle(args) => commands::bundle::run(dir, args, ui),
        Command::Distribute(args) => commands::distribute::run(dir, args, ui),
        Command::Completions { shell } => {
            commands::completions::run(*shell);
            Ok(true)
        }
    }
}

/// What to do about errors we recognise.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    for cause in e.chain() {
        // Directly, or wrapped (transparently) by the cluster crate.
        let pki = cause.downcast_ref::<k8s_pki::Error>().or_else(|| {
            match cause.downcast_ref::<k8s_cluster::Error>() {
                Some(k8s_cluster::Error::Pki(e)) => Some(e),
                _ => None,
            }
        });
        if let Some(k8s_pki::Error::CaUnusable { .. }) = pki {
            return Some(
                "fix or restore pki/ca.pem and pki/ca-key.pem, or run `k8s-hard pki generate --replace-ca` (every certificate is then re-issued and must be redistributed)",
            );
        }
    }
    for cause in e.chain() {
        if let Some(k8s_files::Error::Locked { .. }) = cause.downcast_ref::<k8s_files::Error>() {
            return Some(
                "only one k8s-hard command may write to a folder at a time; read-only ones (status, pki check, infra plan, --plan) run alongside",
            );
        }
        if let Some(k8s_kubeconfig::Error::NameClash { .. }) =
            cause.downcast_ref::<k8s_kubeconfig::Error>()
        {
            return Some(
                "`k8s-hard kubeconfig use-admin --force` replaces them; or pass --kubeconfig FILE to merge into another file",
            );
        }
        if let Some(k8s_cluster::Error::Spec { .. }) = cause.downcast_ref::<k8s_cluster::Error>() {
            return Some(
                "`k8s-hard init --force` writes a fresh, commented cluster.yaml to start from (it keeps the installation ID)",
            );
        }
    }
    None
}
