//! `fangzha` binary: see `fangzha --help`.

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match fangzha::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 (error): {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
