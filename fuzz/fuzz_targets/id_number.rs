//! Resident ID numbers (GB 11643): the check never panics, an accepted number has the
//! check character `id_check_char` computes, and masking keeps the length.
#![no_main]

use fangzha::domain::identity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let result = identity::check_id_number(s, (2026, 12, 1));
    if result.is_ok() {
        assert_eq!(s.len(), 18);
        assert_eq!(identity::id_check_char(&s[..17]), s.as_bytes()[17] as char);
    }
    if s.len() >= 17 && s.is_char_boundary(17) {
        let _ = identity::id_check_char(&s[..17]);
    }
    assert_eq!(
        identity::mask_id_number(s).chars().count(),
        s.chars().count()
    );
    let _ = identity::check_phone(s);
    let _ = identity::mask_phone(s);
});
