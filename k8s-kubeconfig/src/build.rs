//! Building the tutorial's kubeconfigs (STEP 6): one table row per kind of client.

use std::fmt;
use std::net::Ipv6Addr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};
use crate::model::{Cluster, Context, Kubeconfig, NamedCluster, NamedContext, NamedUser, User};
use crate::secret::Secret;

/// The API server's secure port, in the tutorial and in the endpoint's default.
pub const APISERVER_PORT: u16 = 6443;

/// The context every built kubeconfig has, and its `current-context`.
pub const DEFAULT_CONTEXT: &str = "default";

/// Where a kubeconfig's clients reach the API server: a host name or address and a port.
///
/// Displays as `host:port`, with an IPv6 address in brackets (`[fd00::1]:6443`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoint {
    host: String,
    port: u16,
}

impl ApiEndpoint {
    /// An endpoint on port 6443. `host` is a DNS name, an IPv4 address or an IPv6 address
    /// (bare or in brackets).
    ///
    /// # Errors
    /// [`Error::InvalidEndpoint`] when `host` is empty, a URL, or not a plain name/address.
    pub fn new(host: &str) -> Result<Self> {
        Self::with_port(host, APISERVER_PORT)
    }

    /// An endpoint on `port`.
    ///
    /// # Errors
    /// [`Error::InvalidEndpoint`] as for [`ApiEndpoint::new`], or when `port` is 0.
    pub fn with_port(host: &str, port: u16) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidEndpoint {
            endpoint: host.to_string(),
            reason: reason.to_string(),
        };
        if port == 0 {
            return Err(bad("port 0 is not a port"));
        }
        let bare = match host.strip_prefix('[') {
            Some(rest) => rest
                .strip_suffix(']')
                .ok_or_else(|| bad("opening bracket without a closing one"))?,
            None => host,
        };
        if bare.is_empty() {
            return Err(bad("the host is empty"));
        }
        if bare.contains("://") || bare.contains('/') {
            return Err(bad(
                "give a host name or address (with an optional port), not a URL",
            ));
        }
        if let Some(c) = bare
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "@?#[]%".contains(*c))
        {
            return Err(bad(&format!("{c:?} is not allowed in a host")));
        }
        if bare.contains(':') && bare.parse::<Ipv6Addr>().is_err() {
            return Err(bad(
                "a ':' in a host is only allowed in an IPv6 address; a port goes in with_port or after the host",
            ));
        }
        if host.starts_with('[') && !bare.contains(':') {
            return Err(bad("brackets are only for IPv6 addresses"));
        }
        Ok(ApiEndpoint {
            host: bare.to_string(),
            port,
        })
    }

    /// Parses `host`, `host:port`, `[ipv6]`, `[ipv6]:port` or a bare IPv6 address
    /// (which then takes port 6443).
    ///
    /// # Errors
    /// [`Error::InvalidEndpoint`] when the text is none of these.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidEndpoint {
            endpoint: text.to_string(),
            reason: reason.to_string(),
        };
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            if !rest.split(']').next().unwrap_or_default().contains(':') {
                return Err(bad("brackets are only for IPv6 addresses"));
            }
            match rest.split_once(']') {
                Some((addr, "")) => (addr, None),
                Some((addr, tail)) => match tail.strip_prefix(':') {
                    Some(port) => (addr, Some(port)),
                    None => return Err(bad("unexpected text after ']'")),
                },
                None => return Err(bad("opening bracket without a closing one")),
            }
        } else if text.matches(':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => APISERVER_PORT,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad(&format!("{p:?} is not a port number")))?,
        };
        Self::with_port(host, port).map_err(|e| match e {
            Error::InvalidEndpoint { reason, .. } => bad(&reason),
            other => other,
        })
    }

    /// The API server on this machine: `127.0.0.1:6443`, for clients that run beside it.
    pub fn loopback() -> Self {
        ApiEndpoint {
            host: "127.0.0.1".to_string(),
            port: APISERVER_PORT,
        }
    }

    /// The host name or address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://host:port`, the kubeconfig's `server`.
    pub fn url(&self) -> String {
        format!("https://{self}")
    }
}

impl fmt::Display for ApiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A worker node, as its kubelet kubeconfig needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerNode {
    /// The instance's name, e.g. `k8s-worker-0`: the kubeconfig's file name.
    pub name: String,
    /// The node's host name, e.g. `ip-172-31-0-20`: the user is `system:node:<hostname>`,
    /// matching the CN of the kubelet's certificate.
    pub hostname: String,
}

/// The clients the tutorial makes a kubeconfig for (STEP 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    /// A worker's kubelet; one kubeconfig per worker.
    Kubelet(WorkerNode),
    /// kube-proxy, shared by every worker.
    KubeProxy,
    /// kube-controller-manager, on each master.
    KubeControllerManager,
    /// kube-scheduler, on each master.
    KubeScheduler,
    /// The cluster administrator (kubectl).
    Admin,
}

/// Which API server address a kubeconfig points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerChoice {
    /// The cluster's API endpoint (the load balancer), for clients outside the masters.
    ApiEndpoint,
    /// `https://127.0.0.1:6443`, for clients that run beside the API server.
    Loopback,
}

enum UserName {
    Fixed(&'static str),
    /// `system:node:<hostname>`
    Node,
}

enum FileStem {
    Fixed(&'static str),
    /// The worker's instance name.
    Node,
}

struct Row {
    user: UserName,
    server: ServerChoice,
    file_stem: FileStem,
}

/// The tutorial's five kinds (STEP 6). Adding a client is adding a row (and a variant).
const KUBELET: Row = Row {
    user: UserName::Node,
    server: ServerChoice::ApiEndpoint,
    file_stem: FileStem::Node,
};
const KUBE_PROXY: Row = Row {
    user: UserName::Fixed("system:kube-proxy"),
    server: ServerChoice::ApiEndpoint,
    file_stem: FileStem::Fixed("kube-proxy"),
};
const KUBE_CONTROLLER_MANAGER: Row = Row {
    user: UserName::Fixed("system:kube-controller-manager"),
    server: ServerChoice::Loopback,
    file_stem: FileStem::Fixed("kube-controller-manager"),
};
const KUBE_SCHEDULER: Row = Row {
    user: UserName::Fixed("system:kube-scheduler"),
    server: ServerChoice::Loopback,
    file_stem: FileStem::Fixed("kube-scheduler"),
};
const ADMIN: Row = Row {
    user: UserName::Fixed("admin"),
    server: ServerChoice::ApiEndpoint,
    file_stem: FileStem::Fixed("admin"),
};

impl Component {
    /// Every kubeconfig the tutorial makes (STEP 6), in its order: one kubelet per worker, then
    /// kube-proxy, kube-controller-manager, kube-scheduler and admin.
    pub fn tutorial_set(workers: impl IntoIterator<Item = WorkerNode>) -> Vec<Component> {
        let mut all: Vec<Component> = workers.into_iter().map(Component::Kubelet).collect();
        all.extend([
            Component::KubeProxy,
            Component::KubeControllerManager,
            Component::KubeScheduler,
            Component::Admin,
        ]);
        all
    }

    fn row(&self) -> &'static Row {
        match self {
            Component::Kubelet(_) => &KUBELET,
            Component::KubeProxy => &KUBE_PROXY,
            Component::KubeControllerManager => &KUBE_CONTROLLER_MANAGER,
            Component::KubeScheduler => &KUBE_SCHEDULER,
            Component::Admin => &ADMIN,
        }
    }

    fn node(&self) -> Option<&WorkerNode> {
        match self {
            Component::Kubelet(node) => Some(node),
            _ => None,
        }
    }

    /// The kubeconfig's user: the CN of the client certificate the API server expects.
    pub fn user_name(&self) -> String {
        match (&self.row().user, self.node()) {
            (UserName::Fixed(name), _) => (*name).to_string(),
            (UserName::Node, Some(node)) => format!("system:node:{}", node.hostname),
            (UserName::Node, None) => String::new(),
        }
    }

    /// Which address the kubeconfig's server is.
    pub fn server(&self) -> ServerChoice {
        self.row().server
    }

    /// The tutorial's file name: `<worker name>.kubeconfig`, `kube-proxy.kubeconfig`,
    /// `kube-controller-manager.kubeconfig`, `kube-scheduler.kubeconfig`, `admin.kubeconfig`.
    /// Its stem is also the tutorial's stem of the client certificate (`<stem>.pem`,
    /// `<stem>-key.pem`).
    pub fn file_name(&self) -> String {
        let stem = match (&self.row().file_stem, self.node()) {
            (FileStem::Fixed(stem), _) => *stem,
            (FileStem::Node, Some(node)) => node.name.as_str(),
            (FileStem::Node, None) => "",
        };
        format!("{stem}.kubeconfig")
    }
}

/// The PEM files a kubeconfig embeds, as read from disk.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The cluster CA certificate (`ca.pem`).
    pub ca_pem: &'a [u8],
    /// The client certificate (`admin.pem`, …).
    pub client_cert_pem: &'a [u8],
    /// The client private key (`admin-key.pem`, …).
    pub client_key_pem: &'a [u8],
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ca_pem", &String::from_utf8_lossy(self.ca_pem))
            .field(
                "client_cert_pem",
                &String::from_utf8_lossy(self.client_cert_pem),
            )
            .field("client_key_pem", &"<redacted>")
            .finish()
    }
}

/// The kubeconfig the tutorial makes for `component`: cluster `cluster_name` with the CA embedded,
/// the component's user with its certificate and key embedded, context `default`, current.
///
/// # Errors
/// [`Error::InvalidField`] when `cluster_name` is empty, a kubelet's host name is empty, or a
/// PEM input does not hold what its name says.
pub fn build_kubeconfig(
    component: &Component,
    cluster_name: &str,
    endpoint: &ApiEndpoint,
    credentials: &Credentials<'_>,
) -> Result<Kubeconfig> {
    if let Some(node) = component.node()
        && node.hostname.is_empty()
    {
        return Err(Error::field("worker hostname", "must not be empty"));
    }
    let server = match component.server() {
        ServerChoice::ApiEndpoint => endpoint.clone(),
        ServerChoice::Loopback => ApiEndpoint::loopback(),
    };
    build_user_kubeconfig(cluster_name, &server, &component.user_name(), credentials)
}

/// A kubeconfig for any user: cluster `cluster_name` at `server` with the CA embedded, user
/// `user_name` with its certificate and key embedded, context `default`, current — what
/// `kubectl config set-cluster/set-credentials/set-context/use-context --embed-certs` writes.
///
/// # Errors
/// [`Error::InvalidField`] when a name is empty or a PEM input does not hold what its name
/// says (a certificate in `ca_pem` and `client_cert_pem`, a private key in `client_key_pem`).
pub fn build_user_kubeconfig(
    cluster_name: &str,
    server: &ApiEndpoint,
    user_name: &str,
    credentials: &Credentials<'_>,
) -> Result<Kubeconfig> {
    if cluster_name.is_empty() {
        return Err(Error::field("cluster name", "must not be empty"));
    }
    if user_name.is_empty() {
        return Err(Error::field("user name", "must not be empty"));
    }
    check_pem("ca_pem", credentials.ca_pem, "CERTIFICATE-----")?;
    check_pem(
        "client_cert_pem",
        credentials.client_cert_pem,
        "CERTIFICATE-----",
    )?;
    check_pem(
        "client_key_pem",
        credentials.client_key_pem,
        "PRIVATE KEY-----",
    )?;
    Ok(Kubeconfig {
        clusters: vec![NamedCluster {
            cluster: Cluster {
                certificate_authority_data: Some(STANDARD.encode(credentials.ca_pem)),
                server: server.url(),
                ..Cluster::default()
            },
            name: cluster_name.to_string(),
            extra: Default::default(),
        }],
        contexts: vec![NamedContext {
            context: Context {
                cluster: cluster_name.to_string(),
                user: user_name.to_string(),
                ..Context::default()
            },
            name: DEFAULT_CONTEXT.to_string(),
            extra: Default::default(),
        }],
        current_context: DEFAULT_CONTEXT.to_string(),
        users: vec![NamedUser {
            name: user_name.to_string(),
            user: User {
                client_certificate_data: Some(STANDARD.encode(credentials.client_cert_pem)),
                client_key_data: Some(Secret::new(STANDARD.encode(credentials.client_key_pem))),
                ..User::default()
            },
            extra: Default::default(),
        }],
        ..Kubeconfig::default()
    })
}

/// A light check that catches swapped inputs (a key where the CA goes); not a PEM parser.
fn check_pem(field: &str, pem: &[u8], label_end: &str) -> Result<()> {
    let text = String::from_utf8_lossy(pem);
    let found = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(label_end));
    if found {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("no PEM block ending in {label_end:?} found"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &[u8] = b"-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
    const CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
    const KEY: &[u8] = b"-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";
    const CREDS: Credentials<'static> = Credentials {
        ca_pem: CA,
        client_cert_pem: CERT,
        client_key_pem: KEY,
    };

    fn worker() -> Component {
        Component::Kubelet(WorkerNode {
            name: "k8s-worker-0".into(),
            hostname: "ip-172-31-0-20".into(),
        })
    }

    #[test]
    fn endpoints_parse_and_bracket_ipv6() {
        let cases = [
            ("lb.example.com", "https://lb.example.com:6443"),
            ("lb.example.com:443", "https://lb.example.com:443"),
            ("10.0.0.1", "https://10.0.0.1:6443"),
            ("fd00::1", "https://[fd00::1]:6443"),
            ("[fd00::1]", "https://[fd00::1]:6443"),
            ("[fd00::1]:8443", "https://[fd00::1]:8443"),
        ];
        for (text, url) in cases {
            assert_eq!(ApiEndpoint::parse(text).unwrap().url(), url, "{text}");
        }
        assert_eq!(ApiEndpoint::new("::1").unwrap().url(), "https://[::1]:6443");
        assert_eq!(ApiEndpoint::new("[::1]").unwrap().host(), "::1");
        for bad in [
            "",
            "https://lb:6443",
            "lb:http",
            "[fd00::1",
            "[lb]",
            "a b",
            "lb:0",
            "fd00::zz",
        ] {
            let err = ApiEndpoint::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidEndpoint { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn table_gives_users_servers_and_file_names() {
        let rows = [
            (
                worker(),
                "system:node:ip-172-31-0-20",
                ServerChoice::ApiEndpoint,
                "k8s-worker-0.kubeconfig",
            ),
            (
                Component::KubeProxy,
                "system:kube-proxy",
                ServerChoice::ApiEndpoint,
                "kube-proxy.kubeconfig",
            ),
            (
                Component::KubeControllerManager,
                "system:kube-controller-manager",
                ServerChoice::Loopback,
                "kube-controller-manager.kubeconfig",
            ),
            (
                Component::KubeScheduler,
                "system:kube-scheduler",
                ServerChoice::Loopback,
                "kube-scheduler.kubeconfig",
            ),
            (
                Component::Admin,
                "admin",
                ServerChoice::ApiEndpoint,
                "admin.kubeconfig",
            ),
        ];
        let tutorial: Vec<_> = rows.iter().map(|r| r.0.clone()).collect();
        let Component::Kubelet(node) = worker() else {
            unreachable!()
        };
        assert_eq!(Component::tutorial_set([node]), tutorial);
        let endpoint = ApiEndpoint::new("lb.example.com").unwrap();
        for (component, user, server, file) in rows {
            assert_eq!(component.user_name(), user);
            assert_eq!(component.server(), server);
            assert_eq!(component.file_name(), file);
            let config = build_kubeconfig(&component, "k8s", &endpoint, &CREDS).unwrap();
            let want_server = match server {
                ServerChoice::ApiEndpoint => "https://lb.example.com:6443",
                ServerChoice::Loopback => "https://127.0.0.1:6443",
            };
            assert_eq!(config.cluster("k8s").unwrap().server, want_server);
            assert_eq!(config.context("default").unwrap().user, user);
            assert_eq!(config.context("default").unwrap().cluster, "k8s");
            assert_eq!(config.current_context, "default");
            assert!(config.user(user).unwrap().client_key_data.is_some());
        }
    }

    #[test]
    fn certs_are_embedded_as_base64_of_the_pem() {
        let endpoint = ApiEndpoint::new("10.0.0.1").unwrap();
        let config = build_kubeconfig(&Component::Admin, "k8s", &endpoint, &CREDS).unwrap();
        let data = config
            .cluster("k8s")
            .unwrap()
            .certificate_authority_data
            .clone()
            .unwrap();
        assert_eq!(STANDARD.decode(data).unwrap(), CA);
        let user = config.user("admin").unwrap();
        let key = user.client_key_data.as_ref().unwrap();
        assert_eq!(STANDARD.decode(key.expose()).unwrap(), KEY);
    }

    #[test]
    fn swapped_or_empty_inputs_are_refused() {
        let endpoint = ApiEndpoint::new("10.0.0.1").unwrap();
        let swapped = Credentials {
            ca_pem: KEY,
            ..CREDS
        };
        let err = build_kubeconfig(&Component::Admin, "k8s", &endpoint, &swapped).unwrap_err();
        assert!(err.to_string().starts_with("ca_pem: "), "{err}");
        let err = build_kubeconfig(&Component::Admin, "", &endpoint, &CREDS).unwrap_err();
        assert!(err.to_string().starts_with("cluster name: "), "{err}");
        let nameless = Component::Kubelet(WorkerNode {
            name: "w".into(),
            hostname: String::new(),
        });
        assert!(build_kubeconfig(&nameless, "k8s", &endpoint, &CREDS).is_err());
        assert!(!format!("{CREDS:?}").contains("S0VZ"));
    }
}
