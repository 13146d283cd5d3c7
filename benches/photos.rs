//! Photo processing figures (issue 4): thumbnails per second for 12-megapixel JPEGs
//! (4000×3000, noise over gradients, like a phone photo of a wall) through the server's
//! pipeline, next to libvips' `vipsthumbnail` on the same files in the same run, and the
//! peak memory of two concurrent 12 MP decodes. Prints figures; asserts nothing.
//!
//! `BENCH_PHOTOS=N` sets the number of files (default 8). `vipsthumbnail` comes from
//! Debian's `libvips-tools`; without it that column is skipped with a message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fangzha::media::process;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

const W: u32 = 4000;
const H: u32 = 3000;

fn main() {
    // Child mode: measure peak memory in a fresh process, so nothing earlier counts.
    if let Ok(files) = std::env::var("PHOTOS_BENCH_MEMORY") {
        memory_child(&files);
        return;
    }
    let n: usize = std::env::var("BENCH_PHOTOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let files: Vec<PathBuf> = (0..n).map(|i| write_photo(dir.path(), i as u32)).collect();
    let sizes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!(
        "photos: {n} JPEGs of {W}×{H} (q90, {:.1} MB on average), made in {:.1} s",
        sizes as f64 / n as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("cores: {cores}\n");

    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    // Warm-up: page the code in and let the allocator settle.
    process::process(&bytes[0], false).expect("process");

    let ours_1 = time(|| {
        for b in &bytes {
            process::process(b, false).expect("process");
        }
    });
    let ours_n = time(|| {
        std::thread::scope(|s| {
            for t in 0..cores {
                let bytes = &bytes;
                s.spawn(move || {
                    for b in bytes.iter().skip(t).step_by(cores) {
                        process::process(b, false).expect("process");
                    }
                });
            }
        });
    });
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("| pipeline | threads | photos/s | ms/photo |");
    println!("|---|---|---|---|");
    let row = |name: &str, threads: String, d: Duration| {
        println!(
            "| {name} | {threads} | {:.2} | {:.0} |",
            rate(d),
            d.as_secs_f64() * 1000.0 / n as f64
        );
    };
    row(
        "fangzha (decode, orient, display 1600 + thumb 320, 2 JPEG encodes)",
        "1".into(),
        ours_1,
    );
    row("fangzha", cores.to_string(), ours_n);

    let out = dir.path().join("vips");
    std::fs::create_dir_all(&out).unwrap();
    match vips(&files, &out, Some(1)) {
        Some(v1) => {
            row(
                "vipsthumbnail -s 320 (thumb only, shrink-on-load)",
                "1".into(),
                v1,
            );
            let vn = vips(&files, &out, None).expect("vipsthumbnail ran once already");
            row("vipsthumbnail", "libvips default".into(), vn);
            println!(
                "\nratio fangzha / libvips: {:.2} single-threaded, {:.2} with all cores (target ≥ 0.7)",
                rate(ours_1) / rate(v1),
                rate(ours_n) / rate(vn)
            );
        }
        None => println!(
            "\nvipsthumbnail not found: install Debian's libvips-tools for the comparison column"
        ),
    }

    let list = files[..2.min(n)]
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let child = Command::new(std::env::current_exe().unwrap())
        .env("PHOTOS_BENCH_MEMORY", list)
        .output()
        .expect("memory child");
    print!("\n{}", String::from_utf8_lossy(&child.stdout));
    if !child.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&child.stderr));
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Runs `vipsthumbnail` over all files in one process (its start-up counted once), with
/// `VIPS_CONCURRENCY` when given. `None` when it is not installed.
fn vips(files: &[PathBuf], out: &Path, threads: Option<usize>) -> Option<Duration> {
    let mut cmd = Command::new("vipsthumbnail");
    cmd.arg("-s")
        .arg("320")
        .arg("-o")
        .arg(format!("{}/%s_thumb.jpg[Q=80]", out.display()))
        .args(files);
    if let Some(t) = threads {
        cmd.env("VIPS_CONCURRENCY", t.to_string());
    }
    let t = Instant::now();
    let status = cmd.status().ok()?;
    let d = t.elapsed();
    status.success().then_some(d)
}

/// Decodes and processes two photos at once and reports the process's peak resident set.
fn memory_child(files: &str) {
    let bytes: Vec<Vec<u8>> = files
        .split(':')
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let before = vm("VmHWM");
    std::thread::scope(|s| {
        for b in &bytes {
            s.spawn(move || process::process(b, false).expect("process"));
        }
    });
    let after = vm("VmHWM");
    println!(
        "peak memory, {} concurrent {W}×{H} decodes: VmHWM {:.0} MiB ({:.0} MiB before decoding, \
         file bytes included)",
        bytes.len(),
        after / 1024.0,
        before / 1024.0
    );
}

/// A /proc/self/status value in KiB.
fn vm(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// A photo-like 12 MP JPEG: smooth gradients with a few shapes and sensor-like noise, so the
/// encoder and decoder see realistic entropy (flat synthetic images decode unrealistically
/// fast).
fn write_photo(dir: &Path, seed: u32) -> PathBuf {
    let mut state = 0x9E37_79B9u32 ^ seed.wrapping_mul(0x85EB_CA6B);
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state >> 24) as i32 - 128
    };
    let img = RgbImage::from_fn(W, H, |x, y| {
        let fx = x as f32 / W as f32;
        let fy = y as f32 / H as f32;
        let wave = ((fx * 9.0 + seed as f32).sin() * (fy * 7.0).cos() * 40.0) as i32;
        let shape = if (x / 500 + y / 400 + seed).is_multiple_of(5) {
            60
        } else {
            0
        };
        let n = noise() / 10;
        let c = |base: f32, k: i32| (base + (wave + shape + n + k) as f32).clamp(0.0, 255.0) as u8;
        Rgb([
            c(90.0 + 100.0 * fx, 0),
            c(120.0 + 60.0 * fy, 8),
            c(160.0 - 80.0 * fx * fy, -8),
        ])
    });
    let path = dir.join(format!("photo{seed}.jpg"));
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    std::fs::write(&path, out).unwrap();
    path
}
