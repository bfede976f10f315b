//! Which file goes where on a master, with its owner and mode, and which components read it:
//! what an installer creates, and what it restarts when a file changes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::inputs::{cert, key};
use crate::plane::{AUDIT_POLICY, Component, ControlPlane, SCHEDULER_CONFIG};
use crate::unit::render_unit;

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A file `distribute` sent to the node (a certificate, key, kubeconfig or the
    /// encryption config), by its name there.
    Distributed {
        /// Its file name (`master-kubernetes-key.pem`).
        name: String,
    },
    /// A release binary (`kube-apiserver`, `etcdctl`).
    Binary {
        /// Its file name.
        name: String,
    },
    /// A file this crate renders: a unit, the scheduler's config, the audit policy.
    Rendered {
        /// Its whole text.
        contents: String,
    },
}

/// A file on a master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFile {
    /// Its absolute path.
    pub path: PathBuf,
    /// Where its bytes come from.
    pub source: Source,
    /// Its owner (`root`).
    pub owner: String,
    /// Its group (`root`).
    pub group: String,
    /// Its permission bits (0600 for private keys, kubeconfigs and the encryption config).
    pub mode: u32,
    /// The components that read it: the ones to restart when it changes.
    pub used_by: Vec<Component>,
}

/// A folder on a master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDir {
    /// Its absolute path.
    pub path: PathBuf,
    /// Its owner (`root`).
    pub owner: String,
    /// Its group (`root`).
    pub group: String,
    /// Its permission bits (0700 where private keys or etcd's data live).
    pub mode: u32,
}

/// Everything a master holds for the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The folders to create, parents first.
    pub dirs: Vec<NodeDir>,
    /// The files, binaries first, units last.
    pub files: Vec<NodeFile>,
}

impl Layout {
    /// The file at `path`.
    pub fn file(&self, path: &std::path::Path) -> Option<&NodeFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Private: 0600, public: 0644, program: 0755.
const SECRET: u32 = 0o600;
const PUBLIC: u32 = 0o644;
const PROGRAM: u32 = 0o755;
const PRIVATE_DIR: u32 = 0o700;
const PUBLIC_DIR: u32 = 0o755;

fn dir(path: PathBuf, mode: u32) -> NodeDir {
    NodeDir {
        path,
        owner: "root".into(),
        group: "root".into(),
        mode,
    }
}

fn file(path: PathBuf, source: Source, mode: u32, used_by: &[Component]) -> NodeFile {
    NodeFile {
        path,
        source,
        owner: "root".into(),
        group: "root".into(),
        mode,
        used_by: used_by.to_vec(),
    }
}

fn distributed(name: &str) -> Source {
    Source::Distributed { name: name.into() }
}

impl ControlPlane {
    /// The layout of one master: its folders (etcd's certificates, etcd's data, the
    /// Kubernetes files, the config files; 0700 where a private key or etcd's data lives),
    /// then the binaries, the distributed files, the rendered configs and the four units.
    /// Everything is root's, as the tutorial's `sudo` makes it.
    ///
    /// # Errors
    /// [`crate::Error::UnknownMaster`] when no master has this hostname;
    /// [`crate::Error::Render`] if a YAML document cannot be written.
    pub fn layout(&self, hostname: &str) -> Result<Layout> {
        use Component::{Etcd, KubeApiserver as Api, KubeControllerManager as Kcm, KubeScheduler};
        let master = self.master(hostname)?;
        let i = self.inputs();
        let p = &i.paths;
        let f = &i.files;
        let dirs = vec![
            dir(p.etcd_dir.clone(), PRIVATE_DIR),
            dir(p.etcd_data_dir.clone(), PRIVATE_DIR),
            dir(p.kubernetes_dir.clone(), PRIVATE_DIR),
            dir(p.config_dir.clone(), PUBLIC_DIR),
        ];

        let mut files = Vec::new();
        let binaries: [(&str, &[Component]); 6] = [
            ("etcd", &[Etcd]),
            ("etcdctl", &[]),
            ("kube-apiserver", &[Api]),
            ("kube-controller-manager", &[Kcm]),
            ("kube-scheduler", &[KubeScheduler]),
            ("kubectl", &[]),
        ];
        for (name, used_by) in binaries {
            files.push(file(
                self.binary(name),
                Source::Binary { name: name.into() },
                PROGRAM,
                used_by,
            ));
        }

        let etcd_files = [
            (cert(&f.ca), PUBLIC),
            (cert(&f.apiserver), PUBLIC),
            (key(&f.apiserver), SECRET),
        ];
        for (name, mode) in etcd_files {
            files.push(file(
                p.etcd_dir.join(&name),
                distributed(&name),
                mode,
                &[Etcd],
            ));
        }

        let kubernetes_files: [(String, u32, &[Component]); 10] = [
            (cert(&f.ca), PUBLIC, &[Api, Kcm]),
            (key(&f.ca), SECRET, &[Kcm]),
            (cert(&f.apiserver), PUBLIC, &[Api]),
            (key(&f.apiserver), SECRET, &[Api]),
            (cert(&f.service_account), PUBLIC, &[Api]),
            (key(&f.service_account), SECRET, &[Api, Kcm]),
            (f.encryption_config.clone(), SECRET, &[Api]),
            (f.controller_manager_kubeconfig.clone(), SECRET, &[Kcm]),
            (f.scheduler_kubeconfig.clone(), SECRET, &[KubeScheduler]),
            (f.admin_kubeconfig.clone(), SECRET, &[]),
        ];
        for (name, mode, used_by) in kubernetes_files {
            files.push(file(
                p.kubernetes_dir.join(&name),
                distributed(&name),
                mode,
                used_by,
            ));
        }

        files.push(file(
            p.config_dir.join(SCHEDULER_CONFIG),
            Source::Rendered {
                contents: self.render_scheduler_config()?,
            },
            PUBLIC,
            &[KubeScheduler],
        ));
        files.push(file(
            p.config_dir.join(AUDIT_POLICY),
            Source::Rendered {
                contents: self.render_audit_policy()?,
            },
            PUBLIC,
            &[Api],
        ));
        for component in Component::ALL {
            let unit = self.unit_for(component, master);
            files.push(file(
                p.unit_dir.join(&unit.name),
                Source::Rendered {
                    contents: render_unit(&unit),
                },
                PUBLIC,
                &[component],
            ));
        }
        Ok(Layout { dirs, files })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::plane::tests::tutorial;

    fn layout() -> Layout {
        tutorial().layout("ip-172-31-0-10").expect("a master")
    }

    fn mode_of(layout: &Layout, path: &str) -> u32 {
        layout
            .file(Path::new(path))
            .unwrap_or_else(|| panic!("{path} is in the layout"))
            .mode
    }

    #[test]
    fn folders_with_keys_or_data_are_0700() {
        let dirs: Vec<(String, u32)> = layout()
            .dirs
            .into_iter()
            .map(|d| (d.path.display().to_string(), d.mode))
            .collect();
        assert_eq!(
            dirs,
            [
                ("/etc/etcd".to_string(), 0o700),
                ("/var/lib/etcd".to_string(), 0o700),
                ("/var/lib/kubernetes".to_string(), 0o700),
                ("/etc/kubernetes/config".to_string(), 0o755),
            ]
        );
    }

    #[test]
    fn every_secret_is_0600_and_every_certificate_0644() {
        let l = layout();
        for path in [
            "/etc/etcd/master-kubernetes-key.pem",
            "/var/lib/kubernetes/ca-key.pem",
            "/var/lib/kubernetes/master-kubernetes-key.pem",
            "/var/lib/kubernetes/service-account-key.pem",
            "/var/lib/kubernetes/encryption-config.yaml",
            "/var/lib/kubernetes/kube-controller-manager.kubeconfig",
            "/var/lib/kubernetes/kube-scheduler.kubeconfig",
            "/var/lib/kubernetes/admin.kubeconfig",
        ] {
            assert_eq!(mode_of(&l, path), 0o600, "{path}");
        }
        for path in [
            "/etc/etcd/ca.pem",
            "/etc/etcd/master-kubernetes.pem",
            "/var/lib/kubernetes/ca.pem",
            "/var/lib/kubernetes/service-account.pem",
            "/etc/kubernetes/config/kube-scheduler.yaml",
            "/etc/systemd/system/etcd.service",
        ] {
            assert_eq!(mode_of(&l, path), 0o644, "{path}");
        }
        assert_eq!(mode_of(&l, "/usr/local/bin/kube-apiserver"), 0o755);
        assert!(
            l.files
                .iter()
                .all(|f| f.owner == "root" && f.group == "root")
        );
        // Any file whose name says key, kubeconfig or encryption is private.
        for f in &l.files {
            let name = f.path.display().to_string();
            if name.ends_with("-key.pem")
                || name.ends_with(".kubeconfig")
                || name.contains("encryption")
            {
                assert_eq!(f.mode, 0o600, "{name}");
            }
        }
    }

    #[test]
    fn each_path_once_and_every_file_in_a_listed_folder() {
        let l = layout();
        let mut seen = HashSet::new();
        for f in &l.files {
            assert!(seen.insert(f.path.clone()), "{} twice", f.path.display());
        }
        let dirs: Vec<&Path> = l.dirs.iter().map(|d| d.path.as_path()).collect();
        for f in &l.files {
            let parent = f.path.parent().expect("absolute");
            let known = dirs.contains(&parent)
                || parent == Path::new("/usr/local/bin")
                || parent == Path::new("/etc/systemd/system");
            assert!(known, "{} is in no folder of the layout", f.path.display());
        }
    }

    #[test]
    fn what_a_file_change_restarts() {
        let l = layout();
        let users = |path: &str| {
            l.file(Path::new(path))
                .unwrap_or_else(|| panic!("{path}"))
                .used_by
                .clone()
        };
        use Component::*;
        assert_eq!(users("/etc/etcd/master-kubernetes.pem"), [Etcd]);
        assert_eq!(
            users("/var/lib/kubernetes/ca.pem"),
            [KubeApiserver, KubeControllerManager]
        );
        assert_eq!(
            users("/var/lib/kubernetes/ca-key.pem"),
            [KubeControllerManager]
        );
        assert_eq!(
            users("/var/lib/kubernetes/encryption-config.yaml"),
            [KubeApiserver]
        );
        assert_eq!(
            users("/etc/kubernetes/config/kube-scheduler.yaml"),
            [KubeScheduler]
        );
        assert_eq!(
            users("/etc/systemd/system/kube-controller-manager.service"),
            [KubeControllerManager]
        );
        assert!(users("/var/lib/kubernetes/admin.kubeconfig").is_empty());
    }

    #[test]
    fn every_file_a_unit_names_is_in_the_layout() {
        let plane = tutorial();
        let l = plane.layout("ip-172-31-0-11").expect("a master");
        for unit in plane.units("ip-172-31-0-11").expect("a master") {
            let e = &unit.exec_start;
            assert!(l.file(&e.binary).is_some(), "{}", e.binary.display());
            for flag in &e.flags {
                let Some(value) = flag.value.as_deref() else {
                    continue;
                };
                let is_file = value.starts_with('/')
                    && !flag.name.contains("data-dir")
                    && flag.name != "audit-log-path";
                if is_file {
                    assert!(
                        l.file(Path::new(value)).is_some(),
                        "{}: --{}={value} is not in the layout",
                        unit.name,
                        flag.name
                    );
                }
            }
        }
    }

    #[test]
    fn distributed_files_keep_their_names() {
        let l = layout();
        let f = l
            .file(Path::new("/var/lib/kubernetes/kube-scheduler.kubeconfig"))
            .expect("listed");
        assert_eq!(
            f.source,
            Source::Distributed {
                name: "kube-scheduler.kubeconfig".into()
            }
        );
        let unit = l
            .file(Path::new("/etc/systemd/system/etcd.service"))
            .expect("listed");
        let Source::Rendered { contents } = &unit.source else {
            panic!("a unit is rendered");
        };
        assert!(contents.contains("--name=ip-172-31-0-10"));
    }
}
