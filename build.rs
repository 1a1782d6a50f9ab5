// `sqlx::migrate!` embeds the migrations at compile time; rebuild when they change.
// The knowledge base in `faq/` is built into the binary too (an installed `minsheng` works from
// any directory), and so are the matcher's regression sets in `tests/data/` (`/teach` refuses a
// phrasing that would change the answer to one of their cases): each file is listed here for
// `include_str!`.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=faq");
    println!("cargo:rerun-if-changed=tests/data");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let manifest = Path::new(&manifest);
    embed(&manifest.join("faq"), ".toml", "FILES", "faq.rs");
    embed(
        &manifest.join("tests").join("data"),
        ".tsv",
        "SETS",
        "regression.rs",
    );
}

/// Writes `OUT_DIR/out_file` declaring `name`: every file of `dir` ending in `ext`, as
/// (file name, text), sorted by name.
fn embed(dir: &Path, ext: &str, name: &str, out_file: &str) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(ext))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = format!("pub const {name}: &[(&str, &str)] = &[\n");
    for file in names {
        let path = dir.join(&file);
        writeln!(
            out,
            "    ({file:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(out_file);
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
