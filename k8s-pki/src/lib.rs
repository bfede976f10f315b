//! The PKI of a "Kubernetes from the ground up" cluster: a CA and every certificate the
//! control plane, the workers and the administrator need, as one validated table.
//!
//! What it does:
//! - expands the certificate table ([`catalog`]) for your nodes: the kube-apiserver (with every
//!   SAN, including the first service IP the tutorial forgets), kube-scheduler, kube-proxy,
//!   kube-controller-manager, one kubelet per worker (`CN=system:node:<hostname>`,
//!   `O=system:nodes`), admin (`O=system:masters`) and service-account;
//! - generates keys (RSA-2048/3072/4096, ECDSA P-256/P-384) in parallel and signs everything,
//!   in memory ([`Pki::generate`]);
//! - reconciles with existing material ([`Pki::reconcile`]): keeps what is right byte for byte,
//!   re-issues what is wrong or expiring, and says why; never replaces a CA unless asked;
//! - makes the keys ahead of the addresses ([`Pki::pregenerate_keys`]), so that a caller that
//!   waits for machines and a load balancer only has to sign once they exist;
//! - checks existing material against the spec ([`Pki::check`]);
//! - reads and writes cfssljson's file layout ([`store`]), keys 0600 in a 0700 folder.
//!
//! What it does not do: talk to AWS or to hosts, write kubeconfigs, parse `cluster.yaml`,
//! or support intermediate CAs and CSR workflows.
//!
//! # Example
//! ```
//! use k8s_pki::{Node, Pki, PkiInputs, KeyAlgorithm};
//!
//! # fn main() -> Result<(), k8s_pki::Error> {
//! let node = |name: &str, ip: &str| Node {
//!     name: name.into(),
//!     hostname: format!("ip-{}", ip.replace('.', "-")),
//!     fqdn: None,
//!     private_ip: ip.parse().expect("a literal IP"),
//!     public_ip: None,
//! };
//! let mut inputs = PkiInputs::new(
//!     "demo",
//!     vec![node("demo-master-0", "10.0.0.10")],
//!     vec![node("demo-worker-0", "10.0.0.20")],
//! );
//! inputs.key_algorithm = KeyAlgorithm::EcdsaP256; // fast for a doc test
//! inputs.api_endpoints = vec!["api.demo.example.com".into()];
//!
//! let pki = Pki::new(inputs)?;
//! let bundle = pki.generate()?;
//! let kubelet = bundle.get("demo-worker-0").expect("one cert per worker");
//! assert!(kubelet.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//!
//! // Everything checks out against the spec.
//! let rows = pki.check(&bundle.to_existing(), time::OffsetDateTime::now_utc());
//! assert!(rows.iter().all(|r| r.problems.is_empty()));
//! # Ok(()) }
//! ```

pub mod algorithm;
pub mod catalog;
mod error;
pub mod inputs;
pub mod inspect;
mod issue;
pub mod material;
pub mod sans;
pub mod store;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

pub use algorithm::KeyAlgorithm;
pub use catalog::{CA, CertSpec, Usage};
pub use error::{Error, Result};
pub use inputs::{Node, PkiInputs, Subject, Validity};
pub use issue::{ClientRequest, KeyBatch, ReconcileOptions, Renew, issue_client};
pub use material::{Bundle, Change, Existing, ExistingPair, Issued, SecretPem};
pub use sans::San;

/// Certificates expiring sooner than this are flagged by [`Pki::check`].
pub const EXPIRY_WARNING: Duration = Duration::days(30);

/// A validated cluster PKI specification: the inputs and the certificate table expanded
/// for them. Cheap to build; every operation is a pure function of it.
#[derive(Debug, Clone)]
pub struct Pki {
    inputs: PkiInputs,
    specs: Vec<CertSpec>,
}

/// One line of [`Pki::check`]: a certificate, when it expires and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    /// File base name.
    pub name: String,
    /// What the certificate is for.
    pub description: String,
    /// Issuer base name; `None` for the CA.
    pub issuer: Option<String>,
    /// End of validity, when the certificate could be read.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
    /// Whole days left (negative once expired).
    pub days_left: Option<i64>,
    /// Everything that makes it wrong; empty when it is right.
    pub problems: Vec<String>,
    /// Things to act on soon (expiry within [`EXPIRY_WARNING`]).
    pub warnings: Vec<String>,
}

impl Pki {
    /// Validates `inputs` and expands the certificate table for them.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field, or [`Error::Catalog`] when node names collide
    /// with component names.
    pub fn new(inputs: PkiInputs) -> Result<Pki> {
        inputs.validate()?;
        let specs = catalog::expand(&inputs)?;
        Ok(Pki { inputs, specs })
    }

    /// The inputs this PKI was built from.
    pub fn inputs(&self) -> &PkiInputs {
        &self.inputs
    }

    /// Every certificate, the CA first.
    pub fn specs(&self) -> &[CertSpec] {
        &self.specs
    }

    /// The spec of the certificate named `name`.
    pub fn spec(&self, name: &str) -> Option<&CertSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// Things that are allowed but probably not meant, e.g. no API endpoint yet.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.inputs.api_endpoints.is_empty() {
            out.push(
                "no API endpoint: the apiserver certificate carries no load balancer name; \
                 set it (it is known after the AWS step) and re-run to re-issue that certificate"
                    .to_string(),
            );
        }
        out
    }

    /// Makes a fresh CA and every certificate, keys generated in parallel.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the backend fails.
    pub fn generate(&self) -> Result<Bundle> {
        self.reconcile(&Existing::new(), &ReconcileOptions::default())
    }

    /// Brings `existing` material in line with the spec: the CA is reused (unless
    /// `options.replace_ca`), a leaf is kept only if it chains to the CA, matches its spec (CN,
    /// O, subject, usages, key type, every SAN), its key matches and it is not expiring within
    /// `options.renew_before`; otherwise it is re-issued (reusing its key when that key is of
    /// the right algorithm) and [`Change::Reissued`] says why.
    ///
    /// # Errors
    /// [`Error::CaUnusable`] when a CA exists but cannot be used, [`Error::UnknownCertificate`]
    /// for a renewal of an unknown name, [`Error::Crypto`] from the backend.
    pub fn reconcile(&self, existing: &Existing, options: &ReconcileOptions) -> Result<Bundle> {
        self.reconcile_with_keys(existing, options, KeyBatch::default())
    }

    /// Generates, in parallel, every private key [`Pki::reconcile`] would have to make for
    /// `existing`: none of them depends on an address, so this can run while the machines and
    /// the load balancer are still being created, and [`Pki::reconcile_with_keys`] then only
    /// signs. Keys are matched by certificate name, so a batch made from a `Pki` of the same
    /// cluster built before its addresses were known fits the final one.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the backend fails.
    pub fn pregenerate_keys(
        &self,
        existing: &Existing,
        options: &ReconcileOptions,
    ) -> Result<KeyBatch> {
        issue::pregenerate_keys(&self.specs, self.inputs.key_algorithm, existing, options)
    }

    /// [`Pki::reconcile`], taking each new key from `keys` when it holds one for that name (and
    /// of this PKI's algorithm) before generating any. Keys of `keys` not needed are dropped.
    ///
    /// # Errors
    /// As [`Pki::reconcile`].
    pub fn reconcile_with_keys(
        &self,
        existing: &Existing,
        options: &ReconcileOptions,
        keys: KeyBatch,
    ) -> Result<Bundle> {
        issue::reconcile(
            &self.specs,
            &self.inputs.subject,
            self.inputs.key_algorithm,
            existing,
            options,
            keys,
        )
    }

    /// Checks `existing` material against the spec, certificate by certificate: parses,
    /// verifies the signature with the CA, compares subject, SANs, usages and key type,
    /// matches each key with its certificate, and reports days left.
    pub fn check(&self, existing: &Existing, now: OffsetDateTime) -> Vec<CheckRow> {
        let ca_name = self
            .specs
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let ca_pem = existing.get(&ca_name).and_then(|p| p.cert_pem.clone());
        self.specs
            .iter()
            .map(|spec| self.check_one(spec, existing.get(&spec.name), ca_pem.as_deref(), now))
            .collect()
    }

    fn check_one(
        &self,
        spec: &CertSpec,
        pair: Option<&ExistingPair>,
        ca_pem: Option<&str>,
        now: OffsetDateTime,
    ) -> CheckRow {
        let mut row = CheckRow {
            name: spec.name.clone(),
            description: spec.description.clone(),
            issuer: spec.issuer.clone(),
            not_after: None,
            days_left: None,
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        let pair = pair.cloned().unwrap_or_default();
        let Some(cert_pem) = pair.cert_pem else {
            row.problems.push(format!("{}.pem is missing", spec.name));
            return row;
        };
        let issuer_pem = if spec.is_ca() { None } else { ca_pem };
        if !spec.is_ca() && issuer_pem.is_none() {
            row.problems
                .push("cannot verify: the CA certificate is missing".into());
        }
        let facts = match inspect::inspect(&cert_pem, issuer_pem.or(Some(&cert_pem))) {
            Ok(f) => f,
            Err(e) => {
                row.problems
                    .push(format!("{}.pem does not parse: {e}", spec.name));
                return row;
            }
        };
        let mut diffs = inspect::differences(
            spec,
            &self.inputs.subject,
            self.inputs.key_algorithm,
            &facts,
        );
        if issuer_pem.is_none() && !spec.is_ca() {
            diffs.retain(|d| !d.starts_with("signature"));
        }
        row.problems.extend(diffs);
        match pair.key_pem {
            None => row
                .problems
                .push(format!("{}-key.pem is missing", spec.name)),
            Some(key_pem) => match rcgen::KeyPair::from_pem(key_pem.expose()) {
                Err(e) => row
                    .problems
                    .push(format!("{}-key.pem does not parse: {e}", spec.name)),
                Ok(key) if !inspect::key_matches(&facts, &key) => row.problems.push(format!(
                    "{}-key.pem does not match the certificate",
                    spec.name
                )),
                Ok(_) => {}
            },
        }
        let left = facts.not_after - now;
        row.not_after = Some(facts.not_after);
        row.days_left = Some(left.whole_days());
        if left <= Duration::ZERO {
            row.problems.push("expired".into());
        } else if left < EXPIRY_WARNING {
            row.warnings
                .push(format!("expires in {} days", left.whole_days()));
        }
        if facts.not_before > now {
            row.problems.push("not valid yet".into());
        }
        row
    }
}
