//! The SSH key pair; its private key is saved 0600 as `<dir>/ssh/<cluster>.id_rsa`.

use std::path::{Path, PathBuf};

use aws_sdk_ec2::types::{KeyType, ResourceType};

use crate::context::{Action, Ctx, Kind};
use crate::error::{Error, Result, aws};
use crate::tags::filter;

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

/// Finds the key pair by name; `Err(NotOwned)` when it lacks the ownership tag.
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
        return Err(Error::NotOwned {
            resource: KIND.to_string(),
            id: ctx.spec.cluster.clone(),
            tag: ctx.tags.owner(),
        });
    }
    Ok(Some(k))
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
    create(ctx, name, path).await
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
    ctx.created(KIND, out.key_pair_id().unwrap_or(&name));
    let material = out.key_material.unwrap_or_default();
    if let Err(e) = write_key(p, material.as_bytes()) {
        // The private key exists nowhere else: without the file the key pair is useless.
        let _ = ctx.ec2.delete_key_pair().key_name(&name).send().await;
        return Err(e);
    }
    Ok(KeyPair { name, path })
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
