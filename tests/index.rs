//! The lazy library and its index: one runbook opened reads one file; shadowing, duplicates
//! and the bundled fallback keep their rules; the fast summaries say what the full loader says.

use std::path::Path;

use runbook::runbook::load::{self, FullLibrary, Library, Root, SourceFile};
use runbook::runbook::summary;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn earlier_directories_shadow_later_ones_and_the_bundled_runbooks_are_the_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write(&a, "same.yaml", "title: From A\nsteps:\n  - title: x\n");
    write(&b, "same.yaml", "title: From B\nsteps:\n  - title: x\n");
    // A file anywhere in an earlier directory that declares a bundled id shadows it.
    write(&b, "mine/tour.yaml", "id: onboarding/tour\ntitle: Our own tour\nsteps:\n  - title: x\n");
    write(&b, "environments.yaml", "default: lab\nenvironments:\n  lab: {}\n");
    let roots = vec![Root::Dir(a.clone()), Root::Dir(b.clone()), Root::Bundled];
    let cache = tmp.path().join("cache");
    for round in 0..2 {
        // The second round is served from the index.
        let lib = Library::with_index(roots.clone(), Some(cache.clone()));
        let same = lib.open("same").unwrap();
        assert_eq!(same.runbook.unwrap().title, "From A", "round {round}");
        let tour = lib.open("onboarding/tour").unwrap();
        assert_eq!(tour.runbook.unwrap().title, "Our own tour");
        assert_eq!(tour.root, 1);
        // Not in any directory: the bundled runbook, in the bundled environments.
        let api = lib.open("incidents/api-5xx").unwrap();
        assert!(api.display.starts_with("<bundled>/"), "{}", api.display);
        assert!(api.runbook.is_some(), "{:?}", api.diagnostics);
        let envs = lib.environments_checked(Some("incidents/api-5xx")).unwrap();
        assert!(envs.get("demo").is_some());
        // `a` has no environments file: the first on the path (b's) is its.
        assert!(lib.environments_checked(Some("same")).unwrap().get("lab").is_some());
        let missing = lib.open("sme").unwrap_err();
        assert_eq!(missing.to_string(), "no runbook 'sme' (did you mean 'same'?): `runbook list` shows them");
    }
    // What the list shows agrees with the full loader, id for id.
    let lazy = Library::with_index(roots.clone(), Some(cache.clone())).summaries().0;
    let full = FullLibrary::load(roots);
    let ids = |v: Vec<(&str, &str)>| v.into_iter().map(|(i, p)| format!("{i} {p}")).collect::<Vec<_>>();
    assert_eq!(
        ids(lazy.iter().map(|s| (s.id.as_str(), s.path.as_str())).collect()),
        ids(full.runbooks.iter().map(|l| (l.id.as_str(), l.display.as_str())).collect())
    );
}

#[test]
fn two_files_with_one_id_in_one_directory_open_as_an_error_on_the_second() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    write(&a, "one.yaml", "title: First\nsteps:\n  - title: x\n");
    write(&a, "two.yaml", "id: one\ntitle: Second\nsteps:\n  - title: x\n");
    let lib = Library::new(vec![Root::Dir(a.clone())]);
    assert_eq!(lib.open("one").unwrap().runbook.unwrap().title, "First");
    let list = lib.summaries().0;
    let second = list.iter().find(|s| s.id.starts_with("one#")).unwrap();
    assert!(second.error.as_deref().unwrap().contains("runbook id 'one' is already used by"), "{second:?}");
    let opened = Library::new(vec![Root::Dir(a)]).open(&second.id).unwrap();
    assert!(opened.runbook.is_none());
    assert!(opened.diagnostics[0].message.contains("is already used by"), "{:?}", opened.diagnostics);
}

#[test]
fn a_broken_runbook_keeps_its_declared_id_and_is_reported_when_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    write(&a, "file-name.yaml", "id: declared\ntitle: T\nsteps:\n  - title: x\n    tiemout: 5s\n");
    let cache = tmp.path().join("cache");
    let lib = Library::with_index(vec![Root::Dir(a.clone())], Some(cache.clone()));
    let (list, _) = lib.summaries();
    assert_eq!(list[0].id, "declared");
    assert_eq!(list[0].error, None, "the list has not validated it yet");
    let opened = lib.open("declared").unwrap();
    assert!(opened.runbook.is_none());
    let d = opened.first_error().unwrap();
    assert_eq!((d.pos.line, d.pos.column), (5, 5));
    // Opening taught the index: the list marks it broken from now on.
    let (list, stats) = Library::with_index(vec![Root::Dir(a)], Some(cache)).summaries();
    let error = list[0].error.as_deref().unwrap();
    assert!(
        error.ends_with("file-name.yaml:5:5: unknown key 'tiemout' in step 'x' (did you mean 'timeout'?)"),
        "{error}"
    );
    assert_eq!(stats.parsed, 0);
}

/// Every valid runbook (the bundled ones, the format fixtures, a generated corpus): the fast
/// path reads the same id, title, kind and tags as the full loader, and gives up on none of
/// the bundled ones. For broken ones it may give up, but never names another id.
#[test]
fn fast_summaries_say_what_the_full_loader_says() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (dir, all_fast) in
        [("runbooks", true), ("tests/runbooks_valid", false), ("tests/runbooks_invalid", false)]
    {
        let files = load::read_root(&Root::Dir(repo.join(dir)));
        let envs = files.environments.as_ref().and_then(|f| load::load_environments(f).0);
        for f in &files.runbooks {
            let loaded = load::load_runbook(f, envs.as_ref());
            let head = summary::head(&f.bytes);
            match (&loaded.runbook, &head) {
                (Some(r), Some(h)) => {
                    assert_eq!(h.id.clone().unwrap_or_else(|| f.path_id().to_owned()), r.id, "{}", f.display);
                    assert_eq!((&h.title, h.kind, &h.tags), (&r.title, r.kind, &r.tags), "{}", f.display);
                    checked += 1;
                }
                (Some(_), None) => {
                    assert!(!all_fast, "{}: the fast path gave up on a bundled runbook", f.display)
                }
                (None, Some(h)) => {
                    assert_eq!(
                        h.id.clone().unwrap_or_else(|| f.path_id().to_owned()),
                        loaded.id,
                        "{}",
                        f.display
                    )
                }
                (None, None) => {}
            }
        }
    }
    assert!(checked >= 20, "{checked}");
    // Odd but valid YAML at the top level goes to the full parser and loads the same.
    for text in [
        "{title: Flow, steps: [{title: x}]}\n",
        "\"title\": Quoted key\nsteps:\n  - title: x\n",
        "title: >\n  Folded\n  title\nsteps:\n- title: x\n",
        "---\ntitle: Marker\nsteps:\n  - title: x\n...\n",
    ] {
        let file = SourceFile {
            rel: "x.yaml".into(),
            display: "x.yaml".into(),
            bytes: text.as_bytes().to_vec().into(),
        };
        let loaded = load::load_runbook(&file, None);
        let r = loaded.runbook.as_ref().unwrap_or_else(|| panic!("{text:?}: {:?}", loaded.diagnostics));
        if let Some(h) = summary::head(text.as_bytes()) {
            assert_eq!(h.title, r.title, "{text:?}");
        }
    }
}
