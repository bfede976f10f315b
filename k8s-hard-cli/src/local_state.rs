//! DIR's guard for every command that writes: one writer at a time, secrets at their modes,
//! leftovers of killed runs removed. Called once, from `main`'s dispatch.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use k8s_files::{DirLock, PrivatePath, sweep_temp_files, tighten};

use crate::commands::{encryption_config, kubeconfig};
use crate::output::Ui;
use crate::spec::Cluster;

/// `<dir>/ssh`: the folder of the AWS key pair's private key.
fn ssh_dir(dir: &Path) -> PathBuf {
    let key = k8s_aws_infra::key_path(dir, "cluster");
    key.parent()
        .map_or_else(|| dir.join("ssh"), Path::to_path_buf)
}

/// The secret files and folders of DIR: the folder itself, pki/ and its keys, kubeconfigs/
/// and every kubeconfig in it, the encryption config, ssh/ and everything in it, state.json.
pub fn private_paths(dir: &Path) -> Vec<PrivatePath> {
    let pki = Cluster::pki_dir(dir);
    let kubeconfigs = kubeconfig::kubeconfig_dir(dir);
    let ssh = ssh_dir(dir);
    vec![
        PrivatePath::Dir(dir.to_path_buf()),
        PrivatePath::Dir(pki.clone()),
        PrivatePath::FilesIn {
            dir: pki.clone(),
            suffix: "-key.pem".into(),
        },
        PrivatePath::File(pki.join(k8s_pki::store::CA_PENDING)),
        PrivatePath::Dir(kubeconfigs.clone()),
        PrivatePath::FilesIn {
            dir: kubeconfigs,
            suffix: ".kubeconfig".into(),
        },
        PrivatePath::File(encryption_config::path(dir)),
        PrivatePath::Dir(ssh.clone()),
        PrivatePath::FilesIn {
            dir: ssh,
            suffix: String::new(),
        },
        PrivatePath::File(dir.join(k8s_aws_infra::STATE_FILE)),
    ]
}

/// The command line as the lock records it: `k8s-hard <args>`.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("k8s-hard {}", args.join(" "))
        .trim_end()
        .to_string()
}

/// Takes DIR's lock (refused at once when another k8s-hard writes there), removes the temp
/// files a killed run left, and narrows every secret file and folder to 0600 / 0700, saying
/// which. The lock is held until the returned value is dropped.
///
/// # Errors
/// When the lock is held by another process (naming it), or a path cannot be read or changed.
pub fn guard(dir: &Path, ui: &Ui) -> Result<DirLock> {
    let lock = DirLock::acquire(dir, &command_line())?;
    for folder in [
        dir.to_path_buf(),
        Cluster::pki_dir(dir),
        kubeconfig::kubeconfig_dir(dir),
        ssh_dir(dir),
    ] {
        for stale in sweep_temp_files(&folder)? {
            ui.status(format!(
                "removed {} (a temp file of an interrupted run)",
                stale.display()
            ));
        }
    }
    for changed in tighten(&private_paths(dir)).context("bringing secrets to mode 0600/0700")? {
        ui.status(changed.to_string());
    }
    Ok(lock)
}
