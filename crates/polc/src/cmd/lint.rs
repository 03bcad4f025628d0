//! `polc lint`.

use crate::Status;
use crate::cli::{ColorChoice, Format, LintArgs, Threshold};
use anyhow::Context;
use polc_lint::output::{self, Color};
use polc_lint::{Config, Level, Linter, Report};
use polc_load::{Input, Limits, SourceFile, load_input, read_raw_except};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

fn level(t: Threshold) -> Level {
    match t {
        Threshold::Error => Level::Error,
        Threshold::Warning => Level::Warning,
        Threshold::Note => Level::Note,
    }
}

/// The nearest `.polc.yaml` in `dir` or its parents.
fn find_config(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join(".polc.yaml")).find(|p| p.is_file())
}

fn load_config(config: Option<&Path>, no_config: bool, limits: &Limits) -> anyhow::Result<Config> {
    if no_config {
        return Ok(Config::default());
    }
    let path = match config {
        Some(p) => Some(p.to_path_buf()),
        None => find_config(&std::env::current_dir().context("cannot read the current directory")?),
    };
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read config {}", path.display()))?;
    let src = load_input(path.display().to_string(), &bytes, limits);
    Config::from_source(&src).map_err(|e| anyhow::anyhow!("invalid config {e}"))
}

/// Load the configuration and the inputs, and lint them, building the compiler's
/// model of the policies and workloads (for `compile` and `explain`).
pub(crate) fn lint_paths(
    paths: &[String],
    config: Option<&Path>,
    no_config: bool,
) -> anyhow::Result<(Report, Vec<SourceFile>, Option<Level>)> {
    lint_paths_with(paths, config, no_config, true)
}

/// [`lint_paths`], with the compiler's model built only when `model` is set.
fn lint_paths_with(
    paths: &[String],
    config: Option<&Path>,
    no_config: bool,
    model: bool,
) -> anyhow::Result<(Report, Vec<SourceFile>, Option<Level>)> {
    let limits = Limits::default();
    let config = load_config(config, no_config, &limits)?;
    let fail_on = config.fail_on;
    let inputs: Vec<Input> = paths.iter().map(|p| Input::parse(p)).collect();
    // What the configuration's `exclude` leaves out is not even read.
    let left_out = std::cell::Cell::new(0usize);
    let raw = read_raw_except(&inputs, &limits, &|p| {
        let out = config.excludes(p);
        left_out.set(left_out.get() + usize::from(out));
        out
    });
    if raw.is_empty() && left_out.get() > 0 {
        eprintln!(
            "polc: warning: nothing to read: the `exclude` of the configuration left out {} path{} (name a file to read it anyway)",
            left_out.get(),
            if left_out.get() == 1 { "" } else { "s" }
        );
    }
    let linter = Linter::new(config).context("internal error: CRD schema")?.with_model(model).with_limits(limits);
    if std::io::stderr().is_terminal() && raw.len() > 200 {
        eprintln!("polc: linting {} files", raw.len());
    }
    // Each file is parsed on the thread that checks it.
    let (files, report) = linter.lint_with(raw.len(), |i| raw[i].load(&limits));
    Ok((report, files, fail_on))
}

pub(crate) fn run(args: &LintArgs) -> anyhow::Result<Status> {
    let (mut report, files, config_fail_on) =
        lint_paths_with(&args.paths, args.config.as_deref(), args.no_config, false)?;
    let threshold = args.fail_on.map(level).or(config_fail_on).unwrap_or(Level::Error);
    let fails = report.fails(threshold);
    if let Some(min) = args.min_level {
        report.findings.retain(|f| f.level >= level(min));
    }
    let color = match args.color {
        ColorChoice::Always => Color::Always,
        ColorChoice::Never => Color::Never,
        ColorChoice::Auto if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() => Color::Always,
        ColorChoice::Auto => Color::Never,
    };
    let text = match args.format {
        Format::Human => output::human(&report, &files, color),
        Format::Json => output::json(&report),
        Format::Sarif => output::sarif(&report, &files),
        Format::Github => output::github(&report),
    };
    crate::out::print(&text)?;
    Ok(if report.io_errors > 0 {
        Status::InputError
    } else if fails {
        Status::Findings
    } else {
        Status::Ok
    })
}
