//! Where everything of one cluster lives: one type owns every local path.

use std::path::{Path, PathBuf};

/// The file name of the cluster spec inside the cluster folder.
pub const CLUSTER_FILE: &str = "cluster.yaml";

/// The local files of one cluster, under its folder (`--dir`):
///
/// ```text
/// <dir>/cluster.yaml            the spec
/// <dir>/pki/                    certificates and keys (cfssljson names)
/// <dir>/kubeconfigs/            <name>.kubeconfig
/// <dir>/encryption-config.yaml  the etcd encryption-at-rest config
/// <dir>/encryption-keys.retired.yaml  the keys `encryption-config prune` removed
/// <dir>/state.json              what `infra up` found or made
/// <dir>/ssh/<cluster>.id_rsa    the AWS key pair's private key
/// ```
///
/// The names of the files inside `pki/` and `kubeconfigs/` (and on the nodes) come from the
/// certificate table (`k8s-pki`) and the kubeconfig set (`k8s-kubeconfig`), not from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout of the cluster folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Layout { dir: dir.into() }
    }

    /// The cluster folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/cluster.yaml`.
    pub fn cluster_file(&self) -> PathBuf {
        self.dir.join(CLUSTER_FILE)
    }

    /// `<dir>/pki`.
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// `<dir>/kubeconfigs`.
    pub fn kubeconfig_dir(&self) -> PathBuf {
        self.dir.join("kubeconfigs")
    }

    /// `<dir>/encryption-config.yaml`.
    pub fn encryption_config(&self) -> PathBuf {
        self.dir.join("encryption-config.yaml")
    }

    /// `<dir>/encryption-keys.retired.yaml`: the keys `encryption-config prune` removed
    /// (0600), kept to read etcd backups taken before the prune.
    pub fn retired_encryption_keys(&self) -> PathBuf {
        self.dir.join("encryption-keys.retired.yaml")
    }

    /// `<dir>/state.json`.
    pub fn state_file(&self) -> PathBuf {
        self.dir.join(k8s_aws_infra::STATE_FILE)
    }

    /// `<dir>/ssh/<cluster>.id_rsa`: the AWS key pair's private key.
    pub fn ssh_key(&self, cluster: &str) -> PathBuf {
        k8s_aws_infra::key_path(&self.dir, cluster)
    }

    /// `<dir>/ssh`: the folder of [`Layout::ssh_key`].
    pub fn ssh_dir(&self) -> PathBuf {
        self.ssh_key("cluster")
            .parent()
            .map_or_else(|| self.dir.join("ssh"), Path::to_path_buf)
    }

    /// The folders generated files are written into (where an interrupted run may leave
    /// temp files): the cluster folder, `pki/`, `kubeconfigs/`, `ssh/`.
    pub fn folders(&self) -> Vec<PathBuf> {
        vec![
            self.dir.clone(),
            self.pki_dir(),
            self.kubeconfig_dir(),
            self.ssh_dir(),
        ]
    }

    /// The secret files and folders, which must stay 0600 / 0700: `pki/` and its keys (and a
    /// CA being written), `kubeconfigs/` and every kubeconfig, the encryption config and the
    /// retired keys, `ssh/` and everything in it, `state.json`. Not the cluster folder itself:
    /// it may be the user's own (`--dir .` in a project).
    pub fn private_paths(&self) -> Vec<k8s_files::PrivatePath> {
        use k8s_files::PrivatePath;
        let (pki, kubeconfigs, ssh) = (self.pki_dir(), self.kubeconfig_dir(), self.ssh_dir());
        vec![
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
            PrivatePath::File(self.encryption_config()),
            PrivatePath::File(self.retired_encryption_keys()),
            PrivatePath::Dir(ssh.clone()),
            PrivatePath::FilesIn {
                dir: ssh,
                suffix: String::new(),
            },
            PrivatePath::File(self.state_file()),
        ]
    }

    /// Everything the cluster's commands generate (not cluster.yaml): what a purge removes.
    pub fn generated(&self) -> Vec<PathBuf> {
        vec![
            self.pki_dir(),
            self.kubeconfig_dir(),
            self.encryption_config(),
            self.retired_encryption_keys(),
            self.ssh_dir(),
            self.state_file(),
        ]
    }

    /// The pieces `k8s-distribute`'s manifest reads from.
    pub fn local_files(&self) -> k8s_distribute::LocalFiles {
        k8s_distribute::LocalFiles {
            pki_dir: self.pki_dir(),
            kubeconfig_dir: self.kubeconfig_dir(),
            encryption_config: self.encryption_config(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_under_the_folder() {
        let l = Layout::new("/c");
        assert_eq!(l.cluster_file(), Path::new("/c/cluster.yaml"));
        assert_eq!(l.ssh_key("demo"), Path::new("/c/ssh/demo.id_rsa"));
        let generated = l.generated();
        assert_eq!(generated.len(), 6);
        assert!(generated.iter().all(|p| p.starts_with("/c")));
        assert!(!generated.contains(&l.cluster_file()));
        assert_eq!(l.ssh_dir(), Path::new("/c/ssh"));
        assert!(l.private_paths().len() >= 10);
        assert_eq!(
            l.retired_encryption_keys(),
            Path::new("/c/encryption-keys.retired.yaml")
        );
    }
}
