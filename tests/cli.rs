//! The installed binary at the command line: the knowledge base is built in, so `minsheng ask`
//! works from any directory; `FAQ_DIR` overrides it for editors; a mistake is one clear line,
//! never a backtrace.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_minsheng");

/// The binary run in `dir` with nothing from the developer's environment.
fn minsheng(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // A backtrace would show if anything panicked; none may.
        .env("RUST_BACKTRACE", "1");
    cmd
}

#[test]
fn ask_works_from_an_empty_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = minsheng(dir.path())
        .args(["ask", "托位"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("托位"), "{stdout}");
    assert!(
        stdout.contains("第7项") || stdout.contains("托育"),
        "{stdout}"
    );

    let out = minsheng(dir.path())
        .args(["check-faq"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("faq/ (built in)") && stdout.contains("the 2024 list"),
        "{stdout}"
    );
}

#[test]
fn faq_dir_overrides_the_built_in_base() {
    let dir = tempfile::tempdir().expect("temp dir");
    let faq = dir.path().join("faq");
    std::fs::create_dir(&faq).expect("faq dir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    for name in ["policy.toml", "synonyms.toml", "tasks.toml"] {
        std::fs::copy(src.join(name), faq.join(name)).expect("copy");
    }
    // An editor's mistake: a task without its number.
    let tasks = std::fs::read_to_string(faq.join("tasks.toml")).expect("read");
    let broken = tasks.replacen("number = 14\n", "", 1);
    assert_ne!(tasks, broken);
    std::fs::write(faq.join("tasks.toml"), broken).expect("write");

    let out = minsheng(dir.path())
        .env("FAQ_DIR", &faq)
        .args(["ask", "托位"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("minsheng: "), "{stderr}");
    assert!(
        stderr.contains("tasks.toml") && stderr.contains("task14") && stderr.contains("number"),
        "names the file, entry and field: {stderr}"
    );
    assert!(
        !stderr.contains("backtrace") && !stderr.contains("panicked"),
        "{stderr}"
    );

    // Mended, the editor's copy is the one used.
    std::fs::write(faq.join("tasks.toml"), tasks).expect("write");
    let out = minsheng(dir.path())
        .env("FAQ_DIR", &faq)
        .args(["check-faq"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(&faq.display().to_string()), "{stdout}");
}

#[test]
fn a_bad_setting_is_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = minsheng(dir.path())
        .env("DATABASE_URL", "mysql://nobody@localhost/x")
        .args(["ask", "托位"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
