//! Tauri's build step, with a permission generated for each of the app's commands (from the
//! app's one list, `crates/doorstep-app/src/commands.rs`) so that the capability file can
//! allow exactly the ones the UI calls.

include!("../crates/doorstep-app/src/commands.rs");

macro_rules! command_names {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        [$(stringify!($name)),*]
    };
}

/// The commands, for as long as the build step needs them.
static COMMANDS: &[&str] = &for_each_command!(command_names);

fn main() {
    println!("cargo:rerun-if-changed=../crates/doorstep-app/src/commands.rs");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step");
}
