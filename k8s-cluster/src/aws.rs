//! The cluster's AWS side, with its record in `state.json` kept as `k8s-aws-infra` leaves it.

use std::path::Path;

use k8s_aws_infra::{DownReport, Infra, InfraState, UpReport, save_state};

use crate::cluster::Cluster;
use crate::error::{Error, Result};

impl Cluster {
    /// What `infra up` recorded last time ([`Cluster::load`] reads it), else an empty state
    /// for the cluster.
    pub fn infra_state(&self) -> InfraState {
        self.state
            .clone()
            .unwrap_or_else(|| InfraState::new(self.spec.name.clone()))
    }

    /// For `down`, which must work when `state.json` is lost or damaged: the cluster from
    /// `cluster.yaml`, with the state when it can be read; otherwise the reason it cannot
    /// (the cluster's resources are then found by their installation tag).
    ///
    /// # Errors
    /// As [`Cluster::load_spec`].
    pub fn load_for_down(dir: &Path) -> Result<(Cluster, Option<Error>)> {
        let mut cluster = Cluster::load_spec(dir)?;
        let unreadable = match k8s_aws_infra::load_state(dir) {
            Ok(Some(state)) => cluster.apply_state(state).err(),
            Ok(None) => None,
            Err(e) => Some(e.into()),
        };
        Ok((cluster, unreadable))
    }

    /// Creates what is missing on AWS and records the state in `state.json`.
    ///
    /// # Errors
    /// As [`Infra::up`], and [`Error::Infra`] when the state cannot be written.
    pub async fn infra_up(&self, infra: &Infra) -> Result<UpReport> {
        let report = infra
            .up(&self.infra_spec()?, &self.infra_state(), self.layout.dir())
            .await?;
        save_state(self.layout.dir(), &report.state)?;
        Ok(report)
    }

    /// Deletes everything the installation owns on AWS; `state.json` is emptied, or keeps
    /// its IDs when something is left behind (so that the next `down` finds it again).
    ///
    /// # Errors
    /// As [`Infra::down`], and [`Error::Infra`] when the state cannot be written.
    pub async fn infra_down(&self, infra: &Infra) -> Result<DownReport> {
        let previous = self.infra_state();
        let report = infra.down(&self.infra_spec()?, &previous).await?;
        let state = if report.left_behind.is_empty() {
            InfraState::new(self.spec.name.clone())
        } else {
            previous
        };
        save_state(self.layout.dir(), &state)?;
        Ok(report)
    }
}
