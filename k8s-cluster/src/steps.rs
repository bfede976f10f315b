//! The offline steps of building a cluster, each writing into the cluster's [`Layout`]:
//! the PKI ("Kubernetes from the ground up" STEP 4), the kubeconfigs (STEP 6) and the
//! encryption config (STEP 7). Synchronous, deterministic apart from new keys, and safe to
//! run again: each writes only what changed.

use std::path::PathBuf;

use k8s_files::{FileWrite, Mode, ensure_private_dir, write_file, write_files_if_changed};
use k8s_kubeconfig::{
    ApiEndpoint, Credentials, EncryptionConfig, Prepared, ServerChoice, build_kubeconfig,
    parse_encryption_config, parse_kubeconfig, prepare_encryption_config, render_encryption_config,
    render_kubeconfig,
};
use k8s_pki::{Bundle, CheckRow, KeyBatch, Pki, ReconcileOptions, store};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::layout::Layout;

/// What [`Cluster::generate_pki`] did.
#[derive(Debug)]
pub struct PkiReport {
    /// Every certificate and what was done to it.
    pub bundle: Bundle,
    /// The files written.
    pub written: Vec<PathBuf>,
    /// What an interrupted run left and how it was finished, if anything.
    pub recovered: Option<String>,
    /// Things to know about the inputs (from [`Pki::warnings`]).
    pub warnings: Vec<String>,
}

/// What to do when the cluster has no API endpoint yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingEndpoint {
    /// Fail with [`Error::NoEndpoint`].
    Fail,
    /// Make the kubeconfigs that talk to loopback and skip the others.
    Skip,
}

/// What happened to one kubeconfig file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChange {
    /// Written: new or different.
    Written,
    /// Already so, byte for byte.
    Unchanged,
}

/// One kubeconfig [`Cluster::generate_kubeconfigs`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeconfigFile {
    /// The file.
    pub file: PathBuf,
    /// Its user (the client certificate's CN).
    pub user: String,
    /// Its server URL.
    pub server: String,
    /// What happened to it.
    pub status: FileChange,
}

/// What [`Cluster::generate_kubeconfigs`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeconfigReport {
    /// Every kubeconfig made.
    pub files: Vec<KubeconfigFile>,
    /// The file names skipped for want of an API endpoint ([`MissingEndpoint::Skip`]).
    pub skipped: Vec<String>,
}

/// What [`generate_encryption_config`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EncryptionChange {
    /// A valid file was there: kept as it is (its keys still decrypt stored secrets).
    Kept,
    /// A valid file in the tutorial's older form: rewritten in the current form, same keys.
    Upgraded,
    /// There was none: written with a new 32-byte aescbc key.
    Generated,
}

impl std::fmt::Display for EncryptionChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EncryptionChange::Kept => "kept",
            EncryptionChange::Upgraded => "upgraded",
            EncryptionChange::Generated => "generated",
        })
    }
}

impl Cluster {
    /// The cluster's PKI: the certificate table expanded for its nodes and addresses.
    ///
    /// # Errors
    /// [`Error::Pki`] when the inputs are not valid.
    pub fn pki(&self) -> Result<Pki> {
        Ok(Pki::new(self.pki_inputs())?)
    }

    /// Reconciles `pki/` with the cluster: finishes what an interrupted run left, keeps what
    /// is right, makes what is missing, re-issues what is wrong or expiring (taking new keys
    /// from `keys` first: made earlier, e.g. while AWS worked), and writes only what changed.
    /// The caller holds the cluster folder's lock.
    ///
    /// # Errors
    /// [`Error::Pki`] (an unusable CA names its fix).
    pub fn generate_pki(&self, options: &ReconcileOptions, keys: KeyBatch) -> Result<PkiReport> {
        let pki = self.pki()?;
        let dir = self.layout.pki_dir();
        let recovered = store::recover(&dir)?.map(|r| r.to_string());
        let existing = store::load(&dir, pki.specs())?;
        let bundle = pki.reconcile_with_keys(&existing, options, keys)?;
        let written = store::save(&dir, &bundle)?;
        Ok(PkiReport {
            bundle,
            written,
            recovered,
            warnings: pki.warnings(),
        })
    }

    /// Every certificate of the cluster checked against `pki/` (kubeadm's
    /// `certs check-expiration`). Reads only.
    ///
    /// # Errors
    /// [`Error::Pki`].
    pub fn check_pki(&self) -> Result<Vec<CheckRow>> {
        let pki = self.pki()?;
        let existing = store::load(&self.layout.pki_dir(), pki.specs())?;
        Ok(pki.check(&existing, time_now()))
    }

    /// Every kubeconfig of the tutorial's STEP 6 that exists in `kubeconfigs/`, checked
    /// against `pki/`: it must embed `ca.pem` (kubectl and the components trust nothing else
    /// for the API server's certificate) and its own client certificate, unexpired (the API
    /// server takes only certificates signed by `ca.pem`, within their validity). One row per
    /// file, named after it; a missing file is `kubeconfig generate`'s to make, not a
    /// problem here. Reads only.
    ///
    /// # Errors
    /// [`Error::Pki`]; [`Error::Read`] for a kubeconfig that exists but cannot be read.
    pub fn check_kubeconfigs(&self) -> Result<Vec<CheckRow>> {
        let pki = self.pki()?;
        let pki_dir = self.layout.pki_dir();
        let ca_name = k8s_pki::CA;
        let ca_pem = std::fs::read(store::cert_path(&pki_dir, ca_name)).ok();
        let now = time_now();
        let mut rows = Vec::new();
        for component in self.kubeconfig_components() {
            let path = self.layout.kubeconfig_dir().join(component.file_name());
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::Read { path, source }),
            };
            let cert = self.kubeconfig_certificate(&pki, &component)?;
            let mut row = CheckRow {
                name: component.file_name(),
                description: format!("kubeconfig of {}", component.user_name()),
                issuer: Some(ca_name.to_string()),
                not_after: None,
                days_left: None,
                problems: Vec::new(),
                warnings: Vec::new(),
            };
            let embedded = match parse_kubeconfig(&text).and_then(|k| k.embedded_certificates()) {
                Ok(e) => e,
                Err(e) => {
                    row.problems.push(format!("does not parse: {e}"));
                    rows.push(row);
                    continue;
                }
            };
            let fix = "`k8s-hard kubeconfig generate` rewrites it";
            match (&embedded.ca_pem, &ca_pem) {
                (None, _) => row.problems.push(format!(
                    "embeds no CA (certificate-authority-data); {fix}"
                )),
                (Some(found), Some(ca)) if found != ca => row.problems.push(format!(
                    "embeds another CA than {ca_name}.pem: kubectl and the components refuse the API server's certificate; {fix}"
                )),
                _ => {}
            }
            let Some(client) = &embedded.client_cert_pem else {
                row.problems.push(format!(
                    "embeds no client certificate (client-certificate-data); {fix}"
                ));
                rows.push(row);
                continue;
            };
            let own = std::fs::read(store::cert_path(&pki_dir, &cert.name)).ok();
            if own.as_ref() != Some(client) {
                row.problems.push(format!(
                    "embeds another client certificate than {}.pem; {fix}",
                    cert.name
                ));
            }
            let client = String::from_utf8_lossy(client);
            let ca = ca_pem.as_deref().map(String::from_utf8_lossy);
            match k8s_pki::inspect::inspect(&client, ca.as_deref()) {
                Err(e) => row
                    .problems
                    .push(format!("its client certificate does not parse: {e}")),
                Ok(facts) => {
                    if ca.is_some() && !facts.signature_valid {
                        row.problems.push(format!(
                            "its client certificate is not signed by {ca_name}.pem: the API server refuses it"
                        ));
                    }
                    let left = facts.not_after - now;
                    row.not_after = Some(facts.not_after);
                    row.days_left = Some(left.whole_days());
                    if left <= time::Duration::ZERO {
                        row.problems.push(
                            "its client certificate expired: the API server refuses it".into(),
                        );
                    }
                }
            }
            rows.push(row);
        }
        Ok(rows)
    }

    /// Renders every kubeconfig of the tutorial's STEP 6 into `kubeconfigs/`, with the CA,
    /// and its own client certificate and key (from the certificate table) embedded, and
    /// writes only what changed (in one batch).
    ///
    /// # Errors
    /// [`Error::NoEndpoint`] with [`MissingEndpoint::Fail`] and no endpoint;
    /// [`Error::Read`] for a missing certificate (`pki` first); [`Error::Kubeconfig`].
    pub fn generate_kubeconfigs(&self, missing: MissingEndpoint) -> Result<KubeconfigReport> {
        let endpoint = match self.api_endpoint() {
            Some(host) => Some(ApiEndpoint::with_port(&host, self.spec.api.port)?),
            None if missing == MissingEndpoint::Fail => {
                return Err(Error::NoEndpoint {
                    path: self.path.clone(),
                });
            }
            None => None,
        };
        let pki = self.pki()?;
        let pki_dir = self.layout.pki_dir();
        let read =
            |path: PathBuf| std::fs::read(&path).map_err(|source| Error::Read { path, source });
        let ca = read(store::cert_path(&pki_dir, k8s_pki::CA))?;
        let out_dir = self.layout.kubeconfig_dir();
        let write_err = |source| Error::Write {
            path: out_dir.clone(),
            source,
        };
        ensure_private_dir(&out_dir).map_err(write_err)?;
        let mut rendered = Vec::new();
        let mut skipped = Vec::new();
        for component in self.kubeconfig_components() {
            let server = match (component.server(), &endpoint) {
                (ServerChoice::Loopback, _) => ApiEndpoint::loopback(),
                (ServerChoice::ApiEndpoint, Some(e)) => e.clone(),
                (ServerChoice::ApiEndpoint, None) => {
                    skipped.push(component.file_name());
                    continue;
                }
            };
            let cert = self.kubeconfig_certificate(&pki, &component)?;
            let client_cert = read(store::cert_path(&pki_dir, &cert.name))?;
            let client_key = read(store::key_path(&pki_dir, &cert.name))?;
            let credentials = Credentials {
                ca_pem: &ca,
                client_cert_pem: &client_cert,
                client_key_pem: &client_key,
            };
            let kubeconfig = build_kubeconfig(&component, &self.spec.name, &server, &credentials)?;
            rendered.push((
                out_dir.join(component.file_name()),
                component.user_name(),
                server.url(),
                render_kubeconfig(&kubeconfig)?,
            ));
        }
        let batch: Vec<FileWrite> = rendered
            .iter()
            .map(|(file, _, _, text)| FileWrite::new(file, text.as_bytes(), Mode::Secret))
            .collect();
        let written = write_files_if_changed(&batch).map_err(write_err)?;
        let files = rendered
            .into_iter()
            .map(|(file, user, server, _)| KubeconfigFile {
                status: if written.contains(&file) {
                    FileChange::Written
                } else {
                    FileChange::Unchanged
                },
                file,
                user,
                server,
            })
            .collect();
        Ok(KubeconfigReport { files, skipped })
    }
}

/// Makes `encryption-config.yaml` of `layout` (the tutorial's STEP 7) when missing; keeps an
/// existing key (replacing it would make every stored secret unreadable). Returns what it
/// did and the config.
///
/// # Errors
/// [`Error::Encryption`] for an invalid existing file (never overwritten), [`Error::Read`],
/// [`Error::Write`].
pub fn generate_encryption_config(layout: &Layout) -> Result<(EncryptionChange, EncryptionConfig)> {
    let file = layout.encryption_config();
    let existing = read_optional(&file)?;
    let prepared =
        prepare_encryption_config(existing.as_deref()).map_err(|source| Error::Encryption {
            path: file.clone(),
            source,
        })?;
    let change = match &prepared {
        Prepared::KeepExisting(_) => EncryptionChange::Kept,
        Prepared::UpgradeExisting(_) => EncryptionChange::Upgraded,
        Prepared::GeneratedNew(_) => EncryptionChange::Generated,
    };
    if prepared.needs_write() {
        write_encryption_config(layout, prepared.config())?;
    }
    Ok((change, prepared.config().clone()))
}

/// Reads `encryption-config.yaml` of `layout`.
///
/// # Errors
/// [`Error::NoEncryptionConfig`] when there is none, [`Error::Encryption`] when invalid.
pub fn read_encryption_config(layout: &Layout) -> Result<EncryptionConfig> {
    let file = layout.encryption_config();
    let text =
        read_optional(&file)?.ok_or_else(|| Error::NoEncryptionConfig { path: file.clone() })?;
    parse_encryption_config(&text).map_err(|source| Error::Encryption { path: file, source })
}

/// Writes `config` as `encryption-config.yaml` of `layout` (0600, whole or nothing).
///
/// # Errors
/// [`Error::Write`], [`Error::Kubeconfig`] when it cannot be rendered.
pub fn write_encryption_config(layout: &Layout, config: &EncryptionConfig) -> Result<()> {
    let file = layout.encryption_config();
    let text = render_encryption_config(config)?;
    write_file(&file, text.as_bytes(), Mode::Secret)
        .map_err(|source| Error::Write { path: file, source })
}

/// The text of `file`, `None` when there is none.
pub(crate) fn read_optional(file: &std::path::Path) -> Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: file.to_path_buf(),
            source,
        }),
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
