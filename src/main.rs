use clap::Parser;

fn main() {
    let cli = repsync::cli::Cli::parse();
    if let Err(err) = repsync::commands::run(cli) {
        if err.downcast_ref::<repsync::error::Unhealthy>().is_none() {
            eprintln!("error: {err:#}");
        }
        std::process::exit(repsync::error::exit_code(&err));
    }
}
