//! `runbook import` as a team uses it: a tree of Markdown alert pages in, runbooks out, which
//! then pass `runbook check` and dry-run. The real binary on the fixtures in
//! tests/fixtures/markdown (pages in the style of public alert runbook sets).

mod support;

use std::path::{Path, PathBuf};

use support::{Sandbox, text};

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
    let sb = Sandbox::new().hidden_state();
    let src = fixtures();
    let o = sb.run(&["import", src.to_str().unwrap(), "--out", "out"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("imported 4 of 4 files into out"), "{said}");
    assert!(said.contains("1 index page skipped"), "{said}");
    assert!(said.contains("check: front matter keys not carried over: severity"), "{said}");
    for id in IDS {
        assert!(sb.path().join(format!("out/{id}.yaml")).is_file(), "{id} written");
    }
    assert!(!sb.path().join("out/README.yaml").exists(), "the index page is not a runbook");

    let check = sb.run(&["check", "--strict", "out"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("checked 4 files: 0 errors, 0 warnings"), "{}", text(&check));

    for id in IDS {
        let dry = sb.run(&["run", "--dir", "out", id, "--dry-run"]);
        assert_eq!(dry.status.code(), Some(0), "{id}: {}", text(&dry));
    }
    let dry = text(&sb.run(&["run", "--dir", "out", IDS[0], "--dry-run", "-i", "pod=api-0"]));
    // Placeholders are inputs, Go templates stay literal, sample output is not a command.
    assert!(dry.contains("$ kubectl logs -n demo api-0 \\"), "{dry}");
    assert!(dry.contains("go-template='{{range .items}}{{.lastTimestamp}}"), "{dry}");
    // (The dry run prints bodies too, where the sample output belongs.)
    let commands: Vec<&str> = dry.lines().filter(|l| l.trim_start().starts_with("$ ")).collect();
    assert!(!commands.iter().any(|l| l.contains("CrashLoopBackOff   12")), "sample output never runs: {dry}");
    assert!(dry.contains("│ CrashLoopBackOff   12") || dry.contains("CrashLoopBackOff   12"), "{dry}");
    assert!(dry.contains("kubectl delete pod -n demo api-0\n       (asks for confirmation)"), "{dry}");

    let yaml = std::fs::read_to_string(sb.path().join("out/kubernetes/KubePodCrashLooping.yaml")).unwrap();
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
    let sb = Sandbox::new().hidden_state();
    let page = fixtures().join("general/Node Not Ready.md");
    let page = page.to_str().unwrap();
    assert_eq!(sb.run(&["import", page, "--out", "out"]).status.code(), Some(0));
    let target = sb.path().join("out/Node-Not-Ready.yaml");
    std::fs::write(&target, "title: edited by hand\nsteps: [{ title: mine }]\n").unwrap();

    let o = sb.run(&["import", page, "--out", "out"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("Node-Not-Ready.yaml exists"), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert!(std::fs::read_to_string(&target).unwrap().contains("edited by hand"));

    let o = sb.run(&["import", page, "--out", "out", "--force", "--kind", "maintenance"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let yaml = std::fs::read_to_string(&target).unwrap();
    assert!(yaml.contains("title: \"Node not ready\"") && yaml.contains("kind: \"maintenance\""), "{yaml}");
}

#[test]
fn a_bad_page_is_reported_and_the_others_still_convert() {
    let sb = Sandbox::new().hidden_state();
    let src = sb.path().join("pages");
    std::fs::create_dir_all(src.join("team")).unwrap();
    std::fs::write(
        src.join("team/good.md"),
        "# Good\n\n## Fix\n\n```console\n$ systemctl restart api\n```\n",
    )
    .unwrap();
    std::fs::write(src.join("team/latin1.md"), b"# Caf\xe9\n").unwrap();
    std::fs::write(src.join("team/front.md"), "---\n[broken: front matter\n---\n# X\n").unwrap();
    let o = sb.run(&["import", "pages", "--out", "out"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("imported 1 of 3 files into out"), "{said}");
    assert!(said.contains("latin1.md: not valid UTF-8 (byte 5): save it as UTF-8"), "{said}");
    assert!(said.contains("front.md: front matter is not a YAML mapping"), "{said}");
    assert!(sb.path().join("out/team/good.yaml").is_file());
    assert!(!sb.path().join("out/team/latin1.yaml").exists());
    let check = sb.run(&["check", "out"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::new().hidden_state();
    let o = sb.run(&["import", "missing", "--out", "out"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot read 'missing'"), "{}", text(&o));
    let o = sb.run(&["import", "x.md"]);
    assert_eq!(o.status.code(), Some(2), "--out is required: {}", text(&o));
    let o = sb.run(&["import", "x.md", "--out", "o", "--kind", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
