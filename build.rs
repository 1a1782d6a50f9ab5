// `sqlx::migrate!` embeds the migrations at compile time; rebuild when they change.
// The knowledge base in `faq/` is built into the binary too (an installed `minsheng` works from
// any directory): every `faq/*.toml` is listed here for `include_str!`.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=faq");
    println!("cargo:rerun-if-changed=tests/data");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let faq = Path::new(&manifest).join("faq");
    let mut names: Vec<String> = std::fs::read_dir(&faq)
        .expect("faq/ is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let mut out = String::from("pub const FILES: &[(&str, &str)] = &[\n");
    for name in names {
        let path = faq.join(&name);
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("faq.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
    regression_sets(Path::new(&manifest));
}

/// The matcher's regression sets (`tests/data/*.tsv`), built in so that `/teach` can refuse a
/// phrasing that would change the answer to one of their cases.
fn regression_sets(manifest: &Path) {
    let data = manifest.join("tests").join("data");
    let mut names: Vec<String> = std::fs::read_dir(&data)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tsv"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from("pub const SETS: &[(&str, &str)] = &[\n");
    for name in names {
        let path = data.join(&name);
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("regression.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
