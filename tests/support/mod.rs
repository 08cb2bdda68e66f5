//! Runs the real `doorstep` binary on real SQLite files in a temporary directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_doorstep");

/// A device: a temporary directory holding one database.
pub struct Device {
    pub dir: TempDir,
    pub db: PathBuf,
}

impl Device {
    pub fn new() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let db = dir.path().join("device.sqlite");
        Device { dir, db }
    }

    /// A device with a ward of two residential groups.
    pub fn with_ward() -> Self {
        let d = Self::new();
        d.ok(&[
            "ward",
            "init",
            "--name",
            "Phường Cửa Nam",
            "--group",
            "Tổ 1",
            "--group",
            "Tổ 2",
        ]);
        d
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--db").arg(&self.db).args(args);
        c.env_remove("DOORSTEP_DB").env_remove("DOORSTEP_VOLUNTEER");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run doorstep")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "doorstep {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command with `--json` that must succeed; returns the one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        let text = self.ok(&with_json);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Runs a command that must fail: exit code, and the single stderr line.
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "doorstep {args:?} should have failed"
        );
        assert!(out.stdout.is_empty(), "a failed command printed on stdout");
        let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "stderr should be one line: {stderr:?}"
        );
        (
            out.status.code().unwrap_or(-1),
            stderr.trim_end().to_string(),
        )
    }

    /// Everything the device holds, as the CLI shows it.
    pub fn state(&self) -> Value {
        serde_json::json!({
            "households": self.json(&["household", "list"]),
            "visits": self.json(&["visit", "list"]),
            "points": self.json(&["point", "list"]),
            "report": self.json(&["report", "--today", "2026-11-25"]),
        })
    }

    pub fn add_household(&self, group: &str, alley: &str, number: &str) -> String {
        let h = self.json(&[
            "household",
            "add",
            "--group",
            group,
            "--alley",
            alley,
            "--number",
            number,
        ]);
        h["id"].as_str().expect("household id").to_string()
    }
}
