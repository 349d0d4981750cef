//! A step body written in Markdown, as the run view draws it (whole-screen snapshots at the
//! sizes users have): headings, nested lists, a code block without fences, a table, a quote,
//! emphasis, and links as their text with the URLs listed under the body.

mod support;

use std::collections::BTreeMap;

use runbook::app::model::Model;
use runbook::app::update::{Msg, update};
use runbook::run::Run;
use runbook::runbook::load::{FullLibrary, Root};
use support::render::draw;

const RUNBOOK: &str = r#"title: Pod crash looping
kind: incident
steps:
  - title: Find out why the pod restarts
    body: |
      ## Diagnosis

      The pod is in **CrashLoopBackOff**: see the [dashboard](https://grafana.example/d/pods)
      and [docs][docs].

      1. Check the restarts:
         - `RESTARTS` keeps going *up*
         - the last state is `OOMKilled`

      ```console
      $ kubectl logs api-0 --previous
      panic: out of memory
      ```

      | Reason    | Action              |
      |-----------|---------------------|
      | OOMKilled | raise the limit     |

      > Deleting the pod only helps when the node is at fault.

      [docs]: https://docs.example/runbooks/crashloop
  - title: Roll back
    run: echo rolled back
"#;

fn model() -> Model {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("environments.yaml"), "default: dev\nenvironments:\n  dev: {}\n").unwrap();
    std::fs::write(tmp.path().join("crash.yaml"), RUNBOOK).unwrap();
    let lib = FullLibrary::load(vec![Root::Dir(tmp.path().to_path_buf())]);
    let loaded = lib.get("crash").unwrap();
    assert!(loaded.first_error().is_none(), "{:?}", loaded.diagnostics);
    let runbook = loaded.runbook.clone().unwrap();
    let env = lib.environments_for("crash").unwrap().get("dev").unwrap().clone();
    let run = Run::new(runbook, env, &BTreeMap::new()).unwrap();
    let mut model = Model::new(vec![], vec![]);
    update(
        &mut model,
        Msg::Started {
            run: Box::new(run),
            run_id: "20261129T000000Z-crash-abcd".into(),
            monitors: vec![],
            resumed: None,
        },
    );
    model
}

#[test]
fn a_rich_body_at_80x24_and_120x40() {
    let model = model();
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = draw(&model, w, h);
        assert!(!screen.contains("```") && !screen.contains("**"), "no Markdown syntax on screen:\n{screen}");
        insta::assert_snapshot!(format!("markdown_body_{w}x{h}"), screen);
    }
}
