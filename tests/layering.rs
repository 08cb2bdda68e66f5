//! The layering rules of ARCHITECTURE.md, checked on the resolved dependency graph (`cargo
//! metadata`), so that a rule broken by a new dependency fails here rather than in review:
//! only `src-tauri` uses tauri, only the hub uses axum, the hub links neither the device
//! store nor an HTTP client, and the domain, document, protocol and print crates do no IO.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// Each package's normal (not dev, not build) dependencies, by name.
struct Graph {
    deps: HashMap<String, BTreeSet<String>>,
}

impl Graph {
    fn load() -> Graph {
        // This machine's platform only: other platforms' crates need not be downloaded.
        let rustc = std::process::Command::new("rustc")
            .arg("-vV")
            .output()
            .expect("rustc -vV runs");
        let host = String::from_utf8_lossy(&rustc.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
            .expect("rustc names its host");
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--offline"])
            .args(["--filter-platform", &host])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
        let names: HashMap<&str, &str> = meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap_or(""),
                    p["name"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let mut deps = HashMap::new();
        for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
            let name = names[node["id"].as_str().unwrap_or("")].to_string();
            let normal: BTreeSet<String> = node["deps"]
                .as_array()
                .expect("deps")
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
                })
                .map(|d| names[d["pkg"].as_str().unwrap_or("")].to_string())
                .collect();
            deps.entry(name)
                .or_insert_with(BTreeSet::new)
                .extend(normal);
        }
        Graph { deps }
    }

    fn direct(&self, package: &str) -> &BTreeSet<String> {
        &self.deps[package]
    }

    /// Everything `package` links, directly or through other crates.
    fn reaches(&self, package: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![package.to_string()];
        while let Some(p) = todo.pop() {
            for d in self.deps.get(&p).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    }
}

const OURS: &[&str] = &[
    "doorstep-domain",
    "doorstep-doc",
    "doorstep-proto",
    "doorstep-print",
    "doorstep-store",
    "doorstep-sync",
    "doorstep-hub",
    "doorstep-app",
    "doorstep-cli",
    "doorstep-bench",
    "doorstep-tauri",
];

#[test]
fn only_the_shell_uses_tauri_and_only_the_hub_uses_axum() {
    let g = Graph::load();
    for package in OURS {
        let direct = g.direct(package);
        assert_eq!(
            direct.contains("tauri"),
            *package == "doorstep-tauri",
            "{package} and tauri"
        );
        assert_eq!(
            direct.contains("axum"),
            *package == "doorstep-hub",
            "{package} and axum"
        );
        if *package != "doorstep-tauri" {
            assert!(
                !g.reaches(package).contains("tauri"),
                "{package} reaches tauri"
            );
        }
    }
}

#[test]
fn the_hub_links_neither_the_device_store_nor_an_http_client() {
    let reached = Graph::load().reaches("doorstep-hub");
    for forbidden in ["doorstep-store", "doorstep-sync", "reqwest"] {
        assert!(
            !reached.contains(forbidden),
            "doorstep-hub reaches {forbidden}"
        );
    }
}

#[test]
fn domain_document_protocol_and_print_crates_do_no_io() {
    let g = Graph::load();
    let io = [
        "rusqlite",
        "reqwest",
        "tokio",
        "axum",
        "hyper",
        "tauri",
        "doorstep-store",
    ];
    for package in [
        "doorstep-domain",
        "doorstep-doc",
        "doorstep-proto",
        "doorstep-print",
    ] {
        let reached = g.reaches(package);
        for forbidden in io {
            assert!(
                !reached.contains(forbidden),
                "{package} reaches {forbidden}"
            );
        }
        // Nor through the standard library: no files, sockets or processes in their source.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(package)
            .join("src");
        for entry in std::fs::read_dir(&dir).expect("source directory") {
            let path = entry.expect("source file").path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for word in ["std::fs", "std::net", "std::process", "File::"] {
                assert!(!text.contains(word), "{} uses {word}", path.display());
            }
        }
    }
    assert!(!g.reaches("doorstep-proto").contains("doorstep-store"));
}
