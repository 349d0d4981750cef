//! The corpus generator: `cargo bench --bench list -- --generate DIR [COUNT]` writes COUNT
//! runbooks of 20 steps (about 2.6 KB each) and an environments.yaml into DIR, so the figures
//! in docs/performance.md can be reproduced by hand too.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

pub const ENVIRONMENTS: &str = r#"default: staging
environments:
  staging:
    vars: { base_url: "https://staging.example.com", db: "staging-db.example.internal:5432" }
  production:
    protected: true
    vars: { base_url: "https://example.com", db: "prod-db.example.internal:5432" }
monitors:
  - id: api
    check: { http: "{{ base_url }}/health", expect: { status: 200 } }
  - id: database
    check: { tcp: "{{ db }}" }
"#;

/// One runbook of 20 steps, varied by `n` so every file is different.
pub fn runbook(n: usize) -> String {
    let kinds = ["incident", "deploy", "recovery", "maintenance", "onboarding"];
    let mut s = String::with_capacity(2800);
    writeln!(s, "title: Generated runbook {n} for service-{}", n % 97).unwrap();
    writeln!(s, "description: |\n  Synthetic runbook number {n}, used to measure loading.\n  It mixes every step kind.").unwrap();
    writeln!(s, "kind: {}", kinds[n % kinds.len()]).unwrap();
    writeln!(s, "tags: [generated, team-{}, tier-{}]", n % 13, n % 3).unwrap();
    writeln!(s, "owner: team-{}", n % 13).unwrap();
    // Fifty distinct patterns across the corpus, as a real library repeats a few.
    writeln!(s, "inputs:\n  version:\n    description: Version to roll out\n    default: v1.{}.0\n    pattern: '^v1\\.{}\\.\\d+$'", n % 50, n % 50).unwrap();
    writeln!(s, "steps:").unwrap();
    for i in 0..20 {
        match i % 5 {
            0 => writeln!(s, "  - title: Read the dashboard {n}.{i}\n    body: Check errors in {{{{ environment }}}}.").unwrap(),
            1 => writeln!(s, "  - id: cmd-{i}\n    title: Run diagnostic {i}\n    run: curl -fsS {{{{ base_url }}}}/status?step={i}\n    timeout: 30s").unwrap(),
            2 => writeln!(s, "  - id: check-{i}\n    title: Wait for health {i}\n    check:\n      http: \"{{{{ base_url }}}}/health\"\n      expect: {{ status: 200, max_latency: 500ms }}\n    wait: {{ timeout: 2m, passes: 2 }}").unwrap(),
            3 => writeln!(s, "  - id: db-{i}\n    title: Database reachable {i}\n    check: {{ tcp: \"{{{{ db }}}}\", timeout: 3s }}\n    on_failure: continue").unwrap(),
            _ => writeln!(s, "  - id: deploy-{i}\n    title: Roll out {{{{ version }}}} step {i}\n    run: ./deploy.sh --version {{{{ version }}}} --env {{{{ environment }}}}\n    capture: out_{i}").unwrap(),
        }
    }
    s
}

/// Writes `count` runbooks into `dir` in subdirectories of 100.
pub fn generate(dir: &Path, count: usize) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("environments.yaml"), ENVIRONMENTS).unwrap();
    let mut bytes = 0;
    for n in 0..count {
        let sub = dir.join(format!("group-{:03}", n / 100));
        std::fs::create_dir_all(&sub).unwrap();
        let text = runbook(n);
        bytes += text.len();
        std::fs::write(sub.join(format!("runbook-{n:05}.yaml")), text).unwrap();
    }
    bytes
}
