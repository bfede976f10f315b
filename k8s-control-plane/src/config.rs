//! The configuration files the units point at: the scheduler's `KubeSchedulerConfiguration`,
//! the API server's audit policy, and the RBAC objects the API server needs to reach the
//! kubelets.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::plane::ControlPlane;

/// The scheduler's config API: `v1` since Kubernetes v1.25; the tutorial's `v1beta1` was
/// removed in v1.23.
pub const SCHEDULER_CONFIG_API_VERSION: &str = "kubescheduler.config.k8s.io/v1";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SchedulerConfig<'a> {
    api_version: &'a str,
    kind: &'a str,
    client_connection: ClientConnection,
    leader_election: LeaderElection,
}

#[derive(Serialize)]
struct ClientConnection {
    kubeconfig: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeaderElection {
    leader_elect: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditPolicy<'a> {
    api_version: &'a str,
    kind: &'a str,
    omit_stages: Vec<&'a str>,
    rules: Vec<AuditRule<'a>>,
}

#[derive(Serialize)]
struct AuditRule<'a> {
    level: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<'a, T: Serialize> {
    api_version: &'a str,
    kind: &'a str,
    metadata: Metadata<'a>,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<&'a str, &'a str>,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rules<'a> {
    rules: Vec<PolicyRule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRule<'a> {
    api_groups: Vec<&'a str>,
    resources: Vec<&'a str>,
    verbs: Vec<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Binding<'a> {
    role_ref: RoleRef<'a>,
    subjects: Vec<Subject<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleRef<'a> {
    api_group: &'a str,
    kind: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Subject<'a> {
    api_group: &'a str,
    kind: &'a str,
    name: &'a str,
}

/// The ClusterRole that lets its holder use the kubelets' API (logs, exec, port-forward,
/// metrics), as the tutorial names it.
pub const KUBELET_API_ROLE: &str = "system:kube-apiserver-to-kubelet";
/// The ClusterRoleBinding that gives it to the API server.
pub const KUBELET_API_BINDING: &str = "system:kube-apiserver";

const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn yaml(document: &'static str, value: &impl Serialize) -> Result<String> {
    serde_yaml::to_string(value).map_err(|source| Error::Render { document, source })
}

impl ControlPlane {
    /// The scheduler's `kube-scheduler.yaml`: its kubeconfig, and leader election so that one
    /// of the masters' schedulers works at a time.
    ///
    /// # Errors
    /// [`Error::Render`] if the YAML writer fails.
    pub fn render_scheduler_config(&self) -> Result<String> {
        let config = SchedulerConfig {
            api_version: SCHEDULER_CONFIG_API_VERSION,
            kind: "KubeSchedulerConfiguration",
            client_connection: ClientConnection {
                kubeconfig: self.kube(&self.inputs().files.scheduler_kubeconfig),
            },
            leader_election: LeaderElection { leader_elect: true },
        };
        yaml("KubeSchedulerConfiguration", &config)
    }

    /// The API server's audit policy: every request's metadata (who, what, when, the answer's
    /// code), no bodies, one event per request (the `RequestReceived` stage is left out). The
    /// tutorial's `--audit-log-*` flags write nothing without a policy.
    ///
    /// # Errors
    /// [`Error::Render`] if the YAML writer fails.
    pub fn render_audit_policy(&self) -> Result<String> {
        let policy = AuditPolicy {
            api_version: "audit.k8s.io/v1",
            kind: "Policy",
            omit_stages: vec!["RequestReceived"],
            rules: vec![AuditRule { level: "Metadata" }],
        };
        yaml("audit Policy", &policy)
    }

    /// The tutorial's two RBAC objects, one YAML stream: the ClusterRole
    /// [`KUBELET_API_ROLE`] over the kubelet API's subresources, and the ClusterRoleBinding
    /// [`KUBELET_API_BINDING`] giving it to the user the API server is towards the kubelets
    /// ([`crate::ControlPlaneInputs::apiserver_kubelet_user`]). Apply it once, with the
    /// admin kubeconfig.
    ///
    /// # Errors
    /// [`Error::Render`] if the YAML writer fails.
    pub fn render_rbac(&self) -> Result<String> {
        let role = Object {
            api_version: RBAC_API_VERSION,
            kind: "ClusterRole",
            metadata: Metadata {
                annotations: BTreeMap::from([(
                    "rbac.authorization.kubernetes.io/autoupdate",
                    "true",
                )]),
                labels: BTreeMap::from([("kubernetes.io/bootstrapping", "rbac-defaults")]),
                name: KUBELET_API_ROLE,
            },
            body: Rules {
                rules: vec![PolicyRule {
                    api_groups: vec![""],
                    resources: vec![
                        "nodes/proxy",
                        "nodes/stats",
                        "nodes/log",
                        "nodes/spec",
                        "nodes/metrics",
                    ],
                    verbs: vec!["*"],
                }],
            },
        };
        let binding = Object {
            api_version: RBAC_API_VERSION,
            kind: "ClusterRoleBinding",
            metadata: Metadata {
                annotations: BTreeMap::new(),
                labels: BTreeMap::new(),
                name: KUBELET_API_BINDING,
            },
            body: Binding {
                role_ref: RoleRef {
                    api_group: RBAC_GROUP,
                    kind: "ClusterRole",
                    name: KUBELET_API_ROLE,
                },
                subjects: vec![Subject {
                    api_group: RBAC_GROUP,
                    kind: "User",
                    name: &self.inputs().apiserver_kubelet_user,
                }],
            },
        };
        let role = yaml("RBAC objects", &role)?;
        let binding = yaml("RBAC objects", &binding)?;
        Ok(format!("{role}---\n{binding}"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::NodePaths;
    use crate::plane::tests::{tutorial, tutorial_with};

    #[test]
    fn the_scheduler_config_is_v1_with_its_kubeconfig() {
        let text = tutorial().render_scheduler_config().expect("renders");
        assert_eq!(
            text,
            "apiVersion: kubescheduler.config.k8s.io/v1\n\
             kind: KubeSchedulerConfiguration\n\
             clientConnection:\n  \
               kubeconfig: /var/lib/kubernetes/kube-scheduler.kubeconfig\n\
             leaderElection:\n  \
               leaderElect: true\n"
        );
    }

    #[test]
    fn the_scheduler_config_follows_the_folder() {
        let text = tutorial_with(|i| i.paths = NodePaths::under(Path::new("/srv/t")))
            .render_scheduler_config()
            .expect("renders");
        assert!(text.contains("kubeconfig: /srv/t/var/lib/kubernetes/kube-scheduler.kubeconfig\n"));
    }

    #[test]
    fn the_audit_policy_logs_metadata() {
        assert_eq!(
            tutorial().render_audit_policy().expect("renders"),
            "apiVersion: audit.k8s.io/v1\n\
             kind: Policy\n\
             omitStages:\n\
             - RequestReceived\n\
             rules:\n\
             - level: Metadata\n"
        );
    }

    #[test]
    fn the_rbac_binds_the_api_servers_user() {
        let text = tutorial().render_rbac().expect("renders");
        assert_eq!(
            text,
            "apiVersion: rbac.authorization.k8s.io/v1\n\
             kind: ClusterRole\n\
             metadata:\n  \
               annotations:\n    \
                 rbac.authorization.kubernetes.io/autoupdate: 'true'\n  \
               labels:\n    \
                 kubernetes.io/bootstrapping: rbac-defaults\n  \
               name: system:kube-apiserver-to-kubelet\n\
             rules:\n\
             - apiGroups:\n  \
               - ''\n  \
               resources:\n  \
               - nodes/proxy\n  \
               - nodes/stats\n  \
               - nodes/log\n  \
               - nodes/spec\n  \
               - nodes/metrics\n  \
               verbs:\n  \
               - '*'\n\
             ---\n\
             apiVersion: rbac.authorization.k8s.io/v1\n\
             kind: ClusterRoleBinding\n\
             metadata:\n  \
               name: system:kube-apiserver\n\
             roleRef:\n  \
               apiGroup: rbac.authorization.k8s.io\n  \
               kind: ClusterRole\n  \
               name: system:kube-apiserver-to-kubelet\n\
             subjects:\n\
             - apiGroup: rbac.authorization.k8s.io\n  \
               kind: User\n  \
               name: kubernetes\n"
        );
    }

    #[test]
    fn another_certificate_user_is_bound() {
        let text =
            tutorial_with(|i| i.apiserver_kubelet_user = "kube-apiserver-kubelet-client".into())
                .render_rbac()
                .expect("renders");
        assert!(text.ends_with("  kind: User\n  name: kube-apiserver-kubelet-client\n"));
    }
}
