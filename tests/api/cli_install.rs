//! What a user installing Machinist gets from the binary alone (issue 18,
//! items 1 and 13): the shipped configuration example and systemd unit,
//! shell completions and the manual page, and the .deb's generated assets.

use std::collections::BTreeSet;
use std::process::Command;

use crate::harness::process::BIN;

/// Runs the binary with `args`; its stdout, after checking it exited 0
/// with nothing on stderr.
fn stdout_of(args: &[&str]) -> Vec<u8> {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "machinist {args:?}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn repo_file(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn print_config_example_prints_the_repos_file() {
    assert_eq!(
        stdout_of(&["print-config-example"]),
        repo_file("config/machinist.example.toml")
    );
}

#[test]
fn print_unit_prints_the_repos_file() {
    assert_eq!(
        stdout_of(&["print-unit"]),
        repo_file("config/machinist.service")
    );
}

/// They read no configuration: a broken one does not stop them.
#[test]
fn printing_shipped_files_needs_no_configuration() {
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/machinist.toml", "print-unit"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn completions_name_the_subcommands_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = String::from_utf8(stdout_of(&["completions", shell])).unwrap();
        assert!(!script.trim().is_empty(), "{shell}");
        for word in ["jobs", "groups", "schedules", "print-config-example"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let out = Command::new(BIN)
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn man_prints_a_roff_page() {
    let page = String::from_utf8(stdout_of(&["man"])).unwrap();
    assert!(page.contains(".TH"), "{page}");
    assert!(page.contains("machinist"));
    assert!(page.contains("jobs"), "the page lists the subcommands");
}

/// The README installs with the lock file and names the printing commands.
#[test]
fn the_readme_installs_with_the_lock_file() {
    let readme = String::from_utf8(repo_file("README.md")).unwrap();
    for line in readme.lines().filter(|l| l.contains("cargo install --")) {
        assert!(line.contains("--locked"), "README: {line}");
    }
    for command in ["machinist print-config-example", "machinist print-unit"] {
        assert!(readme.contains(command), "README lacks {command}");
    }
}

/// packaging/gen-assets.sh writes every asset of the .deb under
/// target/assets/ (cargo-deb refuses a missing one), each non-empty.
#[test]
fn gen_assets_writes_every_generated_deb_asset() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{}/packaging/gen-assets.sh", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(&script)
        .arg(BIN)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let manifest: toml::Table = String::from_utf8(repo_file("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let assets = manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap();
    let mut wanted = BTreeSet::new();
    let mut installed = BTreeSet::new();
    for asset in assets {
        let source = asset[0].as_str().unwrap();
        installed.insert(asset[1].as_str().unwrap().to_string());
        if let Some(name) = source.strip_prefix("target/assets/") {
            wanted.insert(name.to_string());
        }
    }
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(written, wanted);
    for name in &written {
        assert!(
            std::fs::metadata(dir.path().join(name)).unwrap().len() > 0,
            "{name}"
        );
    }
    for target in [
        "usr/share/bash-completion/completions/machinist",
        "usr/share/zsh/vendor-completions/_machinist",
        "usr/share/fish/vendor_completions.d/machinist.fish",
        "usr/share/man/man1/machinist.1",
    ] {
        assert!(installed.contains(target), "the .deb lacks {target}");
    }
}
