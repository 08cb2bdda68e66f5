//! The desktop entry point of the Doorstep app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    doorstep_tauri::run()
}
