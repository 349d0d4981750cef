//! The conversion rules, one page at a time; the CLI tests convert whole trees and check them.

use super::*;

fn page(md: &str) -> Page {
    convert(md, "file-name", None).unwrap()
}

fn titles(p: &Page) -> Vec<&str> {
    p.steps.iter().map(|s| s.title.as_str()).collect()
}

#[test]
fn the_first_heading_or_front_matter_is_the_title_and_the_file_name_the_last_resort() {
    assert_eq!(page("# KubeNodeNotReady\n\n## Diagnosis\n\nlook\n").title, "KubeNodeNotReady");
    assert_eq!(page("---\ntitle: From front matter\n---\n# Heading\n").title, "From front matter");
    let p = page("## Diagnosis\n\nlook\n");
    assert_eq!(p.title, "file-name");
    assert!(p.notes.iter().any(|n| n.contains("no title")));
}

#[test]
fn intro_and_meaning_impact_become_the_description_and_a_first_manual_step() {
    let p = page(
        "# Alert\n\nFires when **x**.\n\n## Meaning\n\nIt means y.\n\n### Detail\n\nmore\n\n## Impact\n\nUsers see z.\n\n## Diagnosis\n\nLook.\n",
    );
    assert_eq!(p.description.as_deref(), Some("Fires when **x**."));
    assert_eq!(titles(&p), ["Understand the alert", "Diagnosis"]);
    let body = p.steps[0].body.as_deref().unwrap();
    for part in [
        "Fires when **x**.",
        "**Meaning**",
        "It means y.",
        "**Detail**",
        "more",
        "**Impact**",
        "Users see z.",
    ] {
        assert!(body.contains(part), "{part} in {body}");
    }
    assert_eq!(p.steps[1].body.as_deref(), Some("Look."));
    assert!(p.steps.iter().all(|s| s.run.is_none()));
}

#[test]
fn sections_and_sub_sections_are_manual_steps_with_command_steps_after_their_prose() {
    let p = page(
        "# T\n\n## Diagnosis\n\nCheck the pods:\n\n```console\n$ kubectl get pods\nNAME READY\napi 0/1\n```\n\nThen the logs:\n\n```bash\nkubectl logs api\n```\n\nDone.\n\n### Events\n\nRead them.\n\n```sh\nkubectl get events\n```\n\n## Mitigation\n\n```\nkubectl rollout restart deploy/api\n```\n",
    );
    assert_eq!(
        titles(&p),
        ["Diagnosis", "kubectl get pods", "kubectl logs api", "Events", "kubectl get events", "Mitigation"]
    );
    let s = &p.steps;
    assert_eq!(s[0].body.as_deref(), Some("Check the pods:"));
    assert_eq!(s[1].run.as_deref(), Some("kubectl get pods"));
    let sample = s[1].body.as_deref().unwrap();
    assert!(sample.contains("```text\nNAME READY\napi 0/1\n```"), "{sample}");
    assert_eq!(s[2].body.as_deref(), Some("Then the logs:\n\nDone."), "prose before a block leads it");
    assert_eq!(s[2].shell, Some("bash"));
    assert_eq!(
        s[5].run.as_deref(),
        Some("kubectl rollout restart deploy/api"),
        "a section with only a block"
    );
    let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids[..2], ["diagnosis", "kubectl-get-pods"]);
}

#[test]
fn sample_output_never_runs_and_continued_commands_stay_one() {
    let p = page(
        "# T\n\n## D\n\n```console\n$ kubectl logs api \\\n    --previous\npanic: boom\n$ echo done\ndone\n```\n",
    );
    let cmd = &p.steps[0];
    assert_eq!(cmd.title, "D", "a section with only a block: the command has its title");
    assert_eq!(cmd.run.as_deref(), Some("kubectl logs api \\\n    --previous\necho done"));
    let body = cmd.body.as_deref().unwrap();
    assert!(body.contains("panic: boom") && body.contains("Example output of `echo done`"), "{body}");
}

#[test]
fn placeholders_become_inputs_used_through_templates() {
    let p = page(
        "# T\n\n## D\n\n```console\n$ kubectl -n <my-namespace> get pvc <pvc-name>\n$ kubectl -n ${MY_NAMESPACE} describe pvc $PVC_NAME\n$ awk '{print $NF}' f\n```\n",
    );
    let names: Vec<&str> = p.inputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["my_namespace", "pvc_name"]);
    assert!(p.inputs[0].1.starts_with("My namespace"));
    let run = p.steps[0].run.as_deref().unwrap();
    assert!(
        run.contains("get pvc {{ pvc_name }}") && run.contains("-n {{ my_namespace }} describe"),
        "{run}"
    );
    assert!(run.contains("awk '{print $NF}' f"), "{run}");
}

#[test]
fn look_alikes_in_other_languages_stay_in_the_body_untouched() {
    let p = page(
        "# T\n\n## Fix\n\nRun this query:\n\n```sql\nSELECT * FROM t WHERE u = '<user>' AND $FOO;\n```\n\n```yaml\nimage: {{ .Values.image }}\ntag: {{ tag }}\n```\n",
    );
    assert!(p.inputs.is_empty());
    assert_eq!(titles(&p), ["Fix"]);
    let body = p.steps[0].body.as_deref().unwrap();
    assert!(body.contains("'<user>' AND $FOO"), "{body}");
    assert!(body.contains("image: {{ .Values.image }}\ntag: \\{{ tag }}"), "{body}");
    let t = crate::runbook::template::Template::parse(body).unwrap();
    assert!(!t.has_placeholders(), "nothing in the body is a placeholder");
}

#[test]
fn go_templates_in_commands_stay_literal() {
    let p = page(
        "# T\n\n## D\n\n```sh\ndocker inspect -f '{{.State.Status}}' api\nkubectl get pods -o go-template='{{range .items}}{{.metadata.name}}{{end}}'\n```\n",
    );
    let run = p.steps[0].run.as_deref().unwrap();
    let t = crate::runbook::template::Template::parse(run).unwrap();
    assert!(!t.has_placeholders());
    let rendered = t.render(crate::runbook::template::Quoting::Shell, &|_| None).unwrap().real;
    assert_eq!(
        rendered,
        "docker inspect -f '{{.State.Status}}' api\nkubectl get pods -o go-template='{{range .items}}{{.metadata.name}}{{end}}'"
    );
}

#[test]
fn headings_with_template_braces_stay_literal_titles() {
    let p = page("# T\n\n## {{ .Labels.instance }} is down on {{ cluster }}\n\nLook.\n");
    assert_eq!(p.steps[0].title, "{{ .Labels.instance }} is down on \\{{ cluster }}");
    let t = crate::runbook::template::Template::parse(&p.steps[0].title).unwrap();
    assert!(!t.has_placeholders());
}

#[test]
fn links_lists_tables_and_emphasis_stay_as_markdown() {
    let md = "# T\n\n## Steps\n\nSee [the dashboard][dash] and <https://x.example>.\n\n1. First *do* this\n   - nested **bullet**\n2. Then `that`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[dash]: https://grafana.example.com/d/x \"Dash\"\n";
    let p = page(md);
    let body = p.steps[0].body.as_deref().unwrap();
    for part in [
        "See [the dashboard][dash] and <https://x.example>.",
        "1. First *do* this\n   - nested **bullet**\n2. Then `that`",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "[dash]: https://grafana.example.com/d/x \"Dash\"",
    ] {
        assert!(body.contains(part), "{part:?} in {body}");
    }
}

#[test]
fn front_matter_keys_that_map_map_and_the_rest_is_listed() {
    let p = page(
        "---\ntitle: Disk full\ntags: [storage, disk]\nowner: sre\nkind: maintenance\nseverity: critical\n---\n\nbody\n",
    );
    assert_eq!(
        (p.title.as_str(), p.kind.as_str(), p.owner.as_deref()),
        ("Disk full", "maintenance", Some("sre"))
    );
    assert_eq!(p.tags, ["storage", "disk"]);
    assert!(p.notes.iter().any(|n| n.contains("severity")), "{:?}", p.notes);
    let p = page("---\nlabels: a, b\n---\n# X\n");
    assert_eq!(p.tags, ["a", "b"]);
    assert!(convert("---\n[not: a mapping\n---\n# X\n", "f", None).is_err());
}

#[test]
fn kind_is_guessed_for_alert_pages_and_can_be_set() {
    assert_eq!(page("# KubePodCrashLooping\n\n## Meaning\n\nx\n").kind, "incident");
    assert_eq!(page("# Onboard a new engineer\n\n## Accounts\n\nx\n").kind, "other");
    assert_eq!(convert("# KubePodCrashLooping\n", "f", Some("recovery")).unwrap().kind, "recovery");
}

#[test]
fn terminal_commands_are_interactive_and_destructive_ones_confirm() {
    let p = page(
        "# T\n\n## D\n\n```console\n$ kubectl exec -it api-0 -- sh\n```\n\n```console\n$ kubectl delete pod api-0\n```\n\n```console\n$ kubectl get pods\n```\n",
    );
    let flags: Vec<(bool, bool)> = p.steps.iter().map(|s| (s.interactive, s.confirm)).collect();
    assert_eq!(flags, [(true, false), (false, true), (false, false)]);
}

#[test]
fn pages_saved_on_windows_give_commands_without_carriage_returns() {
    let p = page("# T\r\n\r\n## D\r\n\r\n```console\r\n$ echo hi\r\nhi\r\n```\r\n");
    assert_eq!(p.steps[0].run.as_deref(), Some("echo hi"));
    assert!(!p.steps[0].body.as_deref().unwrap().contains('\r'));
}

#[test]
fn odd_pages_convert_without_panicking() {
    for md in [
        "",
        "no heading at all",
        "# Only a title",
        "```console\n$\n```",
        "## \n\n```\n```",
        "# T\n\n## A\n\n## A\n\n## A\n",
        "---\n---\n",
        "# T\n\n- ```sh\n  nested\n  ```\n",
    ] {
        let p = convert(md, "f", None).unwrap();
        assert!(!p.steps.is_empty(), "{md:?}");
        let ids: std::collections::HashSet<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), p.steps.len(), "unique ids for {md:?}");
    }
}
