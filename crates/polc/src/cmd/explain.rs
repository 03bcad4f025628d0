//! `polc explain`.

use crate::Status;
use crate::cli::ExplainArgs;
use polc_lint::{Code, did_you_mean};

pub(crate) fn run(args: &ExplainArgs) -> anyhow::Result<Status> {
    if args.all {
        if args.markdown {
            crate::out::print(&polc_lint::codes::markdown())?;
        } else {
            let mut s = String::new();
            for c in Code::ALL {
                let i = c.info();
                s.push_str(&format!("{}  {:<22} {:<8} {}\n", i.code, i.name, i.level.as_str(), i.summary));
            }
            crate::out::print(&s)?;
        }
        return Ok(Status::Ok);
    }
    let word = args.code.as_deref().unwrap_or_default();
    let Some(code) = Code::parse(word) else {
        let names = Code::ALL.iter().flat_map(|c| [c.info().code, c.info().name]);
        let hint = did_you_mean(word, names).map(|b| format!("; did you mean `{b}`?")).unwrap_or_default();
        anyhow::bail!("unknown finding code `{word}`{hint} (`polc explain --all` lists them)");
    };
    let i = code.info();
    crate::out::print(&format!(
        "{} {} ({})\n\n{}.\n\n{}\n",
        i.code,
        i.name,
        i.level.as_str(),
        i.summary,
        i.explanation
    ))?;
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_lint_codes_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/lint-codes.md");
        let want = polc_lint::codes::markdown();
        if std::env::var_os("POLC_BLESS").is_some() {
            std::fs::write(path, &want).unwrap_or_else(|e| panic!("{path}: {e}"));
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/lint-codes.md is stale: run `POLC_BLESS=1 cargo test -p polc docs_`");
    }
}
