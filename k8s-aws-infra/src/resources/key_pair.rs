//! The SSH key pair; its private key is saved 0600 as `<dir>/ssh/<cluster>.id_rsa`.
//!
//! When that file already exists (your own key, or one kept from an earlier cluster) and AWS
//! has no key pair of the cluster's name, its public half is imported instead: a local private
//! key is never overwritten.

use std::path::{Path, PathBuf};

use aws_sdk_ec2::types::{KeyType, ResourceType};

use crate::context::{Action, Ctx, Kind};
use crate::error::{Error, Result, aws};
use crate::tags::{filter, holder};

const KIND: Kind = Kind::KeyPair;

/// The cluster's key pair.
#[derive(Debug, Clone)]
pub(crate) struct KeyPair {
    pub(crate) name: String,
    pub(crate) path: Option<PathBuf>,
}

/// Where the private key of `cluster` lives under `dir`.
pub fn key_path(dir: &Path, cluster: &str) -> PathBuf {
    dir.join("ssh").join(format!("{cluster}.id_rsa"))
}

/// Finds the key pair by name; [`Error::NameTaken`] when it lacks the ownership tag (key pair
/// names are unique per account and region).
pub(crate) async fn find(ctx: &Ctx<'_>) -> Result<Option<aws_sdk_ec2::types::KeyPairInfo>> {
    let out = ctx
        .ec2
        .describe_key_pairs()
        .filters(filter("key-name", &ctx.spec.cluster))
        .send()
        .await
        .map_err(aws(KIND.to_string(), "DescribeKeyPairs"))?;
    let Some(k) = out.key_pairs.unwrap_or_default().into_iter().next() else {
        return Ok(None);
    };
    if !ctx.tags.owns(k.tags()) {
        return Err(Error::NameTaken {
            resource: KIND.to_string(),
            name: ctx.spec.cluster.clone(),
            region: ctx.region.clone(),
            holder: holder(
                k.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
            ),
        });
    }
    Ok(Some(k))
}

/// Every key pair of this installation in the region, whatever its name (for `down`: the
/// cluster may have been renamed since `up`).
pub(crate) async fn find_owned(ctx: &Ctx<'_>) -> Result<Vec<aws_sdk_ec2::types::KeyPairInfo>> {
    let out = ctx
        .ec2
        .describe_key_pairs()
        .filters(ctx.tags.owner_filter())
        .send()
        .await
        .map_err(aws(KIND.to_string(), "DescribeKeyPairs"))?;
    Ok(out.key_pairs.unwrap_or_default())
}

/// Finds or creates the key pair; a new one's private key is written to disk.
///
/// # Errors
/// [`Error::KeyFileMissing`] when the key pair exists but its private key file does not.
pub(crate) async fn ensure(ctx: &Ctx<'_>) -> Result<KeyPair> {
    match ensure_once(ctx).await {
        // Created meanwhile, e.g. by the in-flight request of an interrupted run: look again.
        Err(e) if e.aws_code() == Some("InvalidKeyPair.Duplicate") => ensure_once(ctx).await,
        r => r,
    }
}

async fn ensure_once(ctx: &Ctx<'_>) -> Result<KeyPair> {
    let name = ctx.spec.cluster.clone();
    let path = ctx.key_dir.as_deref().map(|d| key_path(d, &name));
    if let Some(k) = find(ctx).await? {
        let id = k.key_pair_id().unwrap_or(&name).to_string();
        ctx.found(KIND, &id);
        let Some(p) = path.as_ref().filter(|p| !p.exists()) else {
            return Ok(KeyPair { name, path });
        };
        // The private key is lost (e.g. an `up` interrupted between CreateKeyPair and writing
        // the file). Unused by any machine, the key pair can be replaced; otherwise say so.
        if in_use(ctx).await? {
            let e = Error::KeyFileMissing {
                name,
                path: p.clone(),
            };
            if ctx.dry_run {
                ctx.warn(e.to_string());
                return Ok(KeyPair {
                    name: ctx.spec.cluster.clone(),
                    path,
                });
            }
            return Err(e);
        }
        if !ctx.change(
            KIND,
            &name,
            Some(&id),
            Action::Update(
                "replace: its private key file is missing and no machine uses it".into(),
            ),
        ) {
            return Ok(KeyPair { name, path });
        }
        delete(ctx, &name).await?;
    } else if !ctx.change(KIND, &name, None, Action::Create) {
        return Ok(KeyPair { name, path });
    }
    match path.as_ref().filter(|p| p.exists()) {
        // A private key is already there (the user's own, or kept from an earlier cluster):
        // import its public half rather than overwrite it.
        Some(p) => import(ctx, name, p.clone()).await,
        None => create(ctx, name, path).await,
    }
}

async fn import(ctx: &Ctx<'_>, name: String, path: PathBuf) -> Result<KeyPair> {
    let err = |reason: String| Error::File {
        path: path.clone(),
        reason,
    };
    let pem = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let public = openssh_public_key(&pem).map_err(err)?;
    let out = ctx
        .ec2
        .import_key_pair()
        .key_name(&name)
        .public_key_material(aws_sdk_ec2::primitives::Blob::new(public.into_bytes()))
        .tag_specifications(ctx.tags.spec(ResourceType::KeyPair))
        .send()
        .await
        .map_err(aws(KIND.to_string(), "ImportKeyPair"))?;
    ctx.created(KIND, out.key_pair_id().unwrap_or(&name))?;
    recorded(
        ctx,
        KeyPair {
            name,
            path: Some(path),
        },
    )
}

/// Records the key pair in the state (`up` calls it once the private key is on disk).
fn recorded(ctx: &Ctx<'_>, key: KeyPair) -> Result<KeyPair> {
    ctx.record(|s| {
        s.key_pair_name = Some(key.name.clone());
        s.key_path.clone_from(&key.path);
    })?;
    Ok(key)
}

/// The `ssh-rsa AAAA...` / `ssh-ed25519 AAAA...` line of a private key file: PKCS#1
/// (`BEGIN RSA PRIVATE KEY`, what AWS and `ssh-keygen -m PEM` write), PKCS#8 RSA, or OpenSSH
/// (`BEGIN OPENSSH PRIVATE KEY`, whose public half is stored in clear, even when encrypted).
fn openssh_public_key(pem: &str) -> std::result::Result<String, String> {
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    let (label, body) = pem_body(pem).ok_or("not a PEM private key")?;
    let der = STANDARD
        .decode(body)
        .map_err(|e| format!("invalid base64 in the PEM body: {e}"))?;
    let blob = match label {
        "OPENSSH PRIVATE KEY" => {
            openssh_public_blob(&der).ok_or("malformed OpenSSH private key")?
        }
        "RSA PRIVATE KEY" | "PRIVATE KEY" => {
            let key = if label == "RSA PRIVATE KEY" {
                aws_lc_rs::rsa::KeyPair::from_der(&der)
            } else {
                aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
            }
            .map_err(|e| format!("not an RSA private key AWS can import: {e}"))?;
            let public = key.public_key();
            let mut blob = Vec::new();
            put_string(&mut blob, b"ssh-rsa");
            put_mpint(
                &mut blob,
                public.exponent().big_endian_without_leading_zero(),
            );
            put_mpint(
                &mut blob,
                public.modulus().big_endian_without_leading_zero(),
            );
            blob
        }
        other => return Err(format!("unsupported private key kind {other:?}")),
    };
    let kind = read_string(&blob, 0)
        .and_then(|(k, _)| std::str::from_utf8(k).ok())
        .ok_or("malformed public key")?
        .to_string();
    Ok(format!("{kind} {}", STANDARD.encode(&blob)))
}

/// The label and the base64 body (whitespace removed) of the first PEM block.
fn pem_body(pem: &str) -> Option<(&str, String)> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let label_end = start + pem[start..].find("-----")?;
    let label = &pem[start..label_end];
    let end = pem.find(&format!("-----END {label}-----"))?;
    let body = &pem[label_end + 5..end];
    Some((label, body.split_whitespace().collect()))
}

/// The public key blob of an `openssh-key-v1` container.
fn openssh_public_blob(der: &[u8]) -> Option<Vec<u8>> {
    let rest = der.strip_prefix(b"openssh-key-v1\0")?;
    let (_cipher, at) = read_string(rest, 0)?;
    let (_kdf, at) = read_string(rest, at)?;
    let (_kdf_options, at) = read_string(rest, at)?;
    let count = u32::from_be_bytes(rest.get(at..at + 4)?.try_into().ok()?);
    if count != 1 {
        return None;
    }
    let (public, _) = read_string(rest, at + 4)?;
    Some(public.to_vec())
}

/// An SSH wire `string` at `at`: its bytes and the offset after it.
fn read_string(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?) as usize;
    let end = at.checked_add(4)?.checked_add(len)?;
    Some((buf.get(at + 4..end)?, end))
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// An SSH `mpint` of a positive big-endian number: a leading zero byte if the top bit is set.
fn put_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
        let mut padded = Vec::with_capacity(magnitude.len() + 1);
        padded.push(0);
        padded.extend_from_slice(magnitude);
        put_string(out, &padded);
    } else {
        put_string(out, magnitude);
    }
}

/// True when a machine that is not terminated was started with the cluster's key pair.
async fn in_use(ctx: &Ctx<'_>) -> Result<bool> {
    let out = ctx
        .ec2
        .describe_instances()
        .filters(filter("key-name", &ctx.spec.cluster))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["pending", "running", "stopping", "stopped"]
                        .map(String::from)
                        .to_vec(),
                ))
                .build(),
        )
        .send()
        .await
        .map_err(aws(KIND.to_string(), "DescribeInstances"))?;
    Ok(out.reservations().iter().any(|r| !r.instances().is_empty()))
}

async fn create(ctx: &Ctx<'_>, name: String, path: Option<PathBuf>) -> Result<KeyPair> {
    let Some(p) = &path else {
        return Err(Error::File {
            path: PathBuf::from("ssh"),
            reason: "no folder given for the new key pair's private key".into(),
        });
    };
    let out = ctx
        .ec2
        .create_key_pair()
        .key_name(&name)
        .key_type(KeyType::Rsa)
        .tag_specifications(ctx.tags.spec(ResourceType::KeyPair))
        .send()
        .await
        .map_err(aws(KIND.to_string(), "CreateKeyPair"))?;
    let id = out.key_pair_id().unwrap_or(&name).to_string();
    let material = out.key_material.unwrap_or_default();
    if let Err(e) = write_key(p, material.as_bytes()) {
        // The private key exists nowhere else: without the file the key pair is useless.
        let _ = ctx.ec2.delete_key_pair().key_name(&name).send().await;
        return Err(e);
    }
    ctx.created(KIND, &id)?;
    recorded(ctx, KeyPair { name, path })
}

fn write_key(path: &Path, material: &[u8]) -> Result<()> {
    let err = |e: k8s_files::Error| Error::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        k8s_files::ensure_private_dir(dir).map_err(err)?;
    }
    k8s_files::write_file(path, material, k8s_files::Mode::Secret).map_err(err)
}

/// Deletes the key pair (the local private key file is left in place).
pub(crate) async fn delete(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    ctx.ec2
        .delete_key_pair()
        .key_name(name)
        .send()
        .await
        .map_err(aws(format!("{KIND} {name}"), "DeleteKeyPair"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our public line for a key `ssh-keygen` made, against `ssh-keygen -y` (comment stripped).
    fn same_as_ssh_keygen(args: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        let made = std::process::Command::new("ssh-keygen")
            .args(args)
            .args(["-q", "-N", "", "-C", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen (Debian openssh-client) must be installed");
        assert!(made.success());
        let expected = std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&key)
            .output()
            .unwrap();
        assert!(expected.status.success());
        let expected = String::from_utf8(expected.stdout).unwrap();
        let ours = openssh_public_key(&std::fs::read_to_string(&key).unwrap()).unwrap();
        assert_eq!(ours, expected.trim(), "{args:?}");
    }

    #[test]
    #[ignore = "needs ssh-keygen: run scripts/test"]
    fn public_keys_match_ssh_keygen_for_every_supported_format() {
        same_as_ssh_keygen(&["-t", "rsa", "-b", "2048", "-m", "PEM"]);
        same_as_ssh_keygen(&["-t", "rsa", "-b", "3072", "-m", "PKCS8"]);
        same_as_ssh_keygen(&["-t", "rsa", "-b", "2048"]);
        same_as_ssh_keygen(&["-t", "ed25519"]);
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        assert!(openssh_public_key("ssh-rsa AAAA").is_err());
        let ec = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(
            openssh_public_key(ec)
                .unwrap_err()
                .contains("EC PRIVATE KEY")
        );
        let junk = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(openssh_public_key(junk).unwrap_err().contains("RSA"));
    }
}
