//! HLC parsing: any accepted string prints back exactly as it came, and a clock that
//! observes it issues a later timestamp.
#![no_main]

use fangzha::sync::hlc::{Clock, Hlc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Some(h) = Hlc::parse(s) else {
        return;
    };
    assert_eq!(h.to_string(), s);
    let mut clock = Clock::new("server");
    clock.observe(&h, 1_796_083_200_000);
    let next = clock.tick(1_796_083_200_000);
    assert!(next.to_string().as_str() > &s[..21], "{next} after {s}");
});
