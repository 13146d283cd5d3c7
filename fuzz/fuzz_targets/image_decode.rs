//! An uploaded photo: sniff, completeness check, decode under the size and memory limits,
//! orientation, resize, re-encode, EXIF GPS. `process` must answer every input with a result
//! or an error within the limits (libFuzzer's -rss_limit_mb and -timeout catch the rest).
#![no_main]

use std::cell::Cell;

use fangzha::media::process::{self, DISPLAY_EDGE, THUMB_EDGE};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static IN_PROCESS: Cell<bool> = const { Cell::new(false) };
}

fuzz_target!(|data: &[u8]| {
    // The server catches decoder panics inside `process` (they become 422 image_invalid);
    // libFuzzer's panic hook would abort on them before that. Its hook still runs for every
    // other panic: one escaping `process`, or a failed assertion below.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_PROCESS.with(Cell::get) {
                fuzzer_hook(info);
            }
        }));
    });
    IN_PROCESS.with(|f| f.set(true));
    let result = process::process(data, true);
    IN_PROCESS.with(|f| f.set(false));
    if let Ok(p) = result {
        assert!(p.width > 0 && p.height > 0);
        let display = image::load_from_memory(&p.display).expect("display is a JPEG");
        let thumb = image::load_from_memory(&p.thumb).expect("thumb is a JPEG");
        assert!(display.width().max(display.height()) <= DISPLAY_EDGE);
        assert!(thumb.width().max(thumb.height()) <= THUMB_EDGE);
    }
});
