// The Tauri commands the UI calls, typed: everything here is generated from Rust
// (bindings.ts); this file only names it for the screens.
export * from './bindings'
export { commands as api } from './bindings'
export { errorText } from './errors'
