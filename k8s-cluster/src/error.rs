//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong reading, validating and mapping a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder cannot be written.
    #[error("cannot write {path}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        #[source]
        source: k8s_files::Error,
    },
    /// `cluster.yaml` is not a valid cluster spec; the source names the field.
    #[error("{path}: invalid cluster spec")]
    Spec {
        /// The file.
        path: PathBuf,
        /// What is wrong ([`Error::Invalid`]).
        #[source]
        source: Box<Error>,
    },
    /// A field's value is invalid: `field: why`, naming cluster.yaml's field.
    #[error("{message}")]
    Invalid {
        /// `field: why`.
        message: String,
    },
    /// The cluster is valid but cannot be built on AWS as it is.
    #[error("{path}: not valid for AWS")]
    NotForAws {
        /// The cluster.yaml.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// `state.json` records another cluster than `cluster.yaml` names.
    #[error("{state} belongs to cluster {recorded:?}, but {spec} names {named:?}")]
    StateOfAnotherCluster {
        /// The state file.
        state: PathBuf,
        /// The cluster it records.
        recorded: String,
        /// The cluster.yaml.
        spec: PathBuf,
        /// The cluster it names.
        named: String,
    },
    /// From `k8s-aws-infra`.
    #[error(transparent)]
    Infra(#[from] k8s_aws_infra::Error),
    /// From `k8s-pki`.
    #[error(transparent)]
    Pki(#[from] k8s_pki::Error),
    /// From `k8s-distribute`.
    #[error(transparent)]
    Distribute(#[from] k8s_distribute::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An [`Error::Invalid`] with `message` (`field: why`).
pub(crate) fn invalid(message: String) -> Error {
    Error::Invalid { message }
}
