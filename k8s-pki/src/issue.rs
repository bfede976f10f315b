//! Making certificates: parameters from a spec, keys in parallel, signing, and the
//! keep-or-reissue decision for material that already exists.

use std::collections::BTreeMap;

use rayon::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::algorithm::KeyAlgorithm;
use crate::catalog::{CertSpec, Usage};
use crate::error::{Error, Result};
use crate::inputs::Subject;
use crate::inspect;
use crate::material::{Bundle, Change, Existing, ExistingPair, Issued, SecretPem};
use crate::sans::San;

/// cfssl back-dates `notBefore` by five minutes so that slightly slow clocks accept new certs.
const BACKDATE: Duration = Duration::minutes(5);

/// Which certificates to re-issue regardless of their state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Renew {
    /// None: only what is missing or wrong.
    #[default]
    Nothing,
    /// Every leaf.
    All,
    /// The leaves with these file base names.
    Only(Vec<String>),
}

/// How [`crate::Pki::reconcile`] treats existing material.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// Make a new CA even if a usable one exists (re-issues every leaf).
    pub replace_ca: bool,
    /// Leaves to re-issue regardless.
    pub renew: Renew,
    /// Re-issue a leaf that expires within this long.
    pub renew_before: Duration,
    /// The time to judge expiry against and to start validity from.
    pub now: OffsetDateTime,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions {
            replace_ca: false,
            renew: Renew::Nothing,
            renew_before: Duration::days(30),
            now: OffsetDateTime::now_utc(),
        }
    }
}

/// Certificate parameters for `spec`: a pure function of its inputs.
pub(crate) fn params(
    spec: &CertSpec,
    subject: &Subject,
    algorithm: KeyAlgorithm,
    now: OffsetDateTime,
) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, subject.country.as_str());
    dn.push(DnType::StateOrProvinceName, subject.state.as_str());
    dn.push(DnType::LocalityName, subject.locality.as_str());
    dn.push(DnType::OrganizationName, spec.organization.as_str());
    dn.push(
        DnType::OrganizationalUnitName,
        subject.organizational_unit.as_str(),
    );
    dn.push(DnType::CommonName, spec.common_name.as_str());
    p.distinguished_name = dn;
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let out_of_range = || {
        crate::error::invalid(
            format!("{}.validity_hours", spec.name),
            format!(
                "{} h from {} is beyond what a certificate can state (the year 9999)",
                spec.validity_hours,
                now.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| now.to_string())
            ),
        )
    };
    p.not_before = now.checked_sub(BACKDATE).ok_or_else(out_of_range)?;
    p.not_after = now
        .checked_add(Duration::hours(i64::from(spec.validity_hours)))
        .ok_or_else(out_of_range)?;
    p.serial_number = Some(random_serial(&spec.name)?);
    if spec.is_ca() {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.is_ca = IsCa::ExplicitNoCa;
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if algorithm.is_rsa() {
            p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
    }
    for usage in &spec.usages {
        match usage {
            Usage::ServerAuth => p
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth),
            Usage::ClientAuth => p
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth),
            Usage::CertSign => {}
        }
    }
    for san in &spec.sans {
        p.subject_alt_names.push(match san {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(d) => {
                SanType::DnsName(d.clone().try_into().map_err(|source| Error::Crypto {
                    name: spec.name.clone(),
                    operation: "encoding a SAN",
                    source,
                })?)
            }
        });
    }
    Ok(p)
}

/// 128 random bits, positive, never zero: serials must not repeat across re-issues.
fn random_serial(name: &str) -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Crypto {
        name: name.to_string(),
        operation: "random serial number",
        source: rcgen::Error::RingUnspecified,
    })?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn parse_key(name: &str, pem: &SecretPem) -> Result<KeyPair> {
    KeyPair::from_pem(pem.expose()).map_err(|e| Error::Parse {
        name: name.to_string(),
        what: "private key",
        reason: e.to_string(),
    })
}

/// What to do with one certificate, decided before any key is generated.
struct Job<'a> {
    spec: &'a CertSpec,
    /// `None`: keep the existing pair as is.
    change: Option<Change>,
    /// An existing key to sign for, when it can be reused.
    key: Option<KeyPair>,
}

/// The CA to sign with: existing and verified, or to be made.
enum CaState {
    Existing { cert_pem: String, key: KeyPair },
    New(Change),
}

fn existing_ca(spec: &CertSpec, pair: Option<&ExistingPair>, replace: bool) -> Result<CaState> {
    let pair = pair.cloned().unwrap_or_default();
    if replace {
        let why = if pair.cert_pem.is_some() {
            Change::Reissued(vec!["replacing the CA was requested".into()])
        } else {
            Change::Created
        };
        return Ok(CaState::New(why));
    }
    let unusable = |reason: String| Error::CaUnusable { reason };
    match (pair.cert_pem, pair.key_pem) {
        (None, None) => Ok(CaState::New(Change::Created)),
        (Some(_), None) => Err(unusable(format!("{}-key.pem is missing", spec.name))),
        (None, Some(_)) => Err(unusable(format!("{}.pem is missing", spec.name))),
        (Some(cert_pem), Some(key_pem)) => {
            let key = parse_key(&spec.name, &key_pem).map_err(|e| match e {
                Error::Parse { reason, .. } => {
                    unusable(format!("{}-key.pem does not parse: {reason}", spec.name))
                }
                other => other,
            })?;
            let facts = inspect::inspect(&cert_pem, None)
                .map_err(|e| unusable(format!("{}.pem: {e}", spec.name)))?;
            if !facts.is_ca {
                return Err(unusable(format!(
                    "{}.pem is not a CA certificate",
                    spec.name
                )));
            }
            if !facts.signature_valid {
                return Err(unusable(format!("{}.pem is not self-signed", spec.name)));
            }
            if !inspect::key_matches(&facts, &key) {
                return Err(unusable(format!(
                    "{}-key.pem does not belong to {}.pem",
                    spec.name, spec.name
                )));
            }
            Ok(CaState::Existing { cert_pem, key })
        }
    }
}

/// Why a leaf must be re-issued, or `None` to keep it, plus its key if reusable.
fn leaf_decision(
    spec: &CertSpec,
    subject: &Subject,
    algorithm: KeyAlgorithm,
    pair: Option<&ExistingPair>,
    ca_pem: Option<&str>,
    forced: bool,
    options: &ReconcileOptions,
) -> (Option<Change>, Option<KeyPair>) {
    let Some(pair) = pair else {
        return (Some(Change::Created), None);
    };
    // A key that parses and is of the right algorithm is reused: re-issuing for a changed SAN
    // or a renewal need not change the key (as `kubeadm certs renew`).
    let key = pair
        .key_pem
        .as_ref()
        .and_then(|k| parse_key(&spec.name, k).ok())
        .filter(|k| inspect::key_algorithm(k) == Some(algorithm));
    let mut reasons = Vec::new();
    if forced {
        reasons.push("renewal requested".to_string());
    }
    match (&pair.cert_pem, ca_pem) {
        (None, _) => reasons.push(format!("{}.pem is missing", spec.name)),
        (Some(_), None) => reasons.push("the CA is new".to_string()),
        (Some(cert), Some(ca)) => match inspect::inspect(cert, Some(ca)) {
            Err(e) => reasons.push(format!("{}.pem does not parse: {e}", spec.name)),
            Ok(facts) => {
                reasons.extend(inspect::differences(spec, subject, algorithm, &facts));
                match &key {
                    Some(k) if !inspect::key_matches(&facts, k) => {
                        reasons.push(format!(
                            "{}-key.pem does not match the certificate",
                            spec.name
                        ));
                    }
                    None if pair.key_pem.is_none() => {
                        reasons.push(format!("{}-key.pem is missing", spec.name));
                    }
                    None => reasons.push(format!(
                        "{}-key.pem is unreadable or not {algorithm}",
                        spec.name
                    )),
                    Some(_) => {}
                }
                let left = facts.not_after - options.now;
                if left < options.renew_before {
                    reasons.push(format!("expires in {} days", left.whole_days()));
                }
            }
        },
    }
    if reasons.is_empty() {
        (None, None)
    } else if pair.cert_pem.is_none() && pair.key_pem.is_none() {
        (Some(Change::Created), None)
    } else {
        (Some(Change::Reissued(reasons)), key)
    }
}

/// Private keys made ahead of signing, by certificate name (see
/// [`Pki::pregenerate_keys`](crate::Pki::pregenerate_keys)). Debug output shows names only.
#[derive(Default)]
pub struct KeyBatch {
    algorithm: Option<KeyAlgorithm>,
    keys: BTreeMap<String, KeyPair>,
}

impl std::fmt::Debug for KeyBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyBatch")
            .field("algorithm", &self.algorithm)
            .field("names", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyBatch {
    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The certificate names it holds keys for.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The DER `SubjectPublicKeyInfo` of the key for `name`.
    pub fn public_key_der(&self, name: &str) -> Option<Vec<u8>> {
        self.keys
            .get(name)
            .map(rcgen::PublicKeyData::subject_public_key_info)
    }

    /// The key for `name`, if it holds one of `algorithm`.
    fn take(&mut self, name: &str, algorithm: KeyAlgorithm) -> Option<KeyPair> {
        if self.algorithm != Some(algorithm) {
            return None;
        }
        self.keys.remove(name)
    }
}

/// True when `pair` holds a key of `algorithm` that parses (one a re-issue would reuse).
fn usable_key(name: &str, pair: Option<&ExistingPair>, algorithm: KeyAlgorithm) -> bool {
    pair.and_then(|p| p.key_pem.as_ref())
        .and_then(|k| parse_key(name, k).ok())
        .is_some_and(|k| inspect::key_algorithm(&k) == Some(algorithm))
}

/// Generates, in parallel, every key [`reconcile`] would have to make for `existing` whatever
/// the addresses turn out to be: the CA's when there is no CA (or it is being replaced), and
/// each leaf's that has no usable key.
pub(crate) fn pregenerate_keys(
    specs: &[CertSpec],
    algorithm: KeyAlgorithm,
    existing: &Existing,
    options: &ReconcileOptions,
) -> Result<KeyBatch> {
    let needing: Vec<&str> = specs
        .iter()
        .filter(|spec| {
            let pair = existing.get(&spec.name);
            if spec.is_ca() {
                options.replace_ca
                    || pair.is_none_or(|p| p.cert_pem.is_none() && p.key_pem.is_none())
            } else {
                !usable_key(&spec.name, pair, algorithm)
            }
        })
        .map(|s| s.name.as_str())
        .collect();
    let keys = needing
        .par_iter()
        .map(|name| Ok((name.to_string(), algorithm.generate(name)?)))
        .collect::<Result<_>>()?;
    Ok(KeyBatch {
        algorithm: Some(algorithm),
        keys,
    })
}

/// Brings `existing` in line with `specs`: keeps what is right, makes what is missing,
/// re-issues what is wrong, with every new key taken from `batch` or generated in parallel.
pub(crate) fn reconcile(
    specs: &[CertSpec],
    subject: &Subject,
    algorithm: KeyAlgorithm,
    existing: &Existing,
    options: &ReconcileOptions,
    mut batch: KeyBatch,
) -> Result<Bundle> {
    let Some((ca_spec, leaves)) = specs.split_first() else {
        return Ok(Bundle { items: Vec::new() });
    };
    if let Renew::Only(names) = &options.renew {
        for name in names {
            if !leaves.iter().any(|s| &s.name == name) {
                return Err(Error::UnknownCertificate {
                    name: name.clone(),
                    known: leaves
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
    }
    let ca_state = existing_ca(ca_spec, existing.get(&ca_spec.name), options.replace_ca)?;
    let ca_pem = match &ca_state {
        CaState::Existing { cert_pem, .. } => Some(cert_pem.as_str()),
        CaState::New(_) => None,
    };
    let forced = |name: &str| match &options.renew {
        Renew::Nothing => false,
        Renew::All => true,
        Renew::Only(names) => names.iter().any(|n| n == name),
    };
    let mut jobs: Vec<Job> = leaves
        .iter()
        .map(|spec| {
            let (change, key) = leaf_decision(
                spec,
                subject,
                algorithm,
                existing.get(&spec.name),
                ca_pem,
                forced(&spec.name),
                options,
            );
            Job { spec, change, key }
        })
        .collect();

    // Every key still missing, the CA's included, in one parallel batch: RSA keygen is the floor.
    let ca_needs_key = matches!(ca_state, CaState::New(_));
    let needing: Vec<&str> = std::iter::once(ca_spec)
        .filter(|_| ca_needs_key)
        .chain(
            jobs.iter()
                .filter(|j| j.change.is_some() && j.key.is_none())
                .map(|j| j.spec),
        )
        .map(|s| s.name.as_str())
        .collect();
    let ready: Vec<Option<KeyPair>> = needing
        .iter()
        .map(|name| batch.take(name, algorithm))
        .collect();
    let mut fresh: Vec<KeyPair> = needing
        .par_iter()
        .zip(ready)
        .map(|(name, key)| match key {
            Some(key) => Ok(key),
            None => algorithm.generate(name),
        })
        .collect::<Result<_>>()?;
    fresh.reverse(); // pop() hands them out in `needing` order

    let (ca_cert_pem, ca_key, ca_change) = match ca_state {
        CaState::Existing { cert_pem, key } => (cert_pem, key, Change::Kept),
        CaState::New(change) => {
            let key = fresh
                .pop()
                .ok_or_else(|| Error::Catalog("key batch too short".into()))?;
            let cert = params(ca_spec, subject, algorithm, options.now)?
                .self_signed(&key)
                .map_err(|source| Error::Crypto {
                    name: ca_spec.name.clone(),
                    operation: "signing",
                    source,
                })?;
            (cert.pem(), key, change)
        }
    };
    let mut key_changed = Vec::with_capacity(jobs.len());
    for job in &mut jobs {
        let new = job.change.is_some() && job.key.is_none();
        if new {
            job.key = fresh.pop();
        }
        key_changed.push(new);
    }
    let issuer =
        Issuer::from_ca_cert_pem(&ca_cert_pem, &ca_key).map_err(|source| Error::Crypto {
            name: ca_spec.name.clone(),
            operation: "loading the CA",
            source,
        })?;

    let issued: Vec<Issued> = jobs
        .into_par_iter()
        .zip(key_changed)
        .map(|(job, key_changed)| {
            let name = job.spec.name.clone();
            let (Some(change), Some(key)) = (job.change, job.key) else {
                let pair = existing.get(&name).cloned().unwrap_or_default();
                return Ok(Issued {
                    name,
                    cert_pem: pair.cert_pem.unwrap_or_default(),
                    key_pem: pair
                        .key_pem
                        .unwrap_or_else(|| SecretPem::new(String::new())),
                    change: Change::Kept,
                    key_changed: false,
                });
            };
            let cert = params(job.spec, subject, algorithm, options.now)?
                .signed_by(&key, &issuer)
                .map_err(|source| Error::Crypto {
                    name: name.clone(),
                    operation: "signing",
                    source,
                })?;
            let key_pem = if key_changed {
                SecretPem::new(key.serialize_pem())
            } else {
                existing
                    .get(&name)
                    .and_then(|p| p.key_pem.clone())
                    .unwrap_or_else(|| SecretPem::new(key.serialize_pem()))
            };
            Ok(Issued {
                name,
                cert_pem: cert.pem(),
                key_pem,
                change,
                key_changed,
            })
        })
        .collect::<Result<_>>()?;

    let ca_key_pem = match ca_change {
        Change::Kept => existing
            .get(&ca_spec.name)
            .and_then(|p| p.key_pem.clone())
            .unwrap_or_else(|| SecretPem::new(ca_key.serialize_pem())),
        _ => SecretPem::new(ca_key.serialize_pem()),
    };
    let ca_key_changed = ca_change != Change::Kept;
    let ca = Issued {
        name: ca_spec.name.clone(),
        cert_pem: ca_cert_pem,
        key_pem: ca_key_pem,
        change: ca_change,
        key_changed: ca_key_changed,
    };
    Ok(Bundle {
        items: std::iter::once(ca).chain(issued).collect(),
    })
}

/// A client certificate outside the cluster's table: a person or a tool that talks to the API
/// (`CN` is the user name, `O` the group, as the API server reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// File base name for the result.
    pub name: String,
    /// Subject CN: the Kubernetes user name.
    pub common_name: String,
    /// Subject O: the Kubernetes group (`system:masters` for cluster admins).
    pub organization: String,
    /// C/ST/L/OU.
    pub subject: Subject,
    /// Key algorithm of the new key.
    pub key_algorithm: KeyAlgorithm,
    /// Lifetime in hours.
    pub validity_hours: u32,
}

/// Issues a client certificate (clientAuth only, no SANs) signed by an existing CA, with a new
/// key. The CA is checked first: its key must match its certificate.
///
/// # Errors
/// [`Error::CaUnusable`] for a CA that does not load or match, [`Error::InvalidInput`] for an
/// empty name or zero validity, [`Error::Crypto`] from the backend.
pub fn issue_client(ca: &ExistingPair, request: &ClientRequest) -> Result<Issued> {
    if request.common_name.trim().is_empty() {
        return Err(crate::error::invalid("common_name", "must not be empty"));
    }
    if !(1..=crate::Validity::MAX_HOURS).contains(&request.validity_hours) {
        return Err(crate::error::invalid(
            "validity_hours",
            format!(
                "{} h: a lifetime is 1 to {} hours (100 years)",
                request.validity_hours,
                crate::Validity::MAX_HOURS
            ),
        ));
    }
    let ca_spec = CertSpec {
        name: crate::catalog::CA.to_string(),
        id: crate::catalog::CA,
        description: String::new(),
        issuer: None,
        common_name: String::new(),
        organization: String::new(),
        usages: vec![Usage::CertSign],
        sans: Vec::new(),
        validity_hours: 0,
    };
    let CaState::Existing {
        cert_pem,
        key: ca_key,
    } = existing_ca(&ca_spec, Some(ca), false)?
    else {
        return Err(Error::CaUnusable {
            reason: "no CA certificate and key given".into(),
        });
    };
    let spec = CertSpec {
        name: request.name.clone(),
        id: "client",
        description: format!("client certificate for {}", request.common_name),
        issuer: Some(ca_spec.name.clone()),
        common_name: request.common_name.clone(),
        organization: request.organization.clone(),
        usages: vec![Usage::ClientAuth],
        sans: Vec::new(),
        validity_hours: request.validity_hours,
    };
    let key = request.key_algorithm.generate(&spec.name)?;
    let issuer = Issuer::from_ca_cert_pem(&cert_pem, &ca_key).map_err(|source| Error::Crypto {
        name: ca_spec.name.clone(),
        operation: "loading the CA",
        source,
    })?;
    let cert = params(
        &spec,
        &request.subject,
        request.key_algorithm,
        OffsetDateTime::now_utc(),
    )?
    .signed_by(&key, &issuer)
    .map_err(|source| Error::Crypto {
        name: spec.name.clone(),
        operation: "signing",
        source,
    })?;
    Ok(Issued {
        name: spec.name,
        cert_pem: cert.pem(),
        key_pem: SecretPem::new(key.serialize_pem()),
        change: Change::Created,
        key_changed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pki, Validity};

    fn pki() -> Pki {
        let mut inputs = crate::inputs::tests::inputs();
        inputs.key_algorithm = KeyAlgorithm::EcdsaP256;
        Pki::new(inputs).unwrap()
    }

    fn client(validity_hours: u32) -> ClientRequest {
        ClientRequest {
            name: "alice".into(),
            common_name: "alice".into(),
            organization: "developers".into(),
            subject: Subject::default(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity_hours,
        }
    }

    /// What panicked before: `now + hours` past the year 9999.
    #[test]
    fn a_lifetime_past_the_year_9999_is_an_error_naming_the_field() {
        let pki = pki();
        let late = time::Date::from_calendar_date(9999, time::Month::June, 1)
            .unwrap()
            .midnight()
            .assume_utc();
        let options = ReconcileOptions {
            now: late,
            ..Default::default()
        };
        let err = pki.reconcile(&Existing::new(), &options).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ca.validity_hours: 43800 h from 9999-06-01T00:00:00Z is beyond what a certificate can state (the year 9999)"
        );
        let ca = pki.generate().unwrap().to_existing().remove("ca").unwrap();
        for hours in [u32::MAX, Validity::MAX_HOURS + 1, 0] {
            let err = issue_client(&ca, &client(hours)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid validity_hours: {hours} h: a lifetime is 1 to 876000 hours (100 years)"
                )
            );
        }
        issue_client(&ca, &client(Validity::MAX_HOURS)).unwrap();
    }

    #[test]
    fn a_ca_key_that_does_not_parse_is_an_error_naming_the_file() {
        let pki = pki();
        let mut existing = pki.generate().unwrap().to_existing();
        for garbage in [
            "",
            "garbage",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            if let Some(ca) = existing.get_mut("ca") {
                ca.key_pem = Some(SecretPem::new(garbage.into()));
            }
            let err = pki
                .reconcile(&existing, &ReconcileOptions::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("existing CA unusable: ca-key.pem does not parse: "),
                "{err}"
            );
            let err = issue_client(&existing["ca"], &client(1))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("existing CA unusable: ca-key.pem does not parse: "),
                "{err}"
            );
        }
    }
}
