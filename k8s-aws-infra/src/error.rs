//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while planning, creating, inspecting or deleting the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec is invalid; found before any AWS call.
    #[error("invalid spec: {field}: {reason}")]
    Spec {
        /// The offending field, e.g. `workers[1].private_ip`.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// No region in the spec, the options or the AWS configuration chain.
    #[error(
        "no AWS region: set it in the cluster spec, with AWS_REGION, or in the profile's config"
    )]
    NoRegion,
    /// The AWS configuration chain found no credentials.
    #[error(
        "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or configure ~/.aws: {reason}"
    )]
    NoCredentials {
        /// What the credentials chain said.
        reason: String,
    },
    /// An AWS call failed.
    #[error("{resource}: {operation} failed: {message}")]
    Aws {
        /// The resource kind (and name or ID when known).
        resource: String,
        /// The API operation, e.g. `CreateVpc`.
        operation: &'static str,
        /// The AWS error code, when AWS gave one.
        code: Option<String>,
        /// The error message with its cause chain.
        message: String,
    },
    /// AWS answered without a field we need.
    #[error("{resource}: {operation} returned no {field}")]
    MissingField {
        /// The resource kind.
        resource: String,
        /// The API operation.
        operation: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// An existing resource differs from the spec in a field that cannot be changed in place.
    #[error(
        "{resource} {id}: {field} is {actual} but the spec says {desired}; it cannot be changed in place (run `down` first, or fix the spec)"
    )]
    Immutable {
        /// The resource kind.
        resource: String,
        /// Its ID.
        id: String,
        /// The differing field.
        field: &'static str,
        /// What AWS has.
        actual: String,
        /// What the spec asks for.
        desired: String,
    },
    /// A resource with our name exists but does not carry the ownership tag: we do not touch it.
    #[error(
        "{resource} {id} has the cluster's name but not the ownership tag {tag}: it is not ours, refusing to use or change it"
    )]
    NotOwned {
        /// The resource kind.
        resource: String,
        /// Its ID or name.
        id: String,
        /// The ownership tag, `key=value`.
        tag: String,
    },
    /// A name AWS keeps unique per account and region (load balancer, target group, key pair)
    /// is held by something that is not this installation's; found before any change.
    #[error(
        "{resource} name {name:?} is already taken in {region} by {holder}: AWS keeps {resource} names unique per account and region, so give this cluster another name (nothing was changed)"
    )]
    NameTaken {
        /// The resource kind.
        resource: String,
        /// The taken name.
        name: String,
        /// The region.
        region: String,
        /// Who holds it, as far as its tags tell.
        holder: String,
    },
    /// The state records the cluster in another region than the spec names.
    #[error(
        "the cluster's resources are in {recorded} (recorded in its state), but the spec names {requested}: delete them there first (`down` with region {recorded}), then create the cluster in {requested}"
    )]
    RegionChanged {
        /// The region in the state.
        recorded: String,
        /// The region the spec (or the AWS configuration) names.
        requested: String,
    },
    /// The key pair exists in AWS but its private key is not on disk (AWS only returns it once).
    #[error(
        "key pair {name} exists in AWS but its private key {path} is missing: AWS hands the private key out only at creation, so restore the file, or delete the key pair (`down`) and run `up` again"
    )]
    KeyFileMissing {
        /// The key pair name.
        name: String,
        /// Where the private key should be.
        path: PathBuf,
    },
    /// A waiter ran out of time.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        seconds: u64,
    },
    /// Reading or writing a local file failed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The AWS error code (`DependencyViolation`, `Throttling`, ...) when this is an AWS error.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn spec(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Spec {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(
        resource: impl Into<String>,
        operation: &'static str,
        field: &'static str,
    ) -> Self {
        Error::MissingField {
            resource: resource.into(),
            operation,
            field,
        }
    }
}

/// Turns an SDK error into [`Error::Aws`] naming the resource and operation.
pub(crate) fn aws<E>(
    resource: impl Into<String>,
    operation: &'static str,
) -> impl FnOnce(E) -> Error
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let resource = resource.into();
    move |e| {
        let code = e.code().map(str::to_string);
        let message = match e.message() {
            Some(m) => format!("{}: {m}", e.code().unwrap_or("error")),
            None => aws_sdk_ec2::error::DisplayErrorContext(&e).to_string(),
        };
        Error::Aws {
            resource,
            operation,
            code,
            message,
        }
    }
}
