//! `runbook import` as a team uses it: a tree of Markdown alert pages in, runbooks out, which
//! then pass `runbook check` and dry-run. The real binary on the fixtures in
//! tests/fixtures/markdown (pages in the style of public alert runbook sets).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn runbook(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUNBOOK_PATH")
        .env("RUNBOOK_CONFIG_DIR", cwd.join(".config"))
        .env("RUNBOOK_CACHE_DIR", cwd.join(".cache"))
        .env("RUNBOOK_DATA_DIR", cwd.join(".data"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/markdown")
}

const IDS: [&str; 4] = [
    "kubernetes/KubePodCrashLooping",
    "kubernetes/KubePersistentVolumeFillingUp",
    "databases/PostgresReplicationLag",
    "general/Node-Not-Ready",
];

#[test]
fn a_tree_of_alert_pages_converts_checks_clean_and_dry_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures();
    let o = runbook(&["import", src.to_str().unwrap(), "--out", "out"], tmp.path());
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("imported 4 of 4 files into out"), "{said}");
    assert!(said.contains("1 index page skipped"), "{said}");
    assert!(said.contains("check: front matter keys not carried over: severity"), "{said}");
    for id in IDS {
        assert!(tmp.path().join(format!("out/{id}.yaml")).is_file(), "{id} written");
    }
    assert!(!tmp.path().join("out/README.yaml").exists(), "the index page is not a runbook");

    let check = runbook(&["check", "--strict", "out"], tmp.path());
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("checked 4 files: 0 errors, 0 warnings"), "{}", text(&check));

    for id in IDS {
        let dry = runbook(&["run", "--dir", "out", id, "--dry-run"], tmp.path());
        assert_eq!(dry.status.code(), Some(0), "{id}: {}", text(&dry));
    }
    let dry = text(&runbook(&["run", "--dir", "out", IDS[0], "--dry-run", "-i", "pod=api-0"], tmp.path()));
    // Placeholders are inputs, Go templates stay literal, sample output is not a command.
    assert!(dry.contains("$ kubectl logs -n demo api-0 \\"), "{dry}");
    assert!(dry.contains("go-template='{{range .items}}{{.lastTimestamp}}"), "{dry}");
    // (The dry run prints bodies too, where the sample output belongs.)
    let commands: Vec<&str> = dry.lines().filter(|l| l.trim_start().starts_with("$ ")).collect();
    assert!(!commands.iter().any(|l| l.contains("CrashLoopBackOff   12")), "sample output never runs: {dry}");
    assert!(dry.contains("│ CrashLoopBackOff   12") || dry.contains("CrashLoopBackOff   12"), "{dry}");
    assert!(dry.contains("kubectl delete pod -n demo api-0\n       (asks for confirmation)"), "{dry}");

    let yaml = std::fs::read_to_string(tmp.path().join("out/kubernetes/KubePodCrashLooping.yaml")).unwrap();
    for part in [
        "tags: [\"kubernetes\", \"pods\"]",
        "owner: \"platform-team\"",
        "kind: \"incident\"",
        "  other_pod:\n    description: \"Other pod (written <other-pod> in the source page)\"",
        "[Kubernetes docs](https://kubernetes.io/docs/tasks/debug/debug-application/debug-pods/)",
        "[rule]: https://github.com/example/alerts/blob/main/rules/kubernetes.yaml",
        "| OOMKilled | memory limit too low |",
        "interactive: true",
    ] {
        assert!(yaml.contains(part), "{part:?} in\n{yaml}");
    }
}

#[test]
fn existing_runbooks_are_not_overwritten_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let page = fixtures().join("general/Node Not Ready.md");
    let page = page.to_str().unwrap();
    assert_eq!(runbook(&["import", page, "--out", "out"], tmp.path()).status.code(), Some(0));
    let target = tmp.path().join("out/Node-Not-Ready.yaml");
    std::fs::write(&target, "title: edited by hand\nsteps: [{ title: mine }]\n").unwrap();

    let o = runbook(&["import", page, "--out", "out"], tmp.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("Node-Not-Ready.yaml exists"), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert!(std::fs::read_to_string(&target).unwrap().contains("edited by hand"));

    let o = runbook(&["import", page, "--out", "out", "--force", "--kind", "maintenance"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let yaml = std::fs::read_to_string(&target).unwrap();
    assert!(yaml.contains("title: \"Node not ready\"") && yaml.contains("kind: \"maintenance\""), "{yaml}");
}

#[test]
fn a_bad_page_is_reported_and_the_others_still_convert() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("pages");
    std::fs::create_dir_all(src.join("team")).unwrap();
    std::fs::write(
        src.join("team/good.md"),
        "# Good\n\n## Fix\n\n```console\n$ systemctl restart api\n```\n",
    )
    .unwrap();
    std::fs::write(src.join("team/latin1.md"), b"# Caf\xe9\n").unwrap();
    std::fs::write(src.join("team/front.md"), "---\n[broken: front matter\n---\n# X\n").unwrap();
    let o = runbook(&["import", "pages", "--out", "out"], tmp.path());
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("imported 1 of 3 files into out"), "{said}");
    assert!(said.contains("latin1.md: not valid UTF-8 (byte 5): save it as UTF-8"), "{said}");
    assert!(said.contains("front.md: front matter is not a YAML mapping"), "{said}");
    assert!(tmp.path().join("out/team/good.yaml").is_file());
    assert!(!tmp.path().join("out/team/latin1.yaml").exists());
    let check = runbook(&["check", "out"], tmp.path());
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = runbook(&["import", "missing", "--out", "out"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot read 'missing'"), "{}", text(&o));
    let o = runbook(&["import", "x.md"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "--out is required: {}", text(&o));
    let o = runbook(&["import", "x.md", "--out", "o", "--kind", "nope"], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
