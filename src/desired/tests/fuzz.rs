//! The loader's fuzz target: the example desired state (`desired-state/`),
//! mutated by proptest, thousands of cases per run. Every load must end
//! quickly in a valid state or in errors of bounded size that each name
//! their line and column, never a panic, a hang or runaway memory.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::*;

/// The example files, as checked in.
const EXAMPLES: [(&str, &str); 5] = [
    (
        "alarms.yaml",
        include_str!("../../../desired-state/alarms.yaml"),
    ),
    (
        "dashboard.yaml",
        include_str!("../../../desired-state/dashboard.yaml"),
    ),
    (
        "secrets.yaml",
        include_str!("../../../desired-state/secrets.yaml"),
    ),
    (
        "services.yaml",
        include_str!("../../../desired-state/services.yaml"),
    ),
    (
        "topics.yaml",
        include_str!("../../../desired-state/topics.yaml"),
    ),
];

/// Text a hostile or careless edit puts into a YAML file.
const SNIPPETS: &[&str] = &[
    "\n",
    "---\n",
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "<<: *a\n",
    "!custom ",
    "!!binary ",
    "!!str ",
    "1e400",
    ".nan",
    "-.inf",
    "~",
    "null",
    "'",
    "\"",
    "\\",
    "#",
    "\t",
    "\u{feff}",
    "\u{1b}[31m",
    "\0",
    "? ",
    "|\n  ",
    ">-\n  ",
    "%YAML 1.2\n",
    "0x1F",
    "99999999999999999999",
    "bodyFile: /etc/passwd",
    "fromFile: ../../etc/passwd",
    "kind: Bucket",
    "apiVersion: v2",
    "metadata: {name: x}",
    "  ",
    "\u{10ffff}",
    "é",
];

/// One edit of a file's text.
#[derive(Debug, Clone)]
enum Edit {
    Insert {
        at: usize,
        snippet: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    /// A slice of the text copied elsewhere: nesting, duplicate keys.
    Copy {
        from: usize,
        len: usize,
        to: usize,
    },
    /// An ASCII byte replaced by another one.
    Byte {
        at: usize,
        byte: u8,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0..SNIPPETS.len()).prop_map(|(at, snippet)| Edit::Insert { at, snippet }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 1usize..400, any::<usize>()).prop_map(|(from, len, to)| Edit::Copy {
            from,
            len,
            to
        }),
        (any::<usize>(), 0x20u8..0x7f).prop_map(|(at, byte)| Edit::Byte { at, byte }),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, edit: &Edit) {
    match *edit {
        Edit::Insert { at, snippet } => {
            let at = boundary(text, at);
            text.insert_str(at, SNIPPETS[snippet]);
        }
        Edit::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start.saturating_add(len).min(text.len()));
            text.replace_range(start..end.max(start), "");
        }
        Edit::Copy { from, len, to } => {
            let start = boundary(text, from);
            let end = boundary(text, start.saturating_add(len).min(text.len()));
            let piece = text[start..end.max(start)].to_string();
            let to = boundary(text, to);
            text.insert_str(to, &piece);
        }
        Edit::Byte { at, byte } => {
            let at = boundary(text, at);
            if text[at..].chars().next().is_some_and(|c| c.is_ascii()) {
                text.replace_range(at..at + 1, &char::from(byte).to_string());
            }
        }
    }
}

/// The loader's promise for one input.
fn check(dir: &Path) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let loaded = load(dir);
    let took = started.elapsed();
    prop_assert!(took < Duration::from_secs(2), "a load took {took:?}");
    if let Err(LoadErrors(errors)) = loaded {
        prop_assert!(!errors.is_empty());
        for e in &errors {
            prop_assert!(
                e.line.is_some() && e.column.is_some(),
                "an error without its place: {e}"
            );
            prop_assert!(
                e.to_string().len() < 4096,
                "a long message: {} bytes",
                e.to_string().len()
            );
        }
    }
    Ok(())
}

/// Peak resident memory of this process, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn mutated_example_files_load_or_fail_with_located_errors() {
    let cases: u32 = std::env::var("DRIFTD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let dir = Dir::new(&EXAMPLES);
    // The other example files stay as they are: references across files
    // (topic:<name>) and duplicates across files are exercised too.
    let strategy = (0..EXAMPLES.len(), proptest::collection::vec(edit(), 1..8));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(file, edits)| {
        let (name, original) = EXAMPLES[file];
        let mut text = original.to_string();
        for e in &edits {
            apply(&mut text, e);
        }
        fs::write(dir.path().join(name), &text).expect("write");
        let outcome = check(dir.path());
        if outcome.is_err() {
            // The last failing text, to reproduce it by hand (proptest
            // shrinks, so this is the smallest one it found).
            let _ = fs::write(
                std::env::temp_dir().join(format!("driftd-fuzz-{name}")),
                &text,
            );
        }
        fs::write(dir.path().join(name), original).expect("restore");
        outcome
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Thousands of loads of ~19 KB each: memory stays that of a small
    // process (the deep-nesting and alias cases would take gigabytes).
    let peak = peak_rss_kib();
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn the_examples_themselves_load() {
    let dir = Dir::new(&EXAMPLES);
    assert!(!dir.state().resources.is_empty());
}
