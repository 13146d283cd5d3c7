//! `fangzha` binary: see `fangzha --help`.

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    actix_web::rt::System::new().block_on(async {
        match fangzha::cli::run().await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("错误 (error): {e:#}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

/// Two glibc malloc arenas instead of eight per core. Database work runs on actix's blocking
/// pool, whose threads change from call to call; each one touched an arena of its own, and
/// every arena kept the freed memory of large reads (a scope's records for a pull's
/// checksum). In the 10-minute soak on SQLite the server grew from 193 to 748 MiB; with two
/// arenas it stayed at 230–250 MiB with the same throughput and no errors
/// (docs/BENCHMARKS.md, "Soak"). Set before any thread starts. `MALLOC_ARENA_MAX` in the
/// environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called once, before any other
        // thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
