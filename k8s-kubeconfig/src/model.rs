//! The kubeconfig file as data, with kubectl's key names.
//!
//! Fields are declared in kubectl's (alphabetical) order so rendered files read like its own.
//! Every level keeps the keys it does not know in `extra`, so parse + render loses nothing.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Keys a model does not know, kept as they were read.
pub type Extra = BTreeMap<String, serde_yaml::Value>;

/// The `apiVersion` of a kubeconfig.
pub const KUBECONFIG_API_VERSION: &str = "v1";
/// The `kind` of a kubeconfig.
pub const KUBECONFIG_KIND: &str = "Config";

/// A whole kubeconfig file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    /// Always `v1`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// The named clusters (server and CA).
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<NamedCluster>,
    /// The named contexts (a cluster + a user + a namespace).
    #[serde(default, deserialize_with = "null_as_default")]
    pub contexts: Vec<NamedContext>,
    /// The context kubectl uses when none is given; empty for none.
    #[serde(
        rename = "current-context",
        default,
        deserialize_with = "null_as_default"
    )]
    pub current_context: String,
    /// Always `Config`.
    #[serde(default)]
    pub kind: String,
    /// kubectl preferences; written only when they hold something, as current kubectl
    /// (v1.37) does (v1.32 still wrote `preferences: {}`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Preferences::is_empty"
    )]
    pub preferences: Preferences,
    /// The named users (credentials).
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<NamedUser>,
    /// Keys this model does not know (`extensions`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Kubeconfig {
    fn default() -> Self {
        Kubeconfig {
            api_version: KUBECONFIG_API_VERSION.to_string(),
            clusters: Vec::new(),
            contexts: Vec::new(),
            current_context: String::new(),
            kind: KUBECONFIG_KIND.to_string(),
            preferences: Preferences::default(),
            users: Vec::new(),
            extra: Extra::new(),
        }
    }
}

/// The `preferences` section; kubectl leaves it empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Preferences {
    /// Whatever it holds (`colors`, `extensions`).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Preferences {
    /// Whether it holds nothing (kubectl then leaves it out).
    pub fn is_empty(&self) -> bool {
        self.extra.is_empty()
    }
}

/// A cluster under its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// How to reach and trust the API server.
    #[serde(default)]
    pub cluster: Cluster,
    /// The name contexts refer to.
    #[serde(default)]
    pub name: String,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// How to reach and trust an API server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Path of a CA bundle file.
    #[serde(
        rename = "certificate-authority",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority: Option<String>,
    /// The CA bundle itself: base64 of the PEM bytes.
    #[serde(
        rename = "certificate-authority-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority_data: Option<String>,
    /// Skip verifying the server's certificate (never set by this crate).
    #[serde(
        rename = "insecure-skip-tls-verify",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls_verify: Option<bool>,
    /// A proxy for requests to this cluster.
    #[serde(rename = "proxy-url", default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// The API server's URL, e.g. `https://10.0.0.1:6443`.
    #[serde(default)]
    pub server: String,
    /// The name to check the server's certificate against, when it differs from the URL's host.
    #[serde(
        rename = "tls-server-name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_server_name: Option<String>,
    /// Keys this model does not know (`extensions`, `disable-compression`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A context under its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    /// Which cluster and user.
    #[serde(default)]
    pub context: Context,
    /// The name `current-context` refers to.
    #[serde(default)]
    pub name: String,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A cluster, a user and a namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The cluster's name.
    #[serde(default)]
    pub cluster: String,
    /// The default namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The user's name.
    #[serde(default)]
    pub user: String,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A user under its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    /// The name contexts refer to.
    #[serde(default)]
    pub name: String,
    /// The credentials.
    #[serde(default)]
    pub user: User,
    /// Keys this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Credentials (kubectl calls them `AuthInfo`).
///
/// `Debug` shows secrets as `<redacted>` and unknown keys by name only, since those
/// (`auth-provider`, `exec`) may hold tokens too.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Path of the client certificate file.
    #[serde(
        rename = "client-certificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate: Option<String>,
    /// The client certificate itself: base64 of the PEM bytes.
    #[serde(
        rename = "client-certificate-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate_data: Option<String>,
    /// Path of the client key file.
    #[serde(
        rename = "client-key",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key: Option<String>,
    /// The client key itself: base64 of the PEM bytes.
    #[serde(
        rename = "client-key-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key_data: Option<Secret>,
    /// Basic-auth password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Path of a file holding a bearer token.
    #[serde(rename = "tokenFile", default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Basic-auth user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Keys this model does not know (`exec`, `auth-provider`, `as`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("client_certificate", &self.client_certificate)
            .field("client_certificate_data", &self.client_certificate_data)
            .field("client_key", &self.client_key)
            .field("client_key_data", &self.client_key_data)
            .field("password", &self.password)
            .field("token", &self.token)
            .field("token_file", &self.token_file)
            .field("username", &self.username)
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Kubeconfig {
    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.cluster)
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name).map(|u| &u.user)
    }

    /// The context named `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.context)
    }

    /// The certificates the current context embeds, decoded: the CA its cluster trusts for
    /// the API server (`certificate-authority-data`) and the client certificate its user
    /// presents (`client-certificate-data`); `None` for one given as a file path or missing.
    ///
    /// # Errors
    /// [`Error::UnknownContext`] when `current-context` names no context;
    /// [`Error::InvalidField`] naming the field when its data is not base64.
    pub fn embedded_certificates(&self) -> Result<EmbeddedCertificates> {
        let context = self
            .context(&self.current_context)
            .ok_or_else(|| Error::UnknownContext {
                name: self.current_context.clone(),
            })?;
        let decode = |field: &str, data: Option<&String>| {
            data.map(|d| {
                STANDARD
                    .decode(d.trim())
                    .map_err(|e| Error::field(field, format!("not valid base64: {e}")))
            })
            .transpose()
        };
        let cluster = self.cluster(&context.cluster);
        let user = self.user(&context.user);
        Ok(EmbeddedCertificates {
            ca_pem: decode(
                "certificate-authority-data",
                cluster.and_then(|c| c.certificate_authority_data.as_ref()),
            )?,
            client_cert_pem: decode(
                "client-certificate-data",
                user.and_then(|u| u.client_certificate_data.as_ref()),
            )?,
        })
    }

    /// Renames user `from` to `to`, and every context's reference to it, e.g. the admin
    /// kubeconfig's `admin` to `<cluster>-admin` before merging it into a user's kubeconfig.
    /// A user already named `to` is replaced.
    ///
    /// # Errors
    /// [`Error::InvalidField`] when there is no user `from` or `to` is empty.
    pub fn rename_user(&mut self, from: &str, to: &str) -> Result<()> {
        if to.is_empty() {
            return Err(Error::field("users[].name", "must not be empty"));
        }
        if !self.users.iter().any(|u| u.name == from) {
            return Err(Error::field(
                "users[].name",
                format!("no user named {from:?}"),
            ));
        }
        if from == to {
            return Ok(());
        }
        self.users.retain(|u| u.name != to);
        for u in &mut self.users {
            if u.name == from {
                u.name = to.to_string();
            }
        }
        for c in &mut self.contexts {
            if c.context.user == from {
                c.context.user = to.to_string();
            }
        }
        Ok(())
    }

    /// Renames context `from` to `to` (and `current-context` with it), e.g. before merging the
    /// admin kubeconfig's `default` context into a user's kubeconfig that has one already.
    /// A context already named `to` is replaced.
    ///
    /// # Errors
    /// [`Error::UnknownContext`] when there is no context `from`;
    /// [`Error::InvalidField`] when `to` is empty.
    pub fn rename_context(&mut self, from: &str, to: &str) -> Result<()> {
        if to.is_empty() {
            return Err(Error::field("contexts[].name", "must not be empty"));
        }
        if !self.contexts.iter().any(|c| c.name == from) {
            return Err(Error::UnknownContext {
                name: from.to_string(),
            });
        }
        if from == to {
            return Ok(());
        }
        self.contexts.retain(|c| c.name != to);
        for c in &mut self.contexts {
            if c.name == from {
                c.name = to.to_string();
            }
        }
        if self.current_context == from {
            self.current_context = to.to_string();
        }
        Ok(())
    }
}

/// What [`Kubeconfig::embedded_certificates`] finds: PEM bytes, as embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedCertificates {
    /// The CA the cluster entry trusts for the API server's certificate.
    pub ca_pem: Option<Vec<u8>>,
    /// The user's client certificate.
    pub client_cert_pem: Option<Vec<u8>>,
}

/// Parses a kubeconfig. Empty text is an empty kubeconfig; missing `apiVersion`/`kind` are
/// filled in as kubectl does.
///
/// # Errors
/// [`Error::Parse`] when the text is not a kubeconfig-shaped YAML mapping;
/// [`Error::InvalidField`] naming `apiVersion` or `kind` when they are not `v1` / `Config`.
pub fn parse_kubeconfig(text: &str) -> Result<Kubeconfig> {
    if text.trim().is_empty() {
        return Ok(Kubeconfig::default());
    }
    let mut config: Kubeconfig = serde_yaml::from_str(text).map_err(|source| Error::Parse {
        document: "kubeconfig",
        source,
    })?;
    check_or_fill(
        &mut config.api_version,
        "apiVersion",
        KUBECONFIG_API_VERSION,
    )?;
    check_or_fill(&mut config.kind, "kind", KUBECONFIG_KIND)?;
    Ok(config)
}

fn check_or_fill(value: &mut String, field: &str, expected: &str) -> Result<()> {
    if value.is_empty() {
        *value = expected.to_string();
        Ok(())
    } else if value == expected {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("expected {expected:?}, found {value:?}"),
        ))
    }
}

/// Renders a kubeconfig as YAML, in the shape kubectl writes.
///
/// # Errors
/// [`Error::Render`] if the YAML writer fails (an `extra` value it cannot write).
pub fn render_kubeconfig(config: &Kubeconfig) -> Result<String> {
    serde_yaml::to_string(config).map_err(|source| Error::Render {
        document: "kubeconfig",
        source,
    })
}

/// kubectl writes empty lists as `null`; read them (and a `null` anywhere a default makes
/// sense) as empty.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_UNKNOWN: &str = r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    extensions:
    - extension:
        provider: minikube.sigs.k8s.io
      name: cluster_info
    server: https://10.0.0.1:6443
    tls-server-name: api.example
  name: c1
  note: kept
- cluster:
    insecure-skip-tls-verify: true
    server: https://c2:6443
  name: c2
contexts:
- context:
    cluster: c1
    namespace: kube-system
    user: u1
  name: default
current-context: default
extensions:
- name: top
  extension: {a: 1}
kind: Config
preferences:
  colors: true
users:
- name: u1
  user:
    client-key-data: U0VDUkVULUtFWQ==
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      env:
      - name: AWS_SECRET
        value: very-secret-env
"#;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let config = parse_kubeconfig(WITH_UNKNOWN).unwrap();
        assert_eq!(
            config.cluster("c1").unwrap().tls_server_name.as_deref(),
            Some("api.example")
        );
        assert_eq!(
            config.cluster("c2").unwrap().insecure_skip_tls_verify,
            Some(true)
        );
        assert!(config.extra.contains_key("extensions"));
        assert!(config.clusters[0].extra.contains_key("note"));
        assert!(config.preferences.extra.contains_key("colors"));
        assert!(config.user("u1").unwrap().extra.contains_key("exec"));
        let rendered = render_kubeconfig(&config).unwrap();
        let before: serde_yaml::Value = serde_yaml::from_str(WITH_UNKNOWN).unwrap();
        let after: serde_yaml::Value = serde_yaml::from_str(&rendered).unwrap();
        assert_eq!(before, after);
        assert_eq!(parse_kubeconfig(&rendered).unwrap(), config);
    }

    #[test]
    fn debug_hides_keys_and_unknown_user_fields() {
        let config = parse_kubeconfig(WITH_UNKNOWN).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("U0VDUkVULUtFWQ=="), "{debug}");
        assert!(!debug.contains("very-secret-env"), "{debug}");
        assert!(debug.contains("<redacted>"));
        assert!(debug.contains("exec"));
    }

    #[test]
    fn kubectl_nulls_and_empty_text_read_as_empty() {
        let empty = "apiVersion: v1\nclusters: null\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n";
        assert_eq!(parse_kubeconfig(empty).unwrap(), Kubeconfig::default());
        assert_eq!(parse_kubeconfig(" \n").unwrap(), Kubeconfig::default());
        assert_eq!(parse_kubeconfig("{}").unwrap(), Kubeconfig::default());
        // Rendered as kubectl v1.37 writes it: no empty `preferences`.
        let rendered = render_kubeconfig(&Kubeconfig::default()).unwrap();
        assert!(!rendered.contains("preferences"), "{rendered}");
    }

    #[test]
    fn wrong_kind_or_version_names_the_field() {
        let err = parse_kubeconfig("kind: Pod\n").unwrap_err();
        assert!(err.to_string().starts_with("kind: "), "{err}");
        let err = parse_kubeconfig("apiVersion: v2\n").unwrap_err();
        assert!(err.to_string().starts_with("apiVersion: "), "{err}");
        let err = parse_kubeconfig("- a\n- b\n").unwrap_err();
        assert!(matches!(err, Error::Parse { .. }), "{err}");
    }

    #[test]
    fn rename_context_moves_current_context() {
        let mut config = parse_kubeconfig(WITH_UNKNOWN).unwrap();
        config.rename_context("default", "admin@c1").unwrap();
        assert_eq!(config.current_context, "admin@c1");
        assert!(config.context("admin@c1").is_some());
        assert!(matches!(
            config.rename_context("nope", "x"),
            Err(Error::UnknownContext { .. })
        ));
    }

    #[test]
    fn embedded_certificates_are_the_current_contexts() {
        let text = "current-context: default
clusters:
- name: other
  cluster: {server: 'https://o:6443', certificate-authority-data: T1RIRVI=}
- name: c
  cluster: {server: 'https://x:6443', certificate-authority-data: Q0E=}
users:
- name: u
  user: {client-certificate-data: Q0VSVA==}
- name: files
  user: {client-certificate: /etc/cert.pem}
contexts:
- name: default
  context: {cluster: c, user: u}
- name: by-path
  context: {cluster: other, user: files}
";
        let mut config = parse_kubeconfig(text).unwrap();
        let found = config.embedded_certificates().unwrap();
        assert_eq!(found.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert_eq!(found.client_cert_pem.as_deref(), Some(&b"CERT"[..]));
        config.current_context = "by-path".into();
        let found = config.embedded_certificates().unwrap();
        assert_eq!(found.ca_pem.as_deref(), Some(&b"OTHER"[..]));
        assert_eq!(found.client_cert_pem, None);
        config.current_context = "nope".into();
        assert!(matches!(
            config.embedded_certificates(),
            Err(Error::UnknownContext { .. })
        ));
        let broken = text.replace("Q0E=", "not base64!");
        let err = parse_kubeconfig(&broken)
            .unwrap()
            .embedded_certificates()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("certificate-authority-data: "),
            "{err}"
        );
    }
}
