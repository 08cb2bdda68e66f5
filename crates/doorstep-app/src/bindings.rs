//! The UI's TypeScript: every type a command takes or gives (from the Rust types, by ts-rs),
//! every error code, and one typed function per command (from the one list,
//! `for_each_command!`). Nothing the UI and Rust share is written twice by hand.
//!
//! `ui/src/bindings.ts` is this module's output, committed; a test fails when it is stale, and
//! `bash scripts/bindings.sh` writes it anew.

use std::collections::BTreeMap;

use doorstep_domain::ErrorCode;
use ts_rs::{Config, TypeVisitor, TS};

use crate::command_types::*;

/// The named types reached from the commands, each declared once, by name (ts-rs visits
/// dependencies in no fixed order, and the file must not change from run to run).
struct Declarations {
    cfg: Config,
    out: BTreeMap<String, String>,
}

impl TypeVisitor for Declarations {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        // Only named types are declared (`ident` panics for maps).
        if T::output_path().is_some() {
            let name = T::ident(&self.cfg);
            if !self.out.contains_key(&name) {
                let docs = T::docs().unwrap_or_default();
                let decl = T::decl(&self.cfg);
                self.out.insert(name, format!("{docs}export {decl}"));
                T::visit_dependencies(self);
            }
        }
        T::visit_generics(self);
    }
}

/// `hub_url` → `hubUrl`: how Tauri names a command's arguments on the JavaScript side.
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn command(name: &str, args: &[(&str, String)], answer: &str) -> String {
    let params: Vec<String> = args
        .iter()
        .map(|(arg, ty)| format!("{}: {ty}", camel(arg)))
        .collect();
    let passed = if args.is_empty() {
        String::new()
    } else {
        let keys: Vec<String> = args.iter().map(|(arg, _)| camel(arg)).collect();
        format!(", {{ {} }}", keys.join(", "))
    };
    format!(
        "  {}: ({}) => invoke<{answer}>('{name}'{passed}),",
        camel(name),
        params.join(", ")
    )
}

macro_rules! typescript_commands {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {{
        let mut types = Declarations {
            cfg: Config::new().with_large_int("number"),
            out: BTreeMap::new(),
        };
        let mut functions = Vec::new();
        $(
            $( types.visit::<$ty>(); )*
            types.visit::<$ret>();
            functions.push(command(
                stringify!($name),
                &[$((stringify!($arg), <$ty as TS>::name(&types.cfg))),*],
                &<$ret as TS>::name(&types.cfg),
            ));
        )*
        types.visit::<ErrorCode>();
        (types.out.into_values().collect::<Vec<_>>(), functions)
    }};
}

/// The whole of `ui/src/bindings.ts`.
pub fn typescript() -> String {
    let (types, functions) = crate::for_each_command!(typescript_commands);
    let codes: Vec<String> = ErrorCode::all().iter().map(|c| format!("'{c}'")).collect();
    format!(
        "// Generated from the Rust types and the app's one list of commands \
         (crates/doorstep-app/src/bindings.rs):\n\
         // do not edit; run `bash scripts/bindings.sh` after changing them.\n\
         import {{ invoke }} from '@tauri-apps/api/core'\n\n\
         {}\n\n\
         /** Every code a refusal can carry, in the order Rust declares them. */\n\
         export const ERROR_CODES: readonly ErrorCode[] = [\n  {},\n]\n\n\
         /** What a failed command rejects with. */\n\
         export type CommandError = {{ code: ErrorCode, message: string }};\n\n\
         /** The app's commands, one typed function each. */\n\
         export const commands = {{\n{}\n}}\n",
        types.join("\n\n"),
        codes.join(",\n  "),
        functions.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The committed bindings are what the Rust types and the command list say today.
    /// `DOORSTEP_BLESS=1` (what `scripts/bindings.sh` sets) writes them instead.
    #[test]
    fn the_ui_bindings_are_current() -> Result<(), Box<dyn std::error::Error>> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings.ts");
        let wanted = super::typescript();
        if std::env::var_os("DOORSTEP_BLESS").is_some() {
            std::fs::write(&path, &wanted)?;
        }
        let found = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            found == wanted,
            "ui/src/bindings.ts is stale: run `bash scripts/bindings.sh`"
        );
        Ok(())
    }

    #[test]
    fn arguments_are_named_as_tauri_passes_them() {
        assert_eq!(super::camel("hub_url"), "hubUrl");
        assert_eq!(super::camel("id"), "id");
    }
}
