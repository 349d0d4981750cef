//! Shell blocks of a Markdown page: which lines are commands and which are sample output,
//! which words are placeholders for the reader to fill in, and which commands need a terminal
//! or a confirmation.

use std::sync::LazyLock;

use regex::Regex;

/// A shell block split into commands and the sample output printed after them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// The commands, each possibly several lines (backslash continuations stay one command).
    pub commands: Vec<String>,
    /// `(command, its sample output)` for every command the page shows output for.
    pub samples: Vec<(String, String)>,
}

/// Fence languages that hold shell commands; the empty string is a fence with no language.
pub fn is_shell(lang: &str) -> bool {
    matches!(
        lang.to_ascii_lowercase().as_str(),
        "" | "bash" | "sh" | "shell" | "console" | "zsh" | "shell-session" | "shellsession" | "terminal"
    )
}

/// Splits a shell block into commands and sample output.
///
/// A block is in prompt style when its language is `console` (or a session) or any line starts
/// with `$ `: then only prompt lines (`$ `, `# ` for root) are commands, `> ` lines continue the
/// command before, and everything else is the output of the command above it. Otherwise the
/// whole block is one script.
pub fn split(lang: &str, code: &str) -> Block {
    let session = matches!(lang.to_ascii_lowercase().as_str(), "console" | "shell-session" | "shellsession");
    let lines: Vec<&str> = code.lines().collect();
    let prompted = session || lines.iter().any(|l| l.starts_with("$ ") || l.trim_end() == "$");
    if !prompted {
        let script = code.trim_matches('\n').trim_end();
        return Block {
            commands: if script.trim().is_empty() { vec![] } else { vec![script.to_owned()] },
            samples: vec![],
        };
    }
    let mut block = Block::default();
    let mut output: Vec<&str> = Vec::new();
    let mut continues = false;
    let flush = |block: &mut Block, output: &mut Vec<&str>| {
        let text = output.join("\n");
        output.clear();
        if !text.trim().is_empty()
            && let Some(cmd) = block.commands.last()
        {
            block.samples.push((cmd.clone(), text.trim_matches('\n').to_owned()));
        }
    };
    for line in lines {
        if continues && let Some(cmd) = block.commands.last_mut() {
            cmd.push('\n');
            cmd.push_str(line);
            continues = line.trim_end().ends_with('\\');
            continue;
        }
        let prompt = ["$ ", "# "].iter().find_map(|p| line.strip_prefix(p));
        let more = line.strip_prefix("> ").filter(|_| output.is_empty() && !block.commands.is_empty());
        if let Some(cmd) = prompt {
            flush(&mut block, &mut output);
            block.commands.push(cmd.trim_end().to_owned());
            continues = cmd.trim_end().ends_with('\\');
        } else if let Some(cmd) = more {
            let last = block.commands.last_mut().expect("checked above");
            last.push('\n');
            last.push_str(cmd.trim_end());
            continues = cmd.trim_end().ends_with('\\');
        } else {
            output.push(line);
        }
    }
    flush(&mut block, &mut output);
    block.commands.retain(|c| !c.trim().is_empty());
    block
}

/// A placeholder found in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The input name it becomes (`my_namespace`).
    pub name: String,
    /// How the page wrote it (`<my-namespace>`, `${NAMESPACE}`).
    pub written: String,
}

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<([A-Za-z][A-Za-z0-9_.-]*)>|\$\{([A-Z][A-Z0-9_]*)\}|\$([A-Z][A-Z0-9_]*)")
        .expect("valid regex")
});

/// Shell names that hold the machine's own values: never the reader's to fill in.
const ENVIRONMENT: &[&str] = &[
    "HOME",
    "PATH",
    "USER",
    "PWD",
    "SHELL",
    "HOSTNAME",
    "TERM",
    "TMPDIR",
    "LANG",
    "EDITOR",
    "KUBECONFIG",
    "RANDOM",
    "UID",
    "OLDPWD",
    "IFS",
    "LOGNAME",
];

/// Replaces placeholders in a command with `{{ name }}`, escaping every other `{{` that the
/// template language would read, and says which placeholders it used.
///
/// Placeholders inside quotes are left alone: in single quotes `$NAME` is not the shell's but
/// awk's or jq's, and `{{ }}` inside quotes would make the quotes part of the value. Names
/// the command itself assigns (`POD=$(…)`, `for NODE in`, `read NAME`) are its own variables.
pub fn templatize(command: &str) -> (String, Vec<Found>, bool) {
    let assigned = assigned_names(command);
    let quoted = quoted_ranges(command);
    let mut out = String::with_capacity(command.len() + 16);
    let mut found = Vec::new();
    let mut left_in_quotes = false;
    let mut last = 0;
    for caps in PLACEHOLDER.captures_iter(command) {
        let whole = caps.get(0).expect("group 0");
        let raw = caps.get(1).or(caps.get(2)).or(caps.get(3)).expect("one group matches").as_str();
        let angle = caps.get(1).is_some();
        if angle && whole.start() > 0 && command.as_bytes()[whole.start() - 1] == b'<' {
            continue; // a here-document (`<<EOF>`), not a placeholder
        }
        if !angle && (ENVIRONMENT.contains(&raw) || assigned.iter().any(|a| a == raw)) {
            continue;
        }
        if quoted.iter().any(|r| r.contains(&whole.start())) {
            left_in_quotes = true;
            continue;
        }
        let name = input_name(raw);
        out.push_str(&escape_braces(&command[last..whole.start()]));
        out.push_str(&format!("{{{{ {name} }}}}"));
        last = whole.end();
        if !found.iter().any(|f: &Found| f.name == name) {
            found.push(Found { name, written: whole.as_str().to_owned() });
        }
    }
    out.push_str(&escape_braces(&command[last..]));
    (out, found, left_in_quotes)
}

/// Byte ranges inside single or double quotes (the quotes included), as sh reads them.
fn quoted_ranges(command: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut open: Option<(u8, usize)> = None;
    let bytes = command.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match open {
            None if b == b'\\' => i += 1,
            None if b == b'\'' || b == b'"' => open = Some((b, i)),
            Some((b'"', _)) if b == b'\\' => i += 1,
            Some((q, start)) if b == q => {
                ranges.push(start..i + 1);
                open = None;
            }
            _ => {}
        }
        i += 1;
    }
    if let Some((_, start)) = open {
        ranges.push(start..bytes.len());
    }
    ranges
}

static ASSIGNED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s;(&|])(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)=|\b(?:for|read(?:\s+-\w+)*)\s+([A-Za-z_][A-Za-z0-9_]*)")
        .expect("valid regex")
});

fn assigned_names(command: &str) -> Vec<String> {
    ASSIGNED
        .captures_iter(command)
        .filter_map(|c| c.get(1).or(c.get(2)).map(|m| m.as_str().to_owned()))
        .collect()
}

/// The input name for a placeholder: lowercase, `-` and `.` as `_`, never a reserved name.
pub fn input_name(raw: &str) -> String {
    let mut name: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    if name == "environment" || name == "env" {
        name.push_str("_name");
    }
    name
}

/// A readable description from an input name: `pvc_name` → "Pvc name".
pub fn describe(found: &Found) -> String {
    let words = found.name.replace('_', " ");
    let mut chars = words.trim().chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
    format!("{first}{} (written {} in the source page)", chars.as_str(), found.written)
}

/// Escapes every `{{` that the template language would read as a placeholder (`{{range`,
/// `{{ end }}`), so Go templates and the like stay literal; `{{.x}}` needs no escape. Scans
/// exactly as the template parser does.
pub fn escape_braces(text: &str) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        let after = &rest[at + 2..];
        let starts_name =
            after.trim_start_matches(' ').starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        out.push_str(&rest[..at]);
        if starts_name || rest[..at].ends_with('\\') {
            out.push('\\');
        }
        out.push_str("{{");
        rest = after;
    }
    out.push_str(rest);
    out
}

static INTERACTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        \b(?:kubectl|oc|docker|podman)\s+(?:[^|;&]*\s)?(?:exec|run)\s(?:[^|;&]*\s)?(?:-it|-ti|-i\s+-t|-t\s+-i|--stdin\s+--tty|--tty\s+--stdin)\b
        | \b(?:oc\s+rsh|oc\s+debug|kubectl\s+debug|kubectl\s+attach|kubectl\s+edit|oc\s+edit|kubectl\s+port-forward|oc\s+port-forward)\b
        | (?:^|[;&|(]\s*|\bsudo\s+)(?:vi|vim|nvim|nano|emacs|less|more|top|htop|k9s|tmux|screen|watch|mysql|redis-cli|mongo|mongosh|sqlite3|python3?|irb|node)\s*(?:$|[;&|)])
        | (?:^|[;&|(]\s*|\bsudo\s+)(?:vi|vim|nvim|nano|emacs|less|more|top|htop|watch)\s
        | (?:^|[;&|(]\s*|\bsudo\s+)(?:psql|mysql)\s(?:[^|;&]*)$
        | (?:^|[;&|(]\s*)ssh\s+[^\s;&|-][^\s;&|]*\s*$
        ",
    )
    .expect("valid regex")
});

/// Whether a command needs a terminal: a shell inside a container, an editor, a pager, or a
/// database client without a query to run.
pub fn needs_terminal(command: &str) -> bool {
    command.lines().any(|line| {
        let line = line.trim_end_matches('\\').trim();
        if !INTERACTIVE.is_match(line) {
            return false;
        }
        // psql / mysql with a query or a file to run are not interactive.
        if CLIENT.is_match(line) && !line.contains(" -it") && !line.contains(" exec ") {
            // A query, a script file or piped input: the client runs it and exits.
            let scripted = [" -c", "--command", " -f ", " -e ", "|", "<"];
            return !scripted.iter().any(|s| line.contains(s));
        }
        true
    })
}

static CLIENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[;&|(]\s*|\bsudo\s+)(?:psql|mysql)\s").expect("valid regex"));

static DESTRUCTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:delete|drop|destroy|truncate|reboot|shutdown|poweroff|purge|drain|uninstall|mkfs)\b|\brm\s+-[a-z]*[rf]|--force\b|--grace-period[= ]0\b")
        .expect("valid regex")
});

/// Whether a command destroys something and deserves a confirmation.
pub fn destructive(command: &str) -> bool {
    DESTRUCTIVE.is_match(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_blocks_keep_prompted_lines_as_commands_and_the_rest_as_sample_output() {
        let b = split(
            "console",
            "$ kubectl get pods -n <ns>\nNAME   READY   STATUS\napi-1  0/1     CrashLoopBackOff\n$ kubectl logs api-1 \\\n    --previous\npanic: boom\n",
        );
        assert_eq!(b.commands, vec!["kubectl get pods -n <ns>", "kubectl logs api-1 \\\n    --previous"]);
        assert_eq!(b.samples.len(), 2);
        assert_eq!(b.samples[0].1, "NAME   READY   STATUS\napi-1  0/1     CrashLoopBackOff");
        assert_eq!(b.samples[1].1, "panic: boom");
    }

    #[test]
    fn root_prompts_and_continuation_prompts_are_commands() {
        let b =
            split("console", "# systemctl restart kubelet\n$ for n in a b; do\n> echo $n\n> done\na\nb\n");
        assert_eq!(b.commands, vec!["systemctl restart kubelet", "for n in a b; do\necho $n\ndone"]);
        assert_eq!(b.samples, vec![("for n in a b; do\necho $n\ndone".into(), "a\nb".into())]);
    }

    #[test]
    fn a_bash_block_without_prompts_is_one_script_with_its_comments() {
        let b = split("bash", "# find the pod\nPOD=$(kubectl get pod -o name)\nkubectl describe $POD\n");
        assert_eq!(b.commands, vec!["# find the pod\nPOD=$(kubectl get pod -o name)\nkubectl describe $POD"]);
        assert!(b.samples.is_empty());
    }

    #[test]
    fn placeholders_become_inputs_once_per_name() {
        let (cmd, found, quoted) = templatize(
            "kubectl -n <my-namespace> get pvc <pvc-name> && kubectl -n ${MY_NAMESPACE} describe pvc $PVC_NAME",
        );
        assert_eq!(
            cmd,
            "kubectl -n {{ my_namespace }} get pvc {{ pvc_name }} && kubectl -n {{ my_namespace }} describe pvc {{ pvc_name }}"
        );
        assert_eq!(found.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["my_namespace", "pvc_name"]);
        assert_eq!(found[0].written, "<my-namespace>");
        assert!(!quoted);
        assert_eq!(describe(&found[1]), "Pvc name (written <pvc-name> in the source page)");
    }

    #[test]
    fn look_alikes_in_quotes_own_variables_and_heredocs_are_left_alone() {
        let src = "awk '{print $NF}' f | jq \"$FILTER\"; POD=$(kubectl get pod -o name); kubectl logs $POD; echo $HOME; cat <<EOF>x";
        let (cmd, found, quoted) = templatize(src);
        assert_eq!(cmd, src);
        assert!(found.is_empty());
        assert!(quoted);
        let (cmd, found, _) = templatize("for NODE in $(kubectl get nodes -o name); do echo $NODE; done");
        assert!(found.is_empty(), "{cmd}");
    }

    #[test]
    fn go_templates_stay_literal() {
        let (cmd, _, _) = templatize(
            "kubectl get pods -o go-template='{{range .items}}{{.metadata.name}}{{ end }}' -n <ns>",
        );
        assert_eq!(
            cmd,
            "kubectl get pods -o go-template='\\{{range .items}}{{.metadata.name}}\\{{ end }}' -n {{ ns }}"
        );
        let t = crate::runbook::template::Template::parse(&cmd).unwrap();
        assert_eq!(t.placeholders().count(), 1);
        assert_eq!(
            escape_braces("docker inspect -f '{{.State.Status}}'"),
            "docker inspect -f '{{.State.Status}}'"
        );
    }

    #[test]
    fn terminals_and_confirmations_are_recognised() {
        for cmd in [
            "kubectl exec -it api-0 -- sh",
            "kubectl -n x exec -ti api-0 -- bash",
            "oc rsh api-0",
            "psql -h db -U app",
            "vi /etc/hosts",
            "kubectl edit deploy api",
            "ssh bastion",
        ] {
            assert!(needs_terminal(cmd), "{cmd}");
        }
        for cmd in [
            "psql -h db -c 'select 1'",
            "kubectl exec api-0 -- ls",
            "kubectl get pods",
            "echo vi",
            "grep -r top .",
            "ssh bastion uptime",
            "psql -f fix.sql",
        ] {
            assert!(!needs_terminal(cmd), "{cmd}");
        }
        for cmd in [
            "kubectl delete pod api-0",
            "DROP TABLE x",
            "rm -rf /var/lib/x",
            "sudo reboot",
            "git push --force",
            "kubectl drain node-1 --ignore-daemonsets",
        ] {
            assert!(destructive(cmd), "{cmd}");
        }
        for cmd in ["kubectl get pods", "rm file.txt", "echo deleted"] {
            assert!(!destructive(cmd), "{cmd}");
        }
    }
}
