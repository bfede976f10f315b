//! Which file goes where: the certificate and kubeconfig file names of a cluster, from the
//! certificate table (`k8s-pki`) and the kubeconfig set (`k8s-kubeconfig`), never spelled
//! again; and the distribution manifest built from them.

use k8s_distribute::{FileMode, FileToSend, Manifest, NodeFiles, Role};
use k8s_kubeconfig::{Component, WorkerNode};
use k8s_pki::{CertSpec, Pki};

use crate::cluster::{Cluster, ResolvedNode};
use crate::error::{Result, invalid};

/// The certificate table row a kubeconfig's client certificate comes from.
pub fn certificate_row(component: &Component) -> &'static str {
    match component {
        Component::Kubelet(_) => "kubelet",
        Component::KubeProxy => "kube-proxy",
        Component::KubeControllerManager => "kube-controller-manager",
        Component::KubeScheduler => "kube-scheduler",
        Component::Admin => "admin",
    }
}

impl Cluster {
    /// The kubeconfigs of the tutorial's STEP 6: a kubelet's per worker, kube-proxy,
    /// kube-controller-manager, kube-scheduler and admin.
    pub fn kubeconfig_components(&self) -> Vec<Component> {
        Component::tutorial_set(self.workers.iter().map(|w| WorkerNode {
            name: w.name.clone(),
            hostname: w.hostname.clone(),
        }))
    }

    /// The certificate (in `pki`'s table) whose key and certificate `component`'s kubeconfig
    /// embeds: the worker's own for a kubelet, else the component's row.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) when the table has no such certificate.
    pub fn kubeconfig_certificate<'p>(
        &self,
        pki: &'p Pki,
        component: &Component,
    ) -> Result<&'p CertSpec> {
        let row = certificate_row(component);
        let worker = match component {
            Component::Kubelet(w) => Some(w.name.as_str()),
            _ => None,
        };
        pki.specs()
            .iter()
            .find(|s| s.id == row && worker.is_none_or(|w| s.name == w))
            .ok_or_else(|| {
                invalid(format!(
                    "{}: no {row} certificate in the PKI for it",
                    component.file_name()
                ))
            })
    }

    /// The distribution manifest (the tutorial's STEP 5, STEP 6's task and STEP 7's copy):
    /// each master gets the CA pair, the API server pair, the service-account pair, the
    /// kube-controller-manager, kube-scheduler and admin kubeconfigs and the encryption
    /// config; each worker the CA certificate, its own pair and kubeconfig, and kube-proxy's.
    /// File names come from the certificate table and the kubeconfig set; nodes are reached
    /// at [`Cluster::ssh_address`] as `ssh.user`.
    ///
    /// # Errors
    /// [`Error::Pki`](crate::Error::Pki) or [`Error::Distribute`](crate::Error::Distribute)
    /// when the inputs are not valid.
    pub fn manifest(&self) -> Result<Manifest> {
        let pki = Pki::new(self.pki_inputs())?;
        let pki_dir = self.layout.pki_dir();
        let kubeconfig_dir = self.layout.kubeconfig_dir();
        let by_row = |row: &str| pki.specs().iter().find(|s| s.id == row);
        let pair = |spec: Option<&CertSpec>, key: bool| -> Vec<FileToSend> {
            let Some(spec) = spec else { return Vec::new() };
            let mut files = vec![send(
                k8s_pki::store::cert_path(&pki_dir, &spec.name),
                FileMode::Public,
            )];
            if key {
                files.push(send(
                    k8s_pki::store::key_path(&pki_dir, &spec.name),
                    FileMode::Secret,
                ));
            }
            files
        };
        let kubeconfig = |c: &Component| send(kubeconfig_dir.join(c.file_name()), FileMode::Secret);

        let mut master_files = pair(by_row(k8s_pki::CA), true);
        master_files.extend(pair(by_row("service-account"), true));
        master_files.extend(pair(by_row("kube-apiserver"), true));
        for c in [
            Component::KubeControllerManager,
            Component::KubeScheduler,
            Component::Admin,
        ] {
            master_files.push(kubeconfig(&c));
        }
        master_files.push(send(self.layout.encryption_config(), FileMode::Secret));

        let node = |n: &ResolvedNode| {
            k8s_distribute::Node::new(n.name.clone(), self.ssh_address(n))
                .with_port(n.ssh_port)
                .with_user(self.spec.ssh.user.clone())
        };
        let mut nodes: Vec<NodeFiles> = self
            .masters
            .iter()
            .map(|m| NodeFiles {
                node: node(m),
                role: Role::Master,
                files: master_files.clone(),
            })
            .collect();
        for (w, component) in self.workers.iter().zip(self.kubeconfig_components()) {
            let own = pki
                .specs()
                .iter()
                .find(|s| s.id == certificate_row(&component) && s.name == w.name);
            let mut files = pair(by_row(k8s_pki::CA), false);
            files.extend(pair(own, true));
            files.push(kubeconfig(&component));
            files.push(kubeconfig(&Component::KubeProxy));
            nodes.push(NodeFiles {
                node: node(w),
                role: Role::Worker,
                files,
            });
        }
        let manifest = Manifest { nodes };
        manifest.validate()?;
        Ok(manifest)
    }
}

/// A local file sent under its own name.
fn send(local: std::path::PathBuf, mode: FileMode) -> FileToSend {
    let remote_name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    FileToSend {
        local,
        remote_name,
        mode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitOptions, render_default};

    fn cluster() -> Cluster {
        let opts = InitOptions {
            installation_id: "0123456789abcdef".into(),
            ..InitOptions::new().unwrap()
        };
        crate::ClusterSpec::parse(
            &render_default(&opts),
            std::path::Path::new("c/cluster.yaml"),
        )
        .unwrap()
        .resolve("c/cluster.yaml".into())
        .unwrap()
    }

    fn names(files: &[FileToSend]) -> Vec<&str> {
        files.iter().map(|f| f.remote_name.as_str()).collect()
    }

    /// The same files as the tutorial's `scp` loops, and as k8s-distribute's own defaults.
    #[test]
    fn the_manifest_is_the_tutorials() {
        let c = cluster();
        let m = c.manifest().unwrap();
        assert_eq!(m.nodes.len(), 6);
        assert_eq!(
            names(&m.nodes[0].files),
            [
                "ca.pem",
                "ca-key.pem",
                "service-account.pem",
                "service-account-key.pem",
                "master-kubernetes.pem",
                "master-kubernetes-key.pem",
                "kube-controller-manager.kubeconfig",
                "kube-scheduler.kubeconfig",
                "admin.kubeconfig",
                "encryption-config.yaml",
            ]
        );
        let w = "k8s-cluster-from-ground-up-worker-1";
        let worker_files = names(&m.nodes[4].files);
        assert_eq!(
            worker_files,
            [
                "ca.pem".to_string(),
                format!("{w}.pem"),
                format!("{w}-key.pem"),
                format!("{w}.kubeconfig"),
                "kube-proxy.kubeconfig".to_string(),
            ]
        );
        let defaults = k8s_distribute::Manifest::for_cluster(
            &[m.nodes[0].node.clone()],
            &[m.nodes[4].node.clone()],
            &c.layout.local_files(),
        )
        .unwrap();
        assert_eq!(defaults.nodes[0].files, m.nodes[0].files);
        assert_eq!(defaults.nodes[1].files, m.nodes[4].files);
        assert!(m.nodes[0].files[1].local.starts_with("c/pki"));
    }

    #[test]
    fn each_kubeconfig_embeds_its_own_certificate() {
        let c = cluster();
        let pki = Pki::new(c.pki_inputs()).unwrap();
        let found: Vec<(String, String)> = c
            .kubeconfig_components()
            .iter()
            .map(|k| {
                (
                    k.file_name(),
                    c.kubeconfig_certificate(&pki, k).unwrap().name.clone(),
                )
            })
            .collect();
        let w0 = "k8s-cluster-from-ground-up-worker-0";
        assert_eq!(found[0], (format!("{w0}.kubeconfig"), w0.to_string()));
        assert!(found.contains(&("admin.kubeconfig".into(), "admin".into())));
        assert!(found.contains(&("kube-proxy.kubeconfig".into(), "kube-proxy".into())));
        assert_eq!(found.len(), 7);
    }
}
