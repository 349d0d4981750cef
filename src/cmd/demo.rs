//! `runbook demo`: the demo service, with the guided tour open on it in the terminal UI.

use std::io::Write;
use std::path::PathBuf;

use crate::demo::Demo;

/// The runbook the demo opens.
pub const TOUR: &str = "onboarding/tour";

pub fn run(dirs: &[PathBuf], serve: bool, theme: Option<String>) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let demo = Demo::start().await?;
        if !serve {
            let opts = crate::app::driver::Options {
                dirs: dirs.to_vec(),
                open: Some(TOUR.to_owned()),
                env: Some("demo".to_owned()),
                vars: demo.vars(),
                theme,
                inputs: Default::default(),
                resume: None,
                attach: None,
                alert: None,
            };
            return crate::app::driver::run_async(opts, Some(demo)).await;
        }
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
            "  runbook run {TOUR} --env demo {} --yes --choice 'decide=Recover the service'",
            vars.join(" ")
        )?;
        out.flush()?;
        drop(out);
        tokio::signal::ctrl_c().await?;
        Ok(0)
    })
}
