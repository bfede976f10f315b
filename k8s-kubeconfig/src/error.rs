//! The crate's one error type.

use std::path::PathBuf;

/// Errors from parsing, building, rendering and writing kubeconfigs and encryption configs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not YAML of the expected shape.
    #[error("cannot parse {document}")]
    Parse {
        /// What was being parsed: `kubeconfig` or `encryption config`.
        document: &'static str,
        /// What the YAML parser said.
        #[source]
        source: serde_yaml::Error,
    },

    /// The model could not be turned into YAML.
    #[error("cannot render {document}")]
    Render {
        /// What was being rendered: `kubeconfig` or `encryption config`.
        document: &'static str,
        /// What the YAML writer said.
        #[source]
        source: serde_yaml::Error,
    },

    /// A field holds a value that is not allowed.
    #[error("{field}: {reason}")]
    InvalidField {
        /// Where the value is, as a path into the document
        /// (e.g. `resources[0].providers[0].aescbc.keys[1].secret`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An API endpoint that cannot be put in an `https://` URL.
    #[error("invalid API endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A context that the operation needs is not in the kubeconfig.
    #[error("no context named {name:?} in the kubeconfig")]
    UnknownContext {
        /// The missing context's name.
        name: String,
    },

    /// The operating system's random number generator failed.
    #[error("cannot get random bytes from the operating system")]
    Random {
        /// What the generator said.
        #[source]
        source: getrandom::Error,
    },

    /// Reading a file (or resolving its path) failed.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// Writing a file failed.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: k8s_files::Error,
    },

    /// Merging would replace entries of the target kubeconfig that differ from the incoming
    /// ones (another cluster's, or older credentials).
    #[error("{path} already has a different {}: merging would replace it", .clashes.join(", "))]
    NameClash {
        /// The target kubeconfig.
        path: PathBuf,
        /// The entries, as `user "c1-admin"`.
        clashes: Vec<String>,
    },

    /// Neither `$KUBECONFIG` nor `$HOME` says where the user's kubeconfig is.
    #[error("cannot locate the user's kubeconfig: neither $KUBECONFIG nor $HOME is set")]
    NoUserKubeconfig,
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
