//! `sluice`: the Sluice SFU process. `sluice serve` starts the workers and the control API.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sluice_engine::worker::{WorkerConfig, Workers};
use tokio::sync::{broadcast, mpsc, watch};
use tracing_subscriber::EnvFilter;

mod api;
mod config;
mod webrtc;

use api::{AppState, SseEvent};
use config::{Config, ServeArgs, io_name};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Sluice: a WebRTC selective forwarding unit"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SFU: workers on the media port, the control API and the demo page.
    Serve(ServeArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
        None => {
            eprintln!("usage: sluice serve [OPTIONS]   (sluice --help for more)");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> Result<(), String> {
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<SseEvent>();
    let sink: sluice_engine::worker::EventSink = Arc::new(move |w, e| {
        let _ = event_tx.send(SseEvent::from_engine(w, &e));
    });
    // One certificate for the whole process, generated at start-up (as mediasoup does per worker).
    let plane = webrtc::WebRtcPlane::new().map_err(|e| format!("cannot set up DTLS: {e}"))?;
    let workers = Workers::spawn_with_dtls(
        &WorkerConfig {
            workers: config.workers,
            pin: config.pin_workers,
            io: config.io,
            media_addr: (config.media_ip, config.media_port).into(),
            rtc_ip: config.media_ip,
            announced_ip: config.announced_ip,
            rtc_ports: (config.rtc_ports.lo, config.rtc_ports.hi),
        },
        sink,
        plane.sink(),
    )
    .map_err(|e| {
        format!(
            "cannot start workers on {}:{}: {e}",
            config.media_ip, config.media_port
        )
    })?;
    let io = workers
        .handles()
        .first()
        .map(|w| io_name(w.io_kind()))
        .unwrap_or("none");
    tracing::info!(
        workers = workers.len(),
        io,
        media = %workers.media_addr(),
        rtc_ports = %format!("{}-{}", config.rtc_ports.lo, config.rtc_ports.hi),
        "media plane ready"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-control")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the control runtime: {e}"))?;
    rt.block_on(async move {
        let (sse_tx, _) = broadcast::channel(4096);
        let (stop_tx, stop_rx) = watch::channel(false);
        let test_hooks = std::env::var("SLUICE_TEST_HOOKS").is_ok_and(|v| v == "1");
        let state = Arc::new(
            AppState::new(
                workers,
                sse_tx.clone(),
                config.token.clone(),
                test_hooks,
                stop_rx,
            )
            .with_webrtc(plane),
        );
        if let Some(plane) = state.webrtc() {
            plane.start(webrtc::worker_sender(Arc::downgrade(&state)))?;
        }
        let st = state.clone();
        tokio::spawn(async move {
            while let Some(e) = event_rx.recv().await {
                st.observe(&e);
                let _ = sse_tx.send(Arc::new(e));
            }
        });
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.http))?;
        // The bound address, not the configured one: with port 0 the kernel picks the port.
        let local = listener.local_addr().unwrap_or(config.http);
        let auth = if config.token.is_some() {
            "bearer token required"
        } else {
            "no token (loopback only)"
        };
        tracing::info!("control API and demo page on http://{local} ({auth})");
        axum::serve(listener, api::app(state.clone()))
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                tracing::info!("stopping");
                let _ = stop_tx.send(true);
            })
            .await
            .map_err(|e| format!("HTTP server failed: {e}"))?;
        Ok::<_, String>(())
    })?;
    drop(rt);
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
