//! Canonical JSON import never panics; whatever it accepts re-exports to a document that
//! imports to the same snapshot (the export is a fixed point).
#![no_main]

use idm_model::export::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Snapshot::from_json(data) {
        let json = s.to_json().expect("a validated snapshot serialises");
        let again = Snapshot::from_json(json.as_bytes()).expect("an export imports");
        assert_eq!(again.to_json().expect("serialises"), json);
    }
});
