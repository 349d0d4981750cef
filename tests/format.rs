//! The runbook format: every invalid file gives its exact positioned message, every valid
//! file loads clean, the schema agrees with the loader, and the bundled runbooks are strict-clean.
//!
//! Expected messages live beside each invalid file in `NAME.expected`. After changing a
//! message on purpose, regenerate them with `RUNBOOK_BLESS=1 cargo test --test format`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use runbook::runbook::load::{self, FullLibrary, Root, SourceFile};
use runbook::runbook::{Diagnostic, Environments};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("environments.yaml"))
        .collect();
    files.sort();
    files
}

fn environments(dir: &Path) -> Environments {
    let file = source(&dir.join("environments.yaml"), "environments.yaml");
    let (envs, diags) = load::load_environments(&file);
    assert!(diags.is_empty(), "{diags:?}");
    envs.unwrap()
}

fn source(path: &Path, rel: &str) -> SourceFile {
    SourceFile { rel: rel.into(), display: rel.into(), bytes: Cow::Owned(std::fs::read(path).unwrap()) }
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("{}:{}: {}: {}\n", d.pos.line, d.pos.column, d.severity, d.message))
        .collect()
}

#[test]
fn every_invalid_runbook_gives_its_exact_message_and_position() {
    let dir = dir("runbooks_invalid");
    let envs = environments(&dir);
    let files = yaml_files(&dir);
    assert!(files.len() >= 40, "the invalid corpus has {} files", files.len());
    let bless = std::env::var_os("RUNBOOK_BLESS").is_some();
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let loaded = load::load_runbook(&source(path, &name), Some(&envs));
        let actual = render(&loaded.diagnostics);
        assert!(!actual.is_empty(), "{name} loaded without any diagnostic");
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} is missing; run with RUNBOOK_BLESS=1", expected_path.display()));
        if actual != expected {
            failures.push(format!("{name}\n  expected: {expected}  actual:   {actual}"));
        }
    }
    assert!(failures.is_empty(), "messages changed:\n{}", failures.join("\n"));
}

fn check_bytes(bytes: Vec<u8>) -> String {
    let file = SourceFile { rel: "x.yaml".into(), display: "x.yaml".into(), bytes: Cow::Owned(bytes) };
    render(&load::load_runbook(&file, None).diagnostics)
}

#[test]
fn non_utf8_bytes_are_reported_with_their_position() {
    let out = check_bytes(b"title: ok\nsteps:\n  - title: caf\xe9\n".to_vec());
    assert_eq!(out, "3:15: error: file is not valid UTF-8 (byte 0xe9): save it as UTF-8\n");
}

#[test]
fn files_over_the_size_limit_are_refused_before_parsing() {
    let mut text = String::from("title: huge\nsteps:\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("  - title: a step that pads the file out to more than a mebibyte\n");
    }
    let out = check_bytes(text.clone().into_bytes());
    assert_eq!(
        out,
        format!(
            "1:1: error: file is {} bytes, larger than the 1048576 byte limit for a runbook file: split it into smaller runbooks\n",
            text.len()
        )
    );
}

#[test]
fn one_broken_runbook_hides_none_of_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("good.yaml"), "title: Good\nsteps:\n  - title: Tick\n").unwrap();
    std::fs::write(tmp.path().join("bad.yaml"), "title: Bad\nsteps:\n  - title: A\n    tiemout: 5s\n")
        .unwrap();
    std::fs::write(tmp.path().join("worse.yaml"), b"\xff\xfe").unwrap();
    let library = FullLibrary::load(vec![Root::Dir(tmp.path().to_path_buf())]);
    let ids: Vec<(&str, bool)> =
        library.runbooks.iter().map(|l| (l.id.as_str(), l.runbook.is_some())).collect();
    assert_eq!(ids, [("bad", false), ("good", true), ("worse", false)]);
}

#[test]
fn every_valid_runbook_loads_without_a_diagnostic() {
    let dir = dir("runbooks_valid");
    let envs = environments(&dir);
    let files = yaml_files(&dir);
    assert!(!files.is_empty());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let loaded = load::load_runbook(&source(&path, &name), Some(&envs));
        assert_eq!(render(&loaded.diagnostics), "", "{name}");
        assert!(loaded.runbook.is_some(), "{name}");
    }
}

#[test]
fn the_bundled_runbooks_pass_strict_checks() {
    let library = FullLibrary::load(vec![Root::Bundled]);
    assert!(library.runbooks.len() >= 20, "only {} bundled runbooks", library.runbooks.len());
    let env_file = library.environments_file.as_ref().expect("bundled environments.yaml");
    assert_eq!(render(&env_file.diagnostics), "");
    for l in &library.runbooks {
        assert_eq!(render(&l.diagnostics), "", "{}", l.display);
    }
}

fn yaml_to_json(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn validator(kind: runbook::cli::SchemaKind) -> jsonschema::Validator {
    jsonschema::validator_for(&runbook::cmd::schema::schema(kind)).unwrap()
}

#[test]
fn the_schema_accepts_every_valid_and_bundled_file() {
    let runbooks = validator(runbook::cli::SchemaKind::Runbook);
    let envs = validator(runbook::cli::SchemaKind::Environments);
    let mut files = yaml_files(&dir("runbooks_valid"));
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    for entry in walk(&bundled) {
        if !entry.ends_with("environments.yaml") {
            files.push(entry);
        }
    }
    for path in files {
        let errors: Vec<String> = runbooks.iter_errors(&yaml_to_json(&path)).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    for path in [dir("runbooks_valid").join("environments.yaml"), bundled.join("environments.yaml")] {
        assert!(envs.is_valid(&yaml_to_json(&path)), "{}", path.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_schema_rejects_the_invalid_files_a_schema_can_catch() {
    // Structural problems: unknown keys, wrong types, missing keys, unknown enum values.
    // The rest (jumps, placeholders, durations, regexes) need the validator.
    let schema_catches = [
        "unknown-key-step",
        "unknown-key-top",
        "unknown-key-input",
        "unknown-key-probe",
        "unknown-key-expect",
        "unknown-key-wait",
        "wrong-type-retries",
        "wrong-type-confirm",
        "wrong-type-steps",
        "wrong-type-tags",
        "missing-title",
        "missing-steps",
        "missing-step-title",
        "missing-choice-goto",
        "unknown-kind",
        "top-level-list",
        "top-level-scalar",
    ];
    let runbooks = validator(runbook::cli::SchemaKind::Runbook);
    for name in schema_catches {
        let path = dir("runbooks_invalid").join(format!("{name}.yaml"));
        assert!(!runbooks.is_valid(&yaml_to_json(&path)), "the schema accepted {name}");
    }
}
