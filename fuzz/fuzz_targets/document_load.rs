//! A whole document from a peer (a hub's snapshot, a ward imported into a hub): loading,
//! checking its identity and checking it whole must refuse or accept, never take the process
//! down.
#![no_main]

use doorstep_doc::decode::load_document;
use doorstep_doc::{check_document, check_identity, read_households, read_visits, read_ward, DocId};
use doorstep_domain::Id;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Automerge's own panics on malformed bytes are caught by `load_document` (as in the
    // hub and the app); only a panic that escapes it is a crash here.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(doc) = load_document(data) else {
        return;
    };
    let id = Id::from_u128(1);
    for doc_id in [DocId::Ward(id), DocId::Group(id), DocId::Point(id)] {
        let _ = check_identity(doc_id, &doc);
        let _ = check_document(doc_id, &doc);
    }
    let _ = read_ward(id, &doc);
    let _ = read_households(&doc, id);
    let _ = read_visits(&doc, id);
});
