//! Every `runbook` command that README.md and docs/ show against the demo environment runs
//! here, as written, against the real demo service: a documented command that stopped working
//! fails this test instead of a reader at 3 a.m.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::Sandbox;

/// The documented command lines that target the demo: `runbook …` lines of shell blocks with
/// `--env demo`, comments cut off.
fn documented() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> =
        std::fs::read_dir(root.join("docs")).unwrap().flatten().map(|e| e.path()).collect();
    docs.sort();
    files.extend(docs.into_iter().filter(|p| p.extension().is_some_and(|e| e == "md")));
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_shell = false;
        for line in text.lines() {
            if let Some(lang) = line.trim_start().strip_prefix("```") {
                in_shell = !in_shell && matches!(lang.trim(), "sh" | "bash" | "shell" | "console");
                continue;
            }
            let command = line.split(" # ").next().unwrap_or("").trim();
            if in_shell && command.starts_with("runbook ") && command.contains("--env demo") {
                let name = file.file_name().unwrap().to_string_lossy().into_owned();
                found.push((name, command.to_owned()));
            }
        }
    }
    found
}

#[test]
fn every_documented_demo_command_works_against_the_demo() {
    let commands = documented();
    assert!(commands.len() >= 3, "the docs show demo commands: {commands:?}");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let demo = rt.block_on(runbook::demo::Demo::start()).unwrap();
    let sb = Sandbox::new();
    for (file, line) in commands {
        let mut words = shlex::split(&line).unwrap_or_else(|| panic!("{file}: cannot split {line}"));
        words.remove(0);
        let watch = words.iter().any(|w| w == "--watch");
        // The demo service listens on ports of its own: point the environment at them.
        for (k, v) in demo.vars() {
            words.push("--var".into());
            words.push(format!("{k}={v}"));
        }
        let mut cmd = sb.cmd(&words);
        if watch {
            // A live table: it must show the monitors, then it is stopped like a user's Ctrl-C.
            use std::io::Read;
            let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
            let mut out = child.stdout.take().unwrap();
            let seen = std::thread::spawn(move || {
                let mut text = String::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if text.contains("API health") {
                        return text;
                    }
                }
                text
            });
            support::wait_for(&format!("{file}: {line}"), Duration::from_secs(20), || {
                seen.is_finished().then_some(())
            });
            let text = seen.join().unwrap();
            assert!(
                text.contains("API health"),
                "{file}: `{line}` showed no monitor (by its title):\n{text}"
            );
            // SAFETY: SIGINT to our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let _ = child.wait();
            continue;
        }
        let o = cmd.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{file}: `{line}` failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
