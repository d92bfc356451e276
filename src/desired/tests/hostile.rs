//! The loader against input a hostile or careless editor could write: FIFOs,
//! devices, files outside the directory, values YAML reads differently from
//! what they look like, nesting and aliases meant to exhaust the loader.

use std::sync::mpsc;
use std::time::Duration;

use super::*;

/// Runs `f` on its own thread and fails the test (instead of hanging it)
/// when it does not return within `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f()); // the test gave up waiting: nothing to tell
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("did not finish within {secs} s"))
}

/// The rendered errors of loading `dir`, on a thread, bounded in time.
fn errors_within(secs: u64, dir: &Dir) -> Vec<String> {
    let path = dir.path().to_path_buf();
    error_lines(dir.path(), within(secs, move || load(&path)))
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

fn dashboard_from(name: &str, file: &str) -> String {
    format!("apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {{name: {name}}}\nspec: {{bodyFile: '{file}'}}\n")
}

fn secret_from(name: &str, file: &str) -> String {
    format!("apiVersion: driftd/v1\nkind: Secret\nmetadata: {{name: {name}}}\nspec:\n  initialValue: {{fromFile: '{file}'}}\n")
}

#[test]
fn a_fifo_named_like_yaml_is_an_error_not_a_hang_nor_a_silent_skip() {
    let dir = Dir::new(&[("ok.yaml", TOPIC)]);
    mkfifo(&dir.path().join("pipe.yaml"));
    assert_eq!(
        errors_within(10, &dir),
        ["pipe.yaml: cannot read file: not a regular file (a FIFO)"]
    );
}

#[test]
fn files_a_document_points_at_are_regular_files_inside_the_directory() {
    let outside = tempfile::tempdir().unwrap();
    let stray = outside.path().join("stray.json");
    fs::write(&stray, "{\"widgets\": []}").unwrap();
    let dir = Dir::new(&[
        ("a.yaml", &dashboard_from("a", "pipe.json")),
        ("b.yaml", &dashboard_from("b", "/dev/zero")),
        ("c.yaml", &dashboard_from("c", "/etc/passwd")),
        ("d.yaml", &dashboard_from("d", "../../../../../etc/passwd")),
        ("e.yaml", &dashboard_from("e", "link.json")),
        ("f.yaml", &secret_from("f", "/proc/self/environ")),
        ("g.yaml", &secret_from("g", "secret-pipe")),
        ("h.yaml", &secret_from("h", "big.json")),
        ("i.yaml", &secret_from("i", "missing.json")),
    ]);
    mkfifo(&dir.path().join("pipe.json"));
    mkfifo(&dir.path().join("secret-pipe"));
    std::os::unix::fs::symlink(&stray, dir.path().join("link.json")).unwrap();
    fs::write(dir.path().join("big.json"), vec![b'x'; 65_537]).unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let outside = format!("outside the desired-state directory {}", root.display());
    assert_eq!(
        errors_within(10, &dir),
        [
            "a.yaml:4:8: Dashboard a: spec.bodyFile: \"pipe.json\": not a regular file (a FIFO)".to_string(),
            format!("b.yaml:4:8: Dashboard b: spec.bodyFile: \"/dev/zero\": {outside}"),
            format!("c.yaml:4:8: Dashboard c: spec.bodyFile: \"/etc/passwd\": {outside}"),
            format!("d.yaml:4:8: Dashboard d: spec.bodyFile: \"../../../../../etc/passwd\": {outside}"),
            format!("e.yaml:4:8: Dashboard e: spec.bodyFile: \"link.json\": {outside}"),
            format!("f.yaml:5:18: Secret f: spec.initialValue.fromFile: \"/proc/self/environ\": {outside}"),
            "g.yaml:5:18: Secret g: spec.initialValue.fromFile: \"secret-pipe\": not a regular file (a FIFO)".to_string(),
            "h.yaml:5:18: Secret h: spec.initialValue.fromFile: \"big.json\": larger than 65536 bytes".to_string(),
            "i.yaml:5:18: Secret i: spec.initialValue.fromFile: cannot read \"missing.json\": No such file or directory (os error 2)".to_string(),
        ]
    );
}

#[test]
fn a_yaml_file_over_ten_mib_is_refused_unread() {
    let mut text = TOPIC.to_string();
    text.push_str(&format!("# {}\n", "x".repeat(10 * 1024 * 1024)));
    let dir = Dir::new(&[("big.yaml", &text)]);
    assert_eq!(
        errors_within(20, &dir),
        ["big.yaml: cannot read file: larger than 10485760 bytes"]
    );
}

#[test]
fn values_yaml_would_change_silently_are_refused_where_they_are() {
    let alarm = "\
apiVersion: driftd/v1
kind: Alarm
metadata: {name: cpu}
spec:
  namespace: AWS/ECS
  metricName: CPUUtilization
  statistic: Average
  period: 60
  evaluationPeriods: 1
  threshold: 1e400
  comparisonOperator: GreaterThanThreshold
  description: !custom hello
";
    let board = "\
apiVersion: driftd/v1
kind: Dashboard
metadata: {name: main}
spec:
  body:
    widgets:
      - {type: text, x: 0, y: 0, width: .nan, height: -.Inf, properties: {markdown: !!binary aGVsbG8=}}
      - {type: text, x: 0, y: 0, width: '1e400', height: 2, properties: {markdown: \"1e400\"}}
";
    let dir = Dir::new(&[("alarm.yaml", alarm), ("board.yaml", board)]);
    let errors = errors_within(10, &dir);
    assert_eq!(
        errors[..4],
        [
            "alarm.yaml:10:14: Alarm cpu: spec.threshold: 1e400 is out of range: not a finite number",
            "alarm.yaml:12:24: Alarm cpu: spec.description: the YAML tag \"!custom\" is not supported (only standard YAML values)",
            "board.yaml:7:41: Dashboard main: spec.body.widgets[0].width: .nan is not a finite number",
            "board.yaml:7:55: Dashboard main: spec.body.widgets[0].height: -.Inf is not a finite number",
        ]
    );
    assert!(
        errors[4].starts_with("board.yaml:7:94: Dashboard main: spec.body.widgets[0].properties.markdown: the YAML tag \"!!binary\" is not supported"),
        "{errors:#?}"
    );
    // Quoted, the same text is a string, as written.
    assert!(
        errors.iter().all(|e| !e.contains("widgets[1]")),
        "{errors:#?}"
    );
}

#[test]
fn a_leading_byte_order_mark_is_allowed() {
    let dir = Dir::new(&[("bom.yaml", &format!("\u{feff}{TOPIC}"))]);
    assert_eq!(dir.state().resources[0].name, "alerts");
}

#[test]
fn a_huge_value_is_quoted_as_an_excerpt_and_fast() {
    let name = "n".repeat(5 * 1024 * 1024);
    let text = format!("apiVersion: driftd/v1\nkind: {name}\nmetadata: {{name: x}}\nspec: {{}}\n");
    let dir = Dir::new(&[("huge.yaml", &text)]);
    let errors = errors_within(20, &dir);
    assert_eq!(errors.len(), 1, "{}", errors.len());
    assert!(errors[0].len() < 300, "{} bytes", errors[0].len());
    assert!(
        errors[0].starts_with("huge.yaml:2:1: kind: unknown kind \"nnnn"),
        "{}",
        &errors[0][..100]
    );
    assert!(errors[0].contains("(5242880 bytes)"), "{}", errors[0]);
}

#[test]
fn control_characters_in_names_and_values_are_shown_escaped() {
    let dir = Dir::new(&[(
        "evil\n\u{1b}[31mname.yaml",
        "apiVersion: driftd/v1\nkind: \"Al\\e[2Jarm\\n\"\n",
    )]);
    let errors = errors_within(10, &dir);
    assert!(
        errors.iter().all(|e| !e.chars().any(char::is_control)),
        "{errors:#?}"
    );
    assert!(
        errors[0].starts_with(
            "evil\\n\\u{1b}[31mname.yaml:2:1: kind: unknown kind \"Al\\u{1b}[2Jarm\\n\""
        ),
        "{errors:#?}"
    );
}

#[test]
fn deep_nesting_is_refused_before_anything_is_built() {
    // 400 KB of nested flow lists (depth 200,000): 69 s before this limit.
    let flow = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    // 10,000 nested mappings: out of memory before this limit. Block style
    // needs an indentation per level, so 3,000 of them stay under 10 MiB.
    let mut block = String::new();
    for depth in 0..3_000 {
        block.push_str(&" ".repeat(depth));
        block.push_str("k:\n");
    }
    let maps = format!("{}1{}", "{k: ".repeat(10_000), "}".repeat(10_000));
    let dir = Dir::new(&[
        ("flow.yaml", &flow),
        ("block.yaml", &block),
        ("maps.yaml", &maps),
    ]);
    let errors = errors_within(30, &dir);
    assert_eq!(
        errors,
        [
            "block.yaml:65:66: nested deeper than 64 levels of mappings and lists",
            "flow.yaml:1:256: nested deeper than 64 levels of mappings and lists",
            "maps.yaml:1:1021: nested deeper than 64 levels of mappings and lists",
        ]
    );
}

#[test]
fn nesting_up_to_the_limit_loads() {
    // A dashboard body 60 levels deep inside its document is still fine.
    let mut value = "1".to_string();
    for _ in 0..58 {
        value = format!("[{value}]");
    }
    let text = format!(
        "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {{name: deep}}\nspec:\n  body: {{widgets: [], deep: {value}}}\n"
    );
    let dir = Dir::new(&[("deep.yaml", &text)]);
    assert_eq!(dir.state().resources.len(), 1);
}

#[test]
fn an_alias_bomb_is_refused_at_its_first_alias() {
    let mut text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_string();
    let mut prev = 'a';
    for name in 'b'..='k' {
        text.push_str(&format!(
            "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
        prev = name;
    }
    let dir = Dir::new(&[("bomb.yaml", &text)]);
    assert_eq!(
        errors_within(20, &dir),
        ["bomb.yaml:2:8: invalid YAML: aliases expand to too many values"]
    );
}

/// Files libyaml (the typed parse) and yaml-rust2 (the position index) read
/// differently, found by the fuzz target: every error keeps its place.
#[test]
fn where_the_two_yaml_parsers_disagree_every_error_keeps_its_place() {
    // A flow mapping continued at column 0 before a later syntax error:
    // libyaml reads the first document whole, yaml-rust2 stops inside it.
    // Refused at the field they read differently, never loaded unplaced.
    let continued = "\
apiVersion: driftd/v1
kind: Alarm
metadata:
    name: cpu
spec:
    namespace: AWS/ECS
    metricName: CPUUtilization
    statistic: Average
    dimensions: {ClusterName: tiktimer----
dev, ServiceName: tiktimer-dev-app}
    period: 300
    evaluationPeriods: 1
    threshold: 85
    comparisonOperator: GreaterThanThreshold
---
: those
";
    let dir = Dir::new(&[("alarms.yaml", continued)]);
    assert_eq!(
        errors_within(10, &dir),
        [
            "alarms.yaml:9:5: invalid YAML: YAML parsers read the documents of this file differently from here on; check quoting, indentation and `---` separators",
            "alarms.yaml:16:1: invalid YAML: did not find expected key, while parsing a block mapping",
        ]
    );

    // serde_yaml stops at a duplicate key in the second document, which the
    // index reads past: the first document's errors keep their lines.
    let duplicate = "\
kind: EcsService
metadata: {name: a}
spec: {cluster: c, desiredCount: 1}
---
apiVersion: driftd/v1
apiVersion: driftd/v1
kind: EcsService
metadata: {name: b}
spec: {cluster: c, desiredCount: 1}
";
    let dir = Dir::new(&[("services.yaml", duplicate)]);
    assert_eq!(
        errors_within(10, &dir),
        [
            "services.yaml:1:1: EcsService a: apiVersion: missing required field",
            "services.yaml:6:1: apiVersion: duplicate key (first at line 5 column 1)",
        ]
    );
}
