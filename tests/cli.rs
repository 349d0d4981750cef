//! The `runbook` binary as users run it: check, list, schema, completions, help, exit codes.

mod support;

use std::path::Path;

use support::{Sandbox, stdout, text};

/// A sandbox whose commands run in this repository (its runbooks and test files).
fn in_repo() -> Sandbox {
    Sandbox::new().current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn check_prints_compiler_style_lines_and_fails_on_errors() {
    let o = in_repo().run(&["check", "tests/runbooks_invalid/unknown-key-step.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "tests/runbooks_invalid/unknown-key-step.yaml:5:5: error: unknown key 'tiemout' in step 'restart' (did you mean 'timeout'?)\n"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("checked 1 file: 1 error, 0 warnings"));
}

#[test]
fn warnings_fail_only_with_strict() {
    let file = "tests/runbooks_invalid/unreachable-step.yaml";
    assert_eq!(in_repo().run(&["check", file]).status.code(), Some(0));
    let strict = in_repo().run(&["check", "--strict", file]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(stdout(&strict).contains(":6:5: warning: step 'orphan' is never reached"));
}

#[test]
fn check_of_a_directory_reports_every_broken_file() {
    let o = in_repo().run(&["check", "--format", "json", "tests/runbooks_invalid"]);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files: std::collections::HashSet<&str> =
        report["diagnostics"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert!(files.len() >= 40, "{} files with diagnostics", files.len());
    let first = &report["diagnostics"][0];
    for key in ["path", "line", "column", "severity", "message"] {
        assert!(!first[key].is_null(), "missing {key} in {first}");
    }
}

#[test]
fn the_bundled_runbooks_pass_check_strict() {
    let o = in_repo().run(&["check", "--strict", "runbooks"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn list_shows_broken_runbooks_with_their_error_and_filters_fuzzily() {
    let sb = Sandbox::new().hidden_state();
    let dir = sb.path().join("books");
    std::fs::create_dir_all(dir.join("incidents")).unwrap();
    std::fs::write(
        dir.join("incidents/api-5xx.yaml"),
        "title: API 5xx spike\nkind: incident\ntags: [api]\nsteps:\n  - title: Look\n",
    )
    .unwrap();
    std::fs::write(dir.join("deploy.yaml"), "title: Deploy\nsteps:\n  - title: Go\n    tiemout: 5s\n")
        .unwrap();
    let list = |extra: &[&str]| {
        let mut args = vec!["list", "--dir", "books", "--format", "json"];
        args.extend_from_slice(extra);
        let o = sb.run(&args);
        assert!(o.status.success());
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    // `list` reads the top of each file only: a runbook broken in its steps is found broken
    // when it is opened (or checked, below), and from then on the list marks it.
    let all = list(&[]);
    let deploy = all.as_array().unwrap().iter().find(|e| e["id"] == "deploy").unwrap();
    assert_eq!(deploy["title"], "Deploy");
    let o = sb.run(&["run", "deploy", "--dry-run", "--dir", "books"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("deploy.yaml:4:5: error: unknown key 'tiemout' in step 'go'"), "{err}");
    for _ in 0..2 {
        // The second run is served from the index cache and must say the same.
        let all = list(&[]);
        let api = all.as_array().unwrap().iter().find(|e| e["id"] == "incidents/api-5xx").unwrap();
        assert_eq!(api["kind"], "incident");
        let broken = all.as_array().unwrap().iter().find(|e| e["id"] == "deploy").unwrap();
        assert!(
            broken["error"]
                .as_str()
                .unwrap()
                .ends_with("deploy.yaml:4:5: unknown key 'tiemout' in step 'go' (did you mean 'timeout'?)")
        );
        // Bundled runbooks are listed too, after the --dir ones.
        assert!(
            all.as_array().unwrap().iter().any(|e| e["path"].as_str().unwrap().starts_with("<bundled>/"))
        );
    }
    let filtered = list(&["--filter", "api spike"]);
    assert_eq!(filtered[0]["id"], "incidents/api-5xx");
    // A changed file is never served stale from the cache.
    std::fs::write(dir.join("deploy.yaml"), "title: Deploy now\nsteps:\n  - title: Go\n").unwrap();
    let all = list(&[]);
    let fixed = all.as_array().unwrap().iter().find(|e| e["id"] == "deploy").unwrap();
    assert_eq!(fixed["title"], "Deploy now");
    assert!(fixed["error"].is_null());
}

#[test]
fn after_check_the_list_marks_a_runbook_broken_below_its_top_level_keys() {
    let sb = Sandbox::new().hidden_state().runbooks_in("books");
    sb.book("deep", "title: Deep\nsteps:\n  - { id: a, title: A, run: echo, timeout: 5 parsecs }\n");
    sb.book("fine", "title: Fine\nsteps:\n  - { id: a, title: A }\n");
    let entry = |id: &str| {
        let o = sb.run(&["list", "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o));
        let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        all.as_array().unwrap().iter().find(|e| e["id"] == id).unwrap().clone()
    };
    // The list reads the top of each file only.
    assert!(entry("deep")["error"].is_null());
    let o = sb.run(&["check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // What check found is kept for the list, in the terminal UI's picker too.
    let deep = entry("deep");
    let error = deep["error"].as_str().unwrap_or_default();
    assert!(error.ends_with("deep.yaml:3:44: invalid duration '5 parsecs' in step 'a': expected a number with a unit, such as 500ms, 10s, 5m, 1h or 1h30m"), "{deep}");
    assert!(entry("fine")["error"].is_null());
    // Mended, it is listed clean at once: the mark belongs to the old bytes.
    sb.book("deep", "title: Deep\nsteps:\n  - { id: a, title: A, run: echo, timeout: 5s }\n");
    assert!(entry("deep")["error"].is_null(), "{}", entry("deep"));
}

#[test]
fn runbook_path_and_dir_flags_are_searched_in_order() {
    let sb = Sandbox::new().hidden_state();
    for (d, title) in [("a", "From A"), ("b", "From B")] {
        std::fs::create_dir_all(sb.path().join(d)).unwrap();
        std::fs::write(
            sb.path().join(d).join("same.yaml"),
            format!("title: {title}\nsteps:\n  - title: x\n"),
        )
        .unwrap();
    }
    let o = sb.cmd(&["list", "--format", "json", "--dir", "b"]).env("RUNBOOK_PATH", "a").output().unwrap();
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let same = all.as_array().unwrap().iter().find(|e| e["id"] == "same").unwrap();
    assert_eq!(same["title"], "From B", "--dir comes before RUNBOOK_PATH");
}

#[test]
fn schema_is_json_schema_for_both_files() {
    for kind in ["runbook", "environments"] {
        let o = in_repo().run(&["schema", kind]);
        assert!(o.status.success());
        let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(schema["$schema"].as_str().unwrap().contains("json-schema.org"));
        assert!(schema["properties"].is_object());
    }
}

#[test]
fn completions_and_help_exist_for_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let o = in_repo().run(&["completions", shell]);
        assert!(o.status.success() && stdout(&o).contains("runbook"), "{shell}");
    }
    for cmd in ["check", "list", "schema", "completions"] {
        let o = in_repo().run(&[cmd, "--help"]);
        assert!(o.status.success() && stdout(&o).contains("Usage: runbook"), "{cmd}");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(in_repo().run(&["check", "--format", "xml"]).status.code(), Some(2));
    assert_eq!(in_repo().run(&["check", "does/not/exist.yaml"]).status.code(), Some(2));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read;
    // Enough output to overflow the pipe, so the writer sees the reader go away.
    let sb = Sandbox::new().hidden_state();
    std::fs::create_dir(sb.path().join("many")).unwrap();
    for i in 0..1500 {
        let text = format!(
            "title: Runbook number {i} with a long enough title to fill the pipe\nsteps:\n  - title: x\n"
        );
        std::fs::write(sb.path().join(format!("many/r{i}.yaml")), text).unwrap();
    }
    let mut child = sb
        .cmd(&["list", "--dir", "many"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then drop: the pipe closes
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn fifos_and_looping_links_are_reported_never_read_or_skipped() {
    let sb = Sandbox::new().hidden_state();
    let books = sb.path().join("books");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(books.join("good.yaml"), "title: Good\nsteps:\n  - title: Tick\n").unwrap();
    mkfifo(&books.join("pipe.yaml"));
    std::os::unix::fs::symlink("loop.yaml", books.join("loop.yaml")).unwrap();
    // check of a FIFO answers at once instead of waiting for a writer.
    let o = sb.run(&["check", "books/pipe.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("a FIFO (named pipe): runbook reads only regular files"), "{}", stdout(&o));
    let o = sb.run(&["list", "--dir", "books"]);
    let text = stdout(&o);
    for (id, why) in [("pipe", "FIFO"), ("loop", "symbolic links")] {
        let line =
            text.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id} missing:\n{text}"));
        assert!(line.contains("broken") && line.contains(why), "{line}");
    }
    assert!(text.lines().any(|l| l.starts_with("good")), "{text}");
}

#[test]
fn an_environments_file_that_cannot_be_used_is_an_error_never_a_fallback() {
    let sb = Sandbox::new().hidden_state();
    let books = sb.path().join("books");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(books.join("app.yaml"), "title: App\nsteps:\n  - { id: a, title: A, run: 'echo ran' }\n")
        .unwrap();
    mkfifo(&books.join("environments.yaml"));
    let o = sb.run(&["run", "app", "--dir", "books"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("environments.yaml") && err.contains("FIFO"), "{err}");
    assert!(!stdout(&o).contains("ran"), "nothing ran in a fallback environment");
    std::fs::remove_file(books.join("environments.yaml")).unwrap();
    std::fs::write(books.join("environments.yaml"), "environments:\n  prod: { protectd: true }\n").unwrap();
    for args in [vec!["run", "app", "--dir", "books"], vec!["health", "--dir", "books"]] {
        let o = sb.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("environments.yaml:2:") && err.contains("protectd"), "{args:?}: {err}");
        assert!(!err.contains("no environments.yaml was found"), "{err}");
    }
    // `list` shows the runbooks of that directory as unusable, naming the file's error.
    let o = sb.run(&["list", "--dir", "books"]);
    assert!(o.status.success());
    let line = stdout(&o).lines().find(|l| l.starts_with("app ")).unwrap().to_owned();
    assert!(
        line.contains("broken") && line.contains("environments.yaml:2:") && line.contains("protectd"),
        "{line}"
    );
    let o = sb.run(&["list", "--dir", "books", "--format", "json"]);
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let app = all.as_array().unwrap().iter().find(|e| e["id"] == "app").unwrap();
    assert!(
        app["error"].as_str().unwrap().contains("environments.yaml:2:11: unknown key 'protectd'"),
        "{app}"
    );
    // `check DIR` reports the file's errors and still checks the runbooks beside it.
    std::fs::write(books.join("typo.yaml"), "title: Typo\nsteps:\n  - title: A\n    tiemout: 5s\n").unwrap();
    let o = sb.run(&["check", "books"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("environments.yaml:2:11: error: unknown key 'protectd'"), "{out}");
    assert!(out.contains("typo.yaml:4:5: error: unknown key 'tiemout'"), "{out}");
}

#[test]
fn one_check_reports_every_mistake_of_a_file() {
    let sb = Sandbox::new().hidden_state();
    std::fs::write(
        sb.path().join("book.yaml"),
        "title: Deploy\nownr: sre\nsteps:\n  - title: Build\n    run: make\n    retrys: 2\n    next: verfy\n  - title: Verify\n    check:\n      http: http://127.0.0.1/health\n    expect: { status: 200 }\n",
    )
    .unwrap();
    let o = sb.run(&["check", "book.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "book.yaml:2:1: error: unknown key 'ownr' (did you mean 'owner'?)\n\
         book.yaml:6:5: error: unknown key 'retrys' in step 'build' (did you mean 'retries'?)\n\
         book.yaml:7:11: error: `next` in step 'build' names step 'verfy', which does not exist (did you mean 'verify'?): use the id of a step in this runbook\n\
         book.yaml:11:15: error: misplaced key 'status' in 'expect' of step 'verify': `status` is an HTTP expectation: put it under `check: expect:`\n"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("checked 1 file: 4 errors, 0 warnings"));
    // A tab and an indentation mistake are reported where they are, in words for people.
    std::fs::write(sb.path().join("tab.yaml"), "title: T\nsteps:\n  - title: A\n\trun: make\n").unwrap();
    std::fs::write(sb.path().join("indent.yaml"), "title: I\nsteps:\n  - title: A\n     run: make\n")
        .unwrap();
    let o = sb.run(&["check", "tab.yaml", "indent.yaml"]);
    let out = stdout(&o);
    assert!(out.contains("tab.yaml:4:1: error: a tab in the indentation"), "{out}");
    assert!(
        out.contains(
            "indent.yaml:4:6: error: `run:` is indented to column 6, deeper than `title:` on line 3"
        ),
        "{out}"
    );
    assert!(!out.contains("did not find") && !out.contains("while scanning"), "{out}");
}

#[test]
fn run_dry_run_opens_one_runbook_and_never_validates_a_broken_sibling() {
    let sb = Sandbox::new().hidden_state();
    let books = sb.path().join("books");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(books.join("environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    std::fs::write(books.join("app.yaml"), "title: App\nsteps:\n  - { id: a, title: A, run: 'echo hi' }\n")
        .unwrap();
    // Broken below its top level: a full parse would report the step's unknown key.
    std::fs::write(books.join("sibling.yaml"), "title: Sibling\nsteps:\n  - title: Go\n    tiemout: 5s\n")
        .unwrap();
    let dry = || {
        sb.cmd(&["run", "app", "--dry-run", "--dir", "books"])
            .env("RUNBOOK_INDEX_STATS", "1")
            .output()
            .unwrap()
    };
    let o = dry();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("sibling") && !err.contains("tiemout"), "{err}");
    // Both files' top-level keys were read to learn their ids; neither sibling was validated.
    assert!(err.contains("index: 2 files, 2 read and hashed, 2 parsed, 0 validated"), "{err}");
    assert!(stdout(&o).contains("echo hi"), "{}", stdout(&o));
    // From the index: nothing is parsed again.
    let err = String::from_utf8_lossy(&dry().stderr).into_owned();
    assert!(err.contains("index: 2 files,") && err.contains(" 0 parsed, 0 validated"), "{err}");
    // The sibling is reported when it is opened.
    let o = sb.run(&["run", "sibling", "--dry-run", "--dir", "books"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("runbook 'sibling' is invalid:")
            && err.contains(
                "sibling.yaml:4:5: error: unknown key 'tiemout' in step 'go' (did you mean 'timeout'?)"
            ),
        "{err}"
    );
    // A typo still gets a suggestion.
    let o = sb.run(&["run", "ap", "--dry-run", "--dir", "books"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no runbook 'ap' (did you mean 'app'?)"));
}
