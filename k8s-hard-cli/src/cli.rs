//! The command line: clap derive, doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kubernetes from the ground up on AWS: infrastructure, PKI, kubeconfigs and file
/// distribution of the manual procedure, as typed and tested steps.
///
/// Every step reads `DIR/cluster.yaml` (`k8s-hard init` writes one, with the tutorial's
/// topology by default: 3 masters at 172.31.0.10-12, 3 workers at .20-22) and is safe to run
/// again.
#[derive(Debug, Parser)]
#[command(name = "k8s-hard", version, propagate_version = true)]
#[command(
    after_help = "Example:\n  k8s-hard --dir mycluster init --workers 5\n  k8s-hard --dir mycluster up --plan\n  k8s-hard --dir mycluster up --accept-new\n  k8s-hard --dir mycluster status --output json\n  k8s-hard --dir mycluster down --yes"
)]
pub struct Cli {
    /// Folder holding cluster.yaml and everything generated (pki/, kubeconfigs/, state.json).
    #[arg(long, global = true, default_value = ".", env = "K8S_HARD_DIR")]
    pub dir: PathBuf,
    /// Output format of the command's result on stdout.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// More detail on stderr (every kept item too).
    #[arg(long, short, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// No status lines on stderr, only errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

impl Command {
    /// Whether the command writes to DIR, and so takes its lock (a second writer is refused at
    /// once) and brings its secrets to their modes. Read-only ones run alongside anything.
    pub fn writes(&self) -> bool {
        match self {
            Command::Init(_) | Command::Down(_) | Command::Bundle(_) | Command::Kubeconfig(_) => {
                true
            }
            Command::Up(args) => !args.plan,
            Command::Distribute(args) => !args.plan,
            Command::Infra(args) => {
                matches!(args.command, InfraCommand::Up | InfraCommand::Down { .. })
            }
            Command::Pki(cmd) => !matches!(cmd, PkiCommand::Check),
            Command::EncryptionConfig(cmd) => !matches!(cmd, EncryptionCommand::Status),
            Command::Status(_) | Command::Completions { .. } => false,
        }
    }
}

/// Result format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and sentences for people.
    Human,
    /// One JSON document, for scripts.
    Json,
    /// Tables with every value in full (resource ARNs, long names), as `kubectl -o wide`;
    /// the human tables are shortened to fit 100 columns.
    Wide,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented cluster.yaml with the tutorial's topology as defaults (and a new installation ID).
    #[command(
        after_help = "Example:\n  k8s-hard --dir prod init --name prod --region eu-west-1 --workers 5"
    )]
    Init(InitArgs),
    /// The whole procedure: infra up, PKI, kubeconfigs, encryption config, wait for SSH,
    /// distribute. Each step is its own subcommand's code; run it again to resume after a
    /// failure: what is right is left alone.
    #[command(
        after_help = "Example:\n  k8s-hard up --plan\n  AWS_PROFILE=lab k8s-hard up\n  k8s-hard up --output json | jq '.changed, .timings_ms'"
    )]
    Up(UpArgs),
    /// Delete the cluster's AWS resources (asks first). The local PKI, kubeconfigs and key stay
    /// unless --purge.
    #[command(after_help = "Example:\n  k8s-hard down\n  k8s-hard down --yes --purge")]
    Down(DownArgs),
    /// Infra, certificate expiry and what is on each node, in one table; exits 1 unless all
    /// is in place.
    #[command(
        after_help = "Example:\n  k8s-hard status\n  k8s-hard status --output json | jq '.certificates[] | select(.days_left < 60)'"
    )]
    Status(StatusArgs),
    /// The AWS network, load balancer and machines ("Kubernetes from the ground up": AWS CLOUD RESOURCES to STEP 3).
    ///
    /// Credentials and region follow the AWS CLI: AWS_PROFILE, AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, ~/.aws/config and credentials; the region is cluster.yaml's.
    Infra(InfraArgs),
    /// The cluster PKI: a CA and every component certificate (the tutorial's STEP 4).
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Kubeconfigs for the kubelets, kube-proxy, controller-manager, scheduler and admin (the tutorial's STEP 6).
    #[command(subcommand)]
    Kubeconfig(KubeconfigCommand),
    /// The API server's encryption-at-rest config ("Kubernetes from the ground up" STEP 7),
    /// and its key rotation in stages.
    ///
    /// Rotation follows Kubernetes' documented procedure, so that every API server can read
    /// what any other writes while they are updated one by one: `rotate` (new key second),
    /// `distribute`, restart every kube-apiserver; `promote` (new key first), `distribute`,
    /// restart, re-encrypt every secret (`kubectl get secrets -A -o json | kubectl replace
    /// -f -`); `prune` (old keys removed), `distribute`, restart.
    #[command(subcommand, name = "encryption-config")]
    EncryptionConfig(EncryptionCommand),
    /// Everything "Kubernetes from the ground up" makes before distribution (STEPS 4, 6, 7):
    /// PKI, kubeconfigs, encryption config.
    ///
    /// Writes the default cluster.yaml first if there is none. The five kubeconfigs that point
    /// at the API endpoint (kubelets, kube-proxy, admin) need it: give it with --api-endpoint,
    /// api.endpoint in cluster.yaml, or run `infra up` first; without it they are skipped with
    /// a warning.
    #[command(
        after_help = "Example:\n  k8s-hard --dir demo bundle --api-endpoint k8s-api.example.com\n  k8s-hard --dir mycluster bundle --output json | jq .kubeconfigs"
    )]
    Bundle(BundleArgs),
    /// Send every node its files over SSH, all nodes at once, verified by sha256 on the node
    /// (the tutorial's STEP 5, STEP 6's TASK, STEP 7's end). Running it again sends nothing.
    #[command(
        after_help = "Example:\n  k8s-hard distribute --plan\n  k8s-hard distribute --accept-new\n  k8s-hard distribute --known-hosts ./known_hosts --output json"
    )]
    Distribute(DistributeArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  k8s-hard completions bash > /etc/bash_completion.d/k8s-hard"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The arguments of `bundle`.
#[derive(Debug, Default, Args)]
pub struct BundleArgs {
    /// The API endpoint: the DNS name (or IP) the kube-apiserver is reached at, on api.port.
    /// It goes into the API server certificate and the kubeconfigs. Written as api.endpoint
    /// into the cluster.yaml that bundle creates; an existing cluster.yaml must name the same.
    #[arg(long, value_name = "NAME")]
    pub api_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cluster name (AWS Name tags, kubeconfig cluster name, worker file names).
    #[arg(long, default_value = "k8s-cluster-from-ground-up")]
    pub name: String,
    /// AWS region.
    #[arg(long, default_value = "us-east-2", env = "AWS_REGION")]
    pub region: String,
    /// Number of masters (control-plane nodes), from 172.31.0.10 on.
    #[arg(long, default_value_t = 3)]
    pub masters: usize,
    /// Number of workers, from 172.31.0.20 on.
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
    /// The API endpoint (load balancer DNS name), if already known.
    #[arg(long)]
    pub api_endpoint: Option<String>,
    /// Replace an existing cluster.yaml.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Make what is missing, re-issue what is wrong or expiring, keep the rest (writes
    /// cluster.yaml first if there is none).
    #[command(
        after_help = "Example:\n  k8s-hard pki generate            # then again: nothing changes\n  k8s-hard pki generate --replace-ca"
    )]
    Generate {
        /// Make a new CA even though one exists; every certificate is then re-issued.
        #[arg(long)]
        replace_ca: bool,
    },
    /// Check every certificate against the spec and the CA; exit 1 on any problem.
    #[command(
        after_help = "Example:\n  k8s-hard pki check --output json | jq '.[] | select(.problems != [])'"
    )]
    Check,
    /// Re-issue certificates from the current spec, keeping the CA (all leaves when no NAME).
    #[command(after_help = "Example:\n  k8s-hard pki renew admin master-kubernetes")]
    Renew {
        /// File base names (`admin`, `master-kubernetes`, `CLUSTER-worker-0`, ...).
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KubeconfigCommand {
    /// Write every kubeconfig into DIR/kubeconfigs/ (0600), with certificates embedded.
    #[command(
        after_help = "Example:\n  k8s-hard kubeconfig generate\n  kubectl config view --kubeconfig kubeconfigs/admin.kubeconfig"
    )]
    Generate,
    /// Merge the admin kubeconfig into your kubeconfig (first of $KUBECONFIG, else
    /// ~/.kube/config) and make its context current: cluster CLUSTER, user CLUSTER-admin,
    /// context CLUSTER. Entries of those names that differ are replaced only with --force.
    #[command(
        name = "use-admin",
        after_help = "Example:\n  k8s-hard kubeconfig use-admin && kubectl get nodes"
    )]
    UseAdmin {
        /// Merge into this file instead.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Replace a cluster, user or context of the same name that differs (another
        /// cluster's, or older credentials); without it such a merge is refused.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EncryptionCommand {
    /// Write DIR/encryption-config.yaml (0600) with a new key, or keep the existing one.
    #[command(after_help = "Example:\n  k8s-hard encryption-config generate")]
    Generate,
    /// Stage 1: add a new key as the second aescbc key. Every API server can then read with
    /// it; none writes with it yet.
    #[command(
        after_help = "Example:\n  k8s-hard encryption-config rotate && k8s-hard distribute\n  # then restart kube-apiserver on every master, and: k8s-hard encryption-config promote"
    )]
    Rotate,
    /// Stage 2: move the newest key first, so new writes use it; the old keys stay to read.
    ///
    /// Refused unless every master holds DIR/encryption-config.yaml as it is now (checked over
    /// SSH, as `status` does): a master without the new key could not read what the others
    /// then write.
    #[command(
        after_help = "Example:\n  k8s-hard encryption-config promote && k8s-hard distribute\n  # restart kube-apiserver on every master, then re-encrypt:\n  kubectl get secrets -A -o json | kubectl replace -f -"
    )]
    Promote(StageArgs),
    /// Stage 3: remove every key but the first, once every secret was re-encrypted with it
    /// (`kubectl get secrets -A -o json | kubectl replace -f -`) and etcd backed up.
    ///
    /// Refused unless every master holds DIR/encryption-config.yaml as it is now (checked over
    /// SSH): one still writing with an old key would write secrets nobody can read after the
    /// prune. Asks first; the removed keys are appended to DIR/encryption-keys.retired.yaml
    /// (0600) before they leave encryption-config.yaml.
    #[command(
        after_help = "Example:\n  kubectl get secrets -A -o json | kubectl replace -f -   # re-encrypt first\n  k8s-hard encryption-config prune && k8s-hard distribute"
    )]
    Prune(PruneArgs),
    /// Which stage DIR/encryption-config.yaml is in, and the next step (reads only).
    #[command(after_help = "Example:\n  k8s-hard encryption-config status --output json")]
    Status,
}

/// How `encryption-config promote` and `prune` check the masters first.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// Change the local file without checking the masters' copies (e.g. when they cannot be
    /// reached from here). A master that does not hold the current file may then fail to read
    /// secrets, or write some that nobody can read.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Where AWS is: the host keys of the cluster's own instances are read from their console
    /// output.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The arguments of `encryption-config prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask (needed when stdin is not a terminal).
    #[arg(long, short)]
    pub yes: bool,
    #[command(flatten)]
    pub stage: StageArgs,
}

#[derive(Debug, Args)]
pub struct DistributeArgs {
    /// Print which file goes to which node, and connect to nothing.
    #[arg(long)]
    pub plan: bool,
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Where AWS is: the host keys of the cluster's own instances are read from their console
    /// output.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How to reach the nodes over SSH.
#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// known_hosts file to check host keys against (default ~/.ssh/known_hosts). The host
    /// keys of the cluster's own AWS instances, read from their console output, are pinned
    /// there (marked `k8s-hard:console`) before the first connection.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Trust and record hosts with no key in known_hosts (like
    /// StrictHostKeyChecking=accept-new): for machines that are not ours, or instances whose
    /// console output never showed their keys. A host with any recorded key that offers
    /// another is still refused, and no second key is ever added for it.
    #[arg(long)]
    pub accept_new: bool,
    /// Nodes worked on at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Private key to log in with (default DIR/ssh/CLUSTER.id_rsa, the AWS key pair).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Folder on the nodes (default the login user's home, as in the tutorial).
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<String>,
}

#[derive(Debug, Args)]
pub struct InfraArgs {
    #[command(subcommand)]
    pub command: InfraCommand,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where AWS is (credentials follow the AWS CLI's chain).
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// A named AWS profile (default AWS_PROFILE, else `default`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (an emulator such as moto); AWS_ENDPOINT_URL works too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Give up on one AWS call (its retries included) after this many seconds, naming it.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub call_timeout: u64,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Show what every step would do (AWS is only read; no file is written, no node contacted).
    #[arg(long)]
    pub plan: bool,
    /// How long to wait for every node to accept an SSH login, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub ssh_wait: u64,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Do not ask.
    #[arg(long, short)]
    pub yes: bool,
    /// Also delete the local pki/, kubeconfigs/, encryption-config.yaml,
    /// encryption-keys.retired.yaml, ssh/ and state.json (cluster.yaml and state files set
    /// aside stay), once AWS has nothing left; ssh/ stays while a set-aside state file names no
    /// readable region (machines may still need it).
    #[arg(long)]
    pub purge: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// Show what `up` would create or change; makes no change.
    #[command(
        after_help = "Example:\n  k8s-hard infra plan\n  k8s-hard infra plan --output json | jq '.changes | length'"
    )]
    Plan,
    /// Create what is missing (idempotent) and record IDs, public IPs and the load balancer's
    /// DNS name (the API endpoint) in DIR/state.json.
    #[command(after_help = "Example:\n  AWS_PROFILE=lab k8s-hard infra up")]
    Up,
    /// Every resource, its ID and state; exits 1 while anything is missing.
    #[command(after_help = "Example:\n  k8s-hard infra status --output json")]
    Status,
    /// Delete everything the cluster owns (ownership tag), in dependency order; lists anything
    /// left behind and exits 1 if there is.
    #[command(after_help = "Example:\n  k8s-hard infra down --yes")]
    Down {
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
}
