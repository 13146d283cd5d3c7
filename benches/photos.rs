//! Photo processing figures (issue 4): thumbnails per second for 12-megapixel JPEGs
//! (4000×3000, noise over gradients, like a phone photo of a wall) through the server's
//! pipeline, next to libvips' `vipsthumbnail` on the same files in the same run, and the
//! peak memory of two concurrent 12 MP decodes. Prints figures; asserts nothing.
//!
//! Every pipeline runs `BENCH_ROUNDS` times (default 3), interleaved with the others so the
//! load of a shared machine falls on all of them alike; the median round counts. Each row
//! gives wall time and CPU time (`getrusage`: this process's threads for ours, the waited
//! children for libvips), since "one thread" is not the whole story: `jpeg-decoder` does its
//! colour conversion on rayon's pool, libvips has its own worker threads.
//!
//! `BENCH_PHOTOS=N` sets the number of files (default 8). `vipsthumbnail` comes from
//! Debian's `libvips-tools` (`scripts/setup --bench` installs it); without it those rows are
//! skipped with a message.

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
    let env = |key: &str, default: usize| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("BENCH_PHOTOS", 8).max(1);
    let rounds = env("BENCH_ROUNDS", 3).max(1);
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
    println!(
        "cores: {cores}; {rounds} rounds, median shown; {}\n",
        load()
    );

    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    // Warm-up: page the code in, start rayon's pool, let the allocator settle.
    process::process(&bytes[0], false).expect("process");
    process::thumbnail(&bytes[0]).expect("thumbnail");
    let out = dir.path().join("vips");
    std::fs::create_dir_all(&out).unwrap();
    let has_vips = vips(&files[..1], &out, 320, 1).is_some();

    let mut rows: Vec<Row> = vec![
        Row::new("fangzha `thumbnail`", "thumb 320", "1"),
        Row::new("fangzha `thumbnail`", "thumb 320", &cores.to_string()),
        Row::new("fangzha `process`", "display 1600 + thumb 320", "1"),
        Row::new(
            "fangzha `process`",
            "display 1600 + thumb 320",
            &cores.to_string(),
        ),
    ];
    if has_vips {
        rows.extend([
            Row::new("vipsthumbnail -s 320", "thumb 320", "1"),
            Row::new(
                "vipsthumbnail -s 320",
                "thumb 320",
                &format!("{cores} processes"),
            ),
            Row::new("vipsthumbnail -s 320", "thumb 320", "libvips default"),
            Row::new(
                "vipsthumbnail -s 1600, then -s 320",
                "display 1600 + thumb 320",
                "1",
            ),
            Row::new(
                "vipsthumbnail -s 1600, then -s 320",
                "display 1600 + thumb 320",
                &format!("{cores} processes"),
            ),
        ]);
    } else {
        println!(
            "vipsthumbnail not found: `scripts/setup --bench` (or apt-get install libvips-tools) \
             for the comparison rows\n"
        );
    }
    for _ in 0..rounds {
        rows[0].add(ours(|| {
            for b in &bytes {
                process::thumbnail(b).expect("thumbnail");
            }
        }));
        rows[1].add(ours(|| {
            spread(&bytes, cores, |b| {
                process::thumbnail(b).expect("thumbnail");
            })
        }));
        rows[2].add(ours(|| {
            for b in &bytes {
                process::process(b, false).expect("process");
            }
        }));
        rows[3].add(ours(|| {
            spread(&bytes, cores, |b| {
                process::process(b, false).expect("process");
            })
        }));
        if has_vips {
            rows[4].add(vips(&files, &out, 320, 1).expect("vipsthumbnail"));
            rows[5].add(vips_parallel(&files, &out, &[320], cores));
            rows[6].add(vips(&files, &out, 320, 0).expect("vipsthumbnail"));
            let display = vips(&files, &out, 1600, 1).expect("vipsthumbnail");
            let thumb = vips(&files, &out, 320, 1).expect("vipsthumbnail");
            rows[7].add(display.plus(thumb));
            rows[8].add(vips_parallel(&files, &out, &[1600, 320], cores));
        }
    }

    println!("| pipeline | variants made | threads | photos/s | wall ms/photo | CPU ms/photo |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        let t = row.median();
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.0} |",
            row.name,
            row.work,
            row.threads,
            n as f64 / t.wall.as_secs_f64(),
            t.wall.as_secs_f64() * 1000.0 / n as f64,
            t.cpu.as_secs_f64() * 1000.0 / n as f64
        );
    }
    if has_vips {
        let rate = |i: usize| n as f64 / rows[i].median().wall.as_secs_f64();
        let cpu = |i: usize| rows[i].median().cpu.as_secs_f64();
        // libvips at its best with all cores: one process per core or its own threading.
        let vips_thumb_all = rate(5).max(rate(6));
        println!(
            "\nthumbnails per second, fangzha / libvips (target ≥ 0.7): {:.2} on 1 thread, \
             {:.2} with all cores; by CPU time per photo {:.2}",
            rate(0) / rate(4),
            rate(1) / vips_thumb_all,
            cpu(4) / cpu(0)
        );
        println!(
            "whole upload (display + thumb) against libvips' thumb alone: {:.2} on 1 thread, \
             {:.2} with all cores",
            rate(2) / rate(4),
            rate(3) / vips_thumb_all
        );
        println!(
            "whole upload against libvips making the same two variants: {:.2} on 1 thread, \
             {:.2} with all cores; by CPU time {:.2}",
            rate(2) / rate(7),
            rate(3) / rate(8),
            cpu(7) / cpu(2)
        );
    }
    println!("{}", load());

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

/// One pipeline's rounds.
struct Row {
    name: String,
    work: String,
    threads: String,
    times: Vec<Times>,
}

impl Row {
    fn new(name: &str, work: &str, threads: &str) -> Row {
        Row {
            name: name.into(),
            work: work.into(),
            threads: threads.into(),
            times: Vec::new(),
        }
    }

    fn add(&mut self, t: Times) {
        self.times.push(t);
    }

    /// The round with the median wall time.
    fn median(&self) -> Times {
        let mut sorted = self.times.clone();
        sorted.sort_by_key(|t| t.wall);
        sorted[sorted.len() / 2]
    }
}

#[derive(Clone, Copy)]
struct Times {
    wall: Duration,
    cpu: Duration,
}

impl Times {
    fn plus(self, other: Times) -> Times {
        Times {
            wall: self.wall + other.wall,
            cpu: self.cpu + other.cpu,
        }
    }
}

/// User + system CPU time of this process (`RUSAGE_SELF`, all its threads) or of its waited
/// children (`RUSAGE_CHILDREN`).
fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Wall and CPU time of work done in this process.
fn ours(f: impl FnOnce()) -> Times {
    let (c, t) = (cpu(libc::RUSAGE_SELF), Instant::now());
    f();
    Times {
        wall: t.elapsed(),
        cpu: cpu(libc::RUSAGE_SELF) - c,
    }
}

/// Runs `each` over the items on `threads` threads, item `i` on thread `i % threads`.
fn spread(items: &[Vec<u8>], threads: usize, each: impl Fn(&[u8]) + Sync) {
    std::thread::scope(|s| {
        for t in 0..threads {
            let each = &each;
            s.spawn(move || items.iter().skip(t).step_by(threads).for_each(|b| each(b)));
        }
    });
}

fn vips_command(files: &[PathBuf], out: &Path, size: u32) -> Command {
    let mut cmd = Command::new("vipsthumbnail");
    cmd.arg("-s")
        .arg(size.to_string())
        .arg("-o")
        .arg(format!("{}/%s_{size}.jpg[Q=80]", out.display()))
        .args(files);
    cmd
}

/// Runs `vipsthumbnail` over all files in one process (its start-up counted once), with
/// `VIPS_CONCURRENCY=threads` unless 0 (libvips' default). `None` when it is not installed.
fn vips(files: &[PathBuf], out: &Path, size: u32, threads: usize) -> Option<Times> {
    let mut cmd = vips_command(files, out, size);
    if threads > 0 {
        cmd.env("VIPS_CONCURRENCY", threads.to_string());
    }
    let (c, t) = (cpu(libc::RUSAGE_CHILDREN), Instant::now());
    let status = cmd.status().ok()?;
    let times = Times {
        wall: t.elapsed(),
        cpu: cpu(libc::RUSAGE_CHILDREN) - c,
    };
    status.success().then_some(times)
}

/// `processes` single-threaded `vipsthumbnail` processes at once, each over its share of the
/// files, making each size in `sizes` one after the other — how a server with one libvips
/// worker per core would go.
fn vips_parallel(files: &[PathBuf], out: &Path, sizes: &[u32], processes: usize) -> Times {
    let (c, t) = (cpu(libc::RUSAGE_CHILDREN), Instant::now());
    std::thread::scope(|s| {
        for p in 0..processes {
            let share: Vec<PathBuf> = files.iter().skip(p).step_by(processes).cloned().collect();
            s.spawn(move || {
                for &size in sizes {
                    if share.is_empty() {
                        continue;
                    }
                    let status = vips_command(&share, out, size)
                        .env("VIPS_CONCURRENCY", "1")
                        .status()
                        .expect("vipsthumbnail");
                    assert!(status.success(), "vipsthumbnail failed");
                }
            });
        }
    });
    Times {
        wall: t.elapsed(),
        cpu: cpu(libc::RUSAGE_CHILDREN) - c,
    }
}

/// The 1-minute load average, so a reader can judge how busy the machine was.
fn load() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "load average {}",
        avg.split_whitespace().next().unwrap_or("?")
    )
}

/// Processes two photos on two threads at once and reports the process's peak resident set.
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
        "peak memory, {} concurrent {W}×{H} photos through `process`: VmHWM {:.0} MiB \
         ({:.0} MiB before decoding, file bytes included)",
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
