//! The cluster's AWS side, with its record in `state.json`: written as `up` goes (before its
//! first change, then after each creation), and for `down` set aside, never overwritten,
//! when it cannot be used.

use std::path::{Path, PathBuf};

use k8s_aws_infra::{
    CallCounts, Deleted, Infra, InfraSpec, InfraState, Inventory, LeftBehind, UpReport,
    recorded_region, save_state,
};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::layout::Layout;

/// How the name of a `state.json` that `down` set aside begins; the UTC time follows
/// (`state.json.damaged-20261130T063057Z`).
pub const SET_ASIDE_PREFIX: &str = "state.json.damaged-";

impl Cluster {
    /// What `infra up` recorded last time ([`Cluster::load`] reads it), else an empty state
    /// for the cluster.
    pub fn infra_state(&self) -> InfraState {
        self.state
            .clone()
            .unwrap_or_else(|| InfraState::new(self.spec.name.clone()))
    }

    /// For `down`, which must work when `state.json` is lost, damaged or another cluster's:
    /// the cluster from `cluster.yaml`, the state when it records this cluster, and every
    /// region a state file in the folder names (see [`DownScope`]).
    ///
    /// # Errors
    /// As [`Cluster::load_spec`].
    pub fn load_for_down(dir: &Path) -> Result<DownScope> {
        let mut cluster = Cluster::load_spec(dir)?;
        let path = cluster.layout.state_file();
        let state = match k8s_aws_infra::load_state(dir) {
            Ok(None) => DownState::Missing,
            Ok(Some(state)) => match foreign(&cluster, &state) {
                Some(reason) => DownState::Unusable {
                    reason: Box::new(reason),
                    region: state.region,
                },
                None => {
                    cluster.apply_state(state)?;
                    DownState::Recorded
                }
            },
            Err(e) => DownState::Unusable {
                reason: Box::new(e.into()),
                region: recorded_region(&path),
            },
        };
        let mut regions: Vec<String> = match &state {
            DownState::Recorded => cluster.state.as_ref().and_then(|s| s.region.clone()),
            DownState::Unusable { region, .. } => region.clone(),
            DownState::Missing => None,
        }
        .into_iter()
        .collect();
        let mut unknown_regions = Vec::new();
        for earlier in set_aside_files(&cluster.layout)? {
            match recorded_region(&earlier) {
                Some(r) => regions.push(r),
                None => unknown_regions.push(earlier),
            }
        }
        regions.push(cluster.spec.region.clone());
        let mut seen = std::collections::BTreeSet::new();
        regions.retain(|r| seen.insert(r.clone()));
        Ok(DownScope {
            cluster,
            state,
            regions,
            unknown_regions,
        })
    }

    /// Creates what is missing on AWS, recording the state in `state.json` before the first
    /// change and after each creation (so that a run that fails or is interrupted leaves the
    /// region and what it made there on record), and once more at the end.
    ///
    /// # Errors
    /// As [`Infra::up_recording`], and [`Error::Infra`] when the state cannot be written.
    pub async fn infra_up(&self, infra: &Infra) -> Result<UpReport> {
        let dir = self.layout.dir();
        let record = |state: &InfraState| save_state(dir, state);
        let report = infra
            .up_recording(&self.infra_spec()?, &self.infra_state(), dir, &record)
            .await?;
        save_state(dir, &report.state)?;
        Ok(report)
    }
}

/// Why a readable state cannot be this cluster's: another cluster name (cluster.yaml's
/// `name:` changed since `up`), or another installation's resources.
fn foreign(cluster: &Cluster, state: &InfraState) -> Option<Error> {
    let layout = &cluster.layout;
    if state.cluster != cluster.spec.name {
        return Some(Error::StateOfAnotherCluster {
            state: layout.state_file(),
            recorded: state.cluster.clone(),
            spec: cluster.path.clone(),
            named: cluster.spec.name.clone(),
        });
    }
    match (&state.installation_id, &cluster.spec.installation_id) {
        (Some(recorded), Some(named)) if recorded != named && state.has_resources() => {
            Some(Error::StateOfAnotherInstallation {
                state: layout.state_file(),
                recorded: recorded.clone(),
                spec: cluster.path.clone(),
                named: named.clone(),
            })
        }
        _ => None,
    }
}

/// The state files `down` set aside earlier, oldest first.
fn set_aside_files(layout: &Layout) -> Result<Vec<PathBuf>> {
    let dir = layout.dir();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(SET_ASIDE_PREFIX)
        {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Renames `state.json` to `state.json.damaged-<UTC time>` (never over another file).
fn set_aside(layout: &Layout) -> Result<PathBuf> {
    let from = layout.state_file();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default();
    let base = layout.dir().join(format!("{SET_ASIDE_PREFIX}{stamp}"));
    let mut to = base.clone();
    for n in 2.. {
        // The folder is locked by the caller: nobody else makes one meanwhile.
        if !to.exists() {
            break;
        }
        to = PathBuf::from(format!("{}-{n}", base.display()));
    }
    let failed = |source| Error::SetAside {
        path: from.clone(),
        to: to.clone(),
        source,
    };
    std::fs::rename(&from, &to).map_err(failed)?;
    k8s_files::sync_dir(layout.dir()).map_err(|source| Error::Write {
        path: layout.dir().to_path_buf(),
        source,
    })?;
    Ok(to)
}

/// `state.json` as `down` found it.
#[derive(Debug)]
#[non_exhaustive]
pub enum DownState {
    /// There is none: the cluster is found by its installation tag alone.
    Missing,
    /// It records this cluster (the [`Cluster`]'s `state`).
    Recorded,
    /// It cannot be used: not a valid state file, or another cluster's (cluster.yaml's
    /// `name:` or `installation_id:` changed since `up`). `down` finds the cluster by its
    /// installation tag, then sets the file aside ([`SET_ASIDE_PREFIX`]).
    Unusable {
        /// Why.
        reason: Box<Error>,
        /// The region it records, when that can still be read.
        region: Option<String>,
    },
}

/// What `down` works from ([`Cluster::load_for_down`]).
#[derive(Debug)]
pub struct DownScope {
    /// The cluster, with its state when that records it.
    pub cluster: Cluster,
    /// `state.json` as found.
    pub state: DownState,
    /// The regions `down` searches: those state files record (`state.json`, then those set
    /// aside earlier), then cluster.yaml's, each once.
    pub regions: Vec<String>,
    /// Files set aside earlier whose region cannot be read: the installation's machines may
    /// run in a region `down` does not search.
    pub unknown_regions: Vec<PathBuf>,
}

impl DownScope {
    /// The spec and state for each region searched: the recorded state in its own region,
    /// an empty one elsewhere (found by tags).
    fn targets(&self) -> Result<Vec<(InfraSpec, InfraState)>> {
        let spec = self.cluster.infra_spec()?;
        let recorded = self.cluster.infra_state();
        let recorded_in = recorded.region.clone().or_else(|| spec.region.clone());
        Ok(self
            .regions
            .iter()
            .map(|r| {
                let mut s = spec.clone();
                s.region = Some(r.clone());
                let state = if matches!(self.state, DownState::Recorded)
                    && recorded_in.as_deref() == Some(r.as_str())
                {
                    recorded.clone()
                } else {
                    InfraState::new(spec.cluster.clone())
                };
                (s, state)
            })
            .collect())
    }

    /// What `down` would delete, region by region. Makes read calls only.
    ///
    /// # Errors
    /// As [`Infra::inventory`].
    pub async fn inventory(&self, infra: &Infra) -> Result<Vec<Inventory>> {
        let mut out = Vec::new();
        for (spec, state) in self.targets()? {
            out.push(infra.inventory(&spec, &state).await?);
        }
        Ok(out)
    }

    /// Deletes everything of the installation in every region searched, then records the
    /// outcome: an unusable `state.json` is set aside first; the new one is empty when
    /// nothing is left, keeps its IDs when something is (so that the next `down` finds it
    /// again), or names the region of what is left.
    ///
    /// # Errors
    /// As [`Infra::down`]; [`Error::SetAside`] and [`Error::Infra`] when the state cannot be
    /// moved or written.
    pub async fn down(&self, infra: &Infra) -> Result<InfraDown> {
        let mut out = InfraDown {
            regions: self.regions.clone(),
            deleted: Vec::new(),
            left_behind: Vec::new(),
            not_ours: Vec::new(),
            calls: CallCounts::default(),
            set_aside: None,
            unknown_regions: self.unknown_regions.clone(),
        };
        let mut left_in = None;
        for (spec, state) in self.targets()? {
            let report = infra.down(&spec, &state).await?;
            if !report.left_behind.is_empty() && left_in.is_none() {
                left_in = Some(report.region.clone());
            }
            out.deleted.extend(report.deleted);
            out.left_behind.extend(report.left_behind);
            out.not_ours.extend(report.not_ours);
            out.calls.read += report.calls.read;
            out.calls.mutating += report.calls.mutating;
        }
        let layout = &self.cluster.layout;
        if let DownState::Unusable { region, .. } = &self.state {
            let moved = set_aside(layout)?;
            if region.is_none() {
                out.unknown_regions.push(moved.clone());
            }
            out.set_aside = Some(moved);
        }
        let name = self.cluster.spec.name.clone();
        let state = match (left_in, &self.state) {
            (None, _) => Some(InfraState::new(name)),
            (Some(_), DownState::Recorded) => None,
            (Some(region), _) => Some(InfraState {
                installation_id: self.cluster.spec.installation_id.clone(),
                region: Some(region),
                ..InfraState::new(name)
            }),
        };
        if let Some(state) = state {
            save_state(layout.dir(), &state)?;
        }
        Ok(out)
    }
}

/// What `down` did, in every region it searched.
#[derive(Debug, Clone, Serialize)]
pub struct InfraDown {
    /// The regions searched ([`DownScope::regions`]).
    pub regions: Vec<String>,
    /// What was deleted, in order.
    pub deleted: Vec<Deleted>,
    /// What is still there; empty when nothing of the installation is left in those regions.
    pub left_behind: Vec<LeftBehind>,
    /// What has the cluster's names but belongs to another installation: not touched.
    pub not_ours: Vec<LeftBehind>,
    /// Calls made.
    pub calls: CallCounts,
    /// Where an unusable `state.json` was moved.
    pub set_aside: Option<PathBuf>,
    /// State files whose region cannot be read ([`DownScope::unknown_regions`], and
    /// `set_aside` when its region could not be read either).
    pub unknown_regions: Vec<PathBuf>,
}

impl InfraDown {
    /// True when nothing of the installation is left in the regions searched.
    pub fn clean(&self) -> bool {
        self.left_behind.is_empty()
    }

    /// True when nothing of the installation can still run anywhere: clean, and no state
    /// file names a region `down` could not read. Only then may its SSH key go.
    pub fn verified(&self) -> bool {
        self.clean() && self.unknown_regions.is_empty()
    }
}
