//! The `car_server` command: the service, the simulator alone, or a health probe.

use car_server::app::Application;
use car_server::config::{Cli, Command, HealthcheckArgs, ServeArgs, SimulatorArgs};
use car_server::server::shutdown_signal;
use car_server::simulator::Simulator;
use car_server::telemetry;
use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; an unreadable one is worth saying.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("car_server: cannot read .env: {error}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();

    let outcome = match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Simulator(args)) => simulate_alone(cli.serve, args).await,
        Some(Command::Healthcheck(args)) => healthcheck(cli.serve, args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("car_server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = args.settings().map_err(|error| error.to_string())?;
    telemetry::init_logging(settings.log_format)?;
    let shutdown = shutdown_signal();
    let application = Application::build(settings)
        .await
        .map_err(|error| error.to_string())?;
    application.run_until(shutdown).await;
    Ok(())
}

async fn simulate_alone(serve: ServeArgs, args: SimulatorArgs) -> Result<(), String> {
    let credentials = args.credentials().map_err(|error| error.to_string())?;
    telemetry::init_logging(serve.log_format)?;
    let settings = serve.sim.settings(credentials);
    let shutdown = shutdown_signal();
    let address = SocketAddr::new(serve.bind, serve.port);
    let running = Simulator::new(settings.clone())
        .start(address)
        .await
        .map_err(|error| format!("cannot listen on {address} (PORT/BIND): {error}"))?;
    tracing::warn!(
        endpoint = %running.endpoint(),
        secret_id = %settings.credentials.secret_id,
        capacity = settings.capacity,
        "CAR SIMULATOR: this is not Tencent Cloud; point CAR_ENDPOINT here to test a backend"
    );
    shutdown.await;
    running.stop().await;
    Ok(())
}

async fn healthcheck(serve: ServeArgs, args: HealthcheckArgs) -> Result<(), String> {
    let url = match args.url {
        Some(url) => url.to_string(),
        None => format!("http://127.0.0.1:{}/healthz", serve.port),
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|error| error.to_string())?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("{url} answered {}", response.status())),
        Err(error) => Err(format!("{url} did not answer: {error}")),
    }
}
