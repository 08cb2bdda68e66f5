//! Inputs fuzzing found that once crashed a decoder a peer can reach, kept so they never do
//! again. Each file is named after its fuzz target; each must be refused or read, not panic.

use std::path::Path;

use doorstep_doc::decode::load_document;
use doorstep_doc::{check_document, DocId};
use doorstep_domain::Id;

#[test]
fn every_kept_crash_input_is_refused_without_a_panic() {
    // A panic inside the guarded decoders is caught; silence its report for this test.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("document_load") {
            if let Ok(doc) = load_document(&bytes) {
                let _ = check_document(DocId::Group(Id::from_u128(1)), &doc);
            }
        } else if name.starts_with("change_checker") {
            doorstep_doc::fuzzing::change_checker(&bytes);
        }
        seen += 1;
    }
    let _ = std::panic::take_hook();
    assert!(seen > 0);
}

/// The first: a document whose column data makes Automerge's LEB128 decoding unwrap.
#[test]
fn a_document_that_panicked_automerge_is_refused() {
    std::panic::set_hook(Box::new(|_| {}));
    let bytes = include_bytes!("fuzz-regressions/document_load-3b793feb");
    let refused = load_document(bytes);
    let _ = std::panic::take_hook();
    assert!(refused.is_err());
}

/// Changes that, applied to a group document, once panicked outside the guarded decoders.
#[test]
fn changes_that_panicked_the_checker_are_refused() {
    // Applied, these changes left a document whose change graph Automerge unwrapped on when
    // asked for the new changes; that now runs guarded (`decode::changes_since`).
    std::panic::set_hook(Box::new(|_| {}));
    let bytes = include_bytes!("fuzz-regressions/change_checker-393857a3");
    doorstep_doc::fuzzing::change_checker(bytes);
    let _ = std::panic::take_hook();
}
