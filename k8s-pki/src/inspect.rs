//! Reading existing certificates and keys back, and comparing them with their spec.
//!
//! This is what makes re-running safe: a certificate is kept only when everything the spec
//! says is true of it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rcgen::{KeyPair, PublicKeyData};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::algorithm::KeyAlgorithm;
use crate::catalog::{CertSpec, Usage};
use crate::inputs::Subject;
use crate::sans::San;

/// What a certificate file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertFacts {
    /// Subject CN.
    pub common_name: Option<String>,
    /// Subject O.
    pub organization: Option<String>,
    /// Subject C, ST, L, OU.
    pub subject: Option<Subject>,
    /// Subject alternative names.
    pub sans: BTreeSet<San>,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// Key usages and extended key usages found, as catalog usages.
    pub usages: BTreeSet<String>,
    /// digitalSignature and keyEncipherment bits.
    pub digital_signature: bool,
    /// keyEncipherment bit.
    pub key_encipherment: bool,
    /// The certificate's key algorithm, if one we make.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Whether the signature verifies with the issuer's public key.
    pub signature_valid: bool,
    /// The raw public key bits, to match against a private key.
    #[serde(skip)]
    pub public_key: Vec<u8>,
}

fn parse_pem(pem: &str) -> Result<Vec<u8>, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    if pem.label != "CERTIFICATE" {
        return Err(format!("PEM block is {:?}, not CERTIFICATE", pem.label));
    }
    Ok(pem.contents)
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c)
        .map_err(|e| e.to_string())
}

fn text<'a, 'b: 'a>(
    mut values: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'b>>,
) -> Option<String> {
    values.find_map(|a| a.as_str().ok().map(str::to_string))
}

/// The key algorithm of a subject public key info, if it is one we make.
pub(crate) fn algorithm_of(spki: &SubjectPublicKeyInfo<'_>) -> Option<KeyAlgorithm> {
    match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        },
        // Uncompressed points: 1 + 2 × 32 bytes for P-256, 1 + 2 × 48 for P-384.
        PublicKey::EC(point) => match point.data().len() {
            65 => Some(KeyAlgorithm::EcdsaP256),
            97 => Some(KeyAlgorithm::EcdsaP384),
            _ => None,
        },
        _ => None,
    }
}

/// The key algorithm of a private key, if it is one we make.
pub(crate) fn key_algorithm(key: &KeyPair) -> Option<KeyAlgorithm> {
    let spki_der = key.subject_public_key_info();
    let (_, spki) = SubjectPublicKeyInfo::from_der(&spki_der).ok()?;
    algorithm_of(&spki)
}

/// Parses `cert_pem` and checks its signature against `issuer_pem` (itself when `None`).
///
/// # Errors
/// A message when either PEM does not parse as a certificate.
pub fn inspect(cert_pem: &str, issuer_pem: Option<&str>) -> Result<CertFacts, String> {
    let der = parse_pem(cert_pem)?;
    let cert = parse_der(&der)?;
    let issuer_der = issuer_pem.map(parse_pem).transpose()?;
    let issuer = issuer_der.as_deref().map(parse_der).transpose()?;
    let issuer_key = issuer
        .as_ref()
        .map_or(cert.public_key(), |i| i.public_key());
    let signature_valid = cert.verify_signature(Some(issuer_key)).is_ok();

    let subject = cert.subject();
    let country = text(subject.iter_country());
    let state = text(subject.iter_state_or_province());
    let locality = text(subject.iter_locality());
    let unit = text(subject.iter_organizational_unit());
    let subject_fields = match (country, state, locality, unit) {
        (Some(country), Some(state), Some(locality), Some(organizational_unit)) => Some(Subject {
            country,
            state,
            locality,
            organizational_unit,
        }),
        _ => None,
    };

    let mut sans = BTreeSet::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => {
                    sans.insert(San::Dns(d.to_ascii_lowercase()));
                }
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    sans.extend(ip.map(San::Ip));
                }
                _ => {}
            }
        }
    }

    let mut usages = BTreeSet::new();
    let (mut digital_signature, mut key_encipherment) = (false, false);
    if let Ok(Some(ku)) = cert.key_usage() {
        digital_signature = ku.value.digital_signature();
        key_encipherment = ku.value.key_encipherment();
        if ku.value.key_cert_sign() {
            usages.insert(usage_name(Usage::CertSign));
        }
    }
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if eku.value.server_auth {
            usages.insert(usage_name(Usage::ServerAuth));
        }
        if eku.value.client_auth {
            usages.insert(usage_name(Usage::ClientAuth));
        }
    }
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);

    Ok(CertFacts {
        common_name: text(subject.iter_common_name()),
        organization: text(subject.iter_organization()),
        subject: subject_fields,
        sans,
        is_ca,
        usages,
        digital_signature,
        key_encipherment,
        key_algorithm: algorithm_of(cert.public_key()),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        signature_valid,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

fn usage_name(u: Usage) -> String {
    match u {
        Usage::CertSign => "cert-sign",
        Usage::ServerAuth => "server-auth",
        Usage::ClientAuth => "client-auth",
    }
    .to_string()
}

/// Whether `key` is the private half of the certificate described by `facts`.
pub fn key_matches(facts: &CertFacts, key: &KeyPair) -> bool {
    key.public_key_raw() == facts.public_key.as_slice()
}

/// Everything about `facts` that differs from `spec`; empty when the certificate is right.
/// Expiry is not judged here (see [`crate::Pki::check`]).
pub fn differences(
    spec: &CertSpec,
    subject: &Subject,
    algorithm: KeyAlgorithm,
    facts: &CertFacts,
) -> Vec<String> {
    let mut out = Vec::new();
    if !facts.signature_valid {
        let by = spec.issuer.as_deref().unwrap_or("itself");
        out.push(format!("signature does not verify with {by}"));
    }
    if facts.common_name.as_deref() != Some(spec.common_name.as_str()) {
        out.push(format!(
            "CN is {:?}, spec says {:?}",
            facts.common_name.as_deref().unwrap_or(""),
            spec.common_name
        ));
    }
    if facts.organization.as_deref() != Some(spec.organization.as_str()) {
        out.push(format!(
            "O is {:?}, spec says {:?}",
            facts.organization.as_deref().unwrap_or(""),
            spec.organization
        ));
    }
    if facts.subject.as_ref() != Some(subject) {
        out.push("subject C/ST/L/OU differ from the spec".to_string());
    }
    let want: BTreeSet<&San> = spec.sans.iter().collect();
    let have: BTreeSet<&San> = facts.sans.iter().collect();
    let missing: Vec<String> = want.difference(&have).map(|s| s.to_string()).collect();
    let extra: Vec<String> = have.difference(&want).map(|s| s.to_string()).collect();
    if !missing.is_empty() {
        out.push(format!("SANs missing: {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        out.push(format!("SANs not in spec: {}", extra.join(", ")));
    }
    let want_usages: BTreeSet<String> = spec.usages.iter().map(|u| usage_name(*u)).collect();
    if facts.usages != want_usages {
        out.push(format!(
            "usages are [{}], spec says [{}]",
            facts.usages.iter().cloned().collect::<Vec<_>>().join(", "),
            want_usages.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if facts.is_ca != spec.is_ca() {
        out.push(format!(
            "basicConstraints CA is {}, spec says {}",
            facts.is_ca,
            spec.is_ca()
        ));
    }
    if !spec.is_ca() && (!facts.digital_signature || facts.key_encipherment != algorithm.is_rsa()) {
        out.push("key usage bits differ from the spec".to_string());
    }
    // The CA keeps whatever algorithm it was made with: changing it means a new CA.
    if !spec.is_ca() && facts.key_algorithm != Some(algorithm) {
        out.push(format!(
            "key is {}, spec says {algorithm}",
            facts
                .key_algorithm
                .map_or("of an unknown kind", KeyAlgorithm::as_str)
        ));
    }
    out
}
