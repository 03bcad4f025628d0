//! `polc`: the command-line interface. A thin layer over the polc libraries; only
//! this file chooses exit codes: 0 ok, 1 findings at or above the threshold, 2 usage
//! or I/O errors.

mod cli;
mod cmd {
    pub(crate) mod agent;
    pub(crate) mod cluster;
    pub(crate) mod compile;
    pub(crate) mod crds;
    pub(crate) mod exec;
    pub(crate) mod explain;
    pub(crate) mod lint;
    pub(crate) mod watch;
}
mod out;
#[cfg(test)]
mod reference;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: lint and compile build many small
/// trees and free them from several threads, where glibc's malloc spent a quarter of
/// the time (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status of a command that ran.
pub(crate) enum Status {
    /// Nothing to report.
    Ok,
    /// Findings at or above the threshold.
    Findings,
    /// Some input could not be read.
    InputError,
    /// Exit with this code (`polc exec`: the command's status).
    Exit(u8),
}

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match args.command {
        cli::Command::Lint(a) => cmd::lint::run(&a),
        cli::Command::Compile(a) => cmd::compile::run(&a),
        cli::Command::Crds(a) => cmd::crds::run(&a),
        cli::Command::Explain(a) => cmd::explain::run(&a),
        cli::Command::Exec(a) => cmd::exec::run(&a),
        cli::Command::Agent(a) => cmd::agent::run(&a),
        cli::Command::EnterCgroup(a) => cmd::exec::enter_cgroup(&a),
    };
    match result {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::Findings) => ExitCode::from(1),
        Ok(Status::InputError) => ExitCode::from(2),
        Ok(Status::Exit(code)) => ExitCode::from(code),
        Err(e) if out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("polc: {e:#}");
            ExitCode::from(2)
        }
    }
}
