//! `k8s-hard completions SHELL`.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub fn run(shell: Shell) {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "k8s-hard",
        &mut std::io::stdout(),
    );
}
