//! `runbook demo`: the demo service, with the tour on it.

use std::io::Write;
use std::path::PathBuf;

use crate::demo::Demo;

pub fn run(_dirs: &[PathBuf], serve: bool) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let demo = Demo::start().await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "demo service on 127.0.0.1")?;
        for (k, v) in demo.vars() {
            writeln!(out, "  {k:10} {v}")?;
        }
        let vars: Vec<String> = demo.vars().iter().map(|(k, v)| format!("--var {k}={v}")).collect();
        writeln!(out, "\nTry it from another terminal:")?;
        writeln!(out, "  runbook health --env demo {}", vars.join(" "))?;
        writeln!(
            out,
            "  runbook run onboarding/tour --env demo {} --yes --choice 'decide=Recover the service'",
            vars.join(" ")
        )?;
        if !serve {
            writeln!(
                out,
                "\n(the terminal UI that opens the tour here is not built yet; Ctrl-C stops the service)"
            )?;
        }
        out.flush()?;
        drop(out);
        tokio::signal::ctrl_c().await?;
        Ok(0)
    })
}
