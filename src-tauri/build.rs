//! Tauri's build step, with a permission generated for each of the app's commands so that the
//! capability file can allow exactly the ones the UI calls.

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(&doorstep_commands::COMMANDS)),
    )
    .expect("tauri build step");
}

mod doorstep_commands {
    include!("src/commands.rs");
}
