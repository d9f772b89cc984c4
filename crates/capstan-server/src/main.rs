//! `capstan-server`: runs the update server, and manages API tokens on its database.

use std::path::PathBuf;
use std::process::ExitCode;

use capstan_server::auth::{Role, generate_token, hash_token};
use capstan_server::clock::{Clock, SystemClock};
use capstan_server::config::Config;
use capstan_server::store::{OpenError, StoreError, open_database};
use capstan_server::{AppState, serve, serve_split};
use clap::{Parser, Subcommand};

// Stats ingestion parses many small JSON values on several threads at once; glibc's allocator
// spent most of that time consolidating free lists, mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "capstan-server", version, about = "Self-hosted live updates for Capacitor apps: the update server")]
struct Cli {
    /// TOML config file (settings: data_dir, listen, management_listen, public_url, ...).
    #[arg(long, global = true, env = "CAPSTAN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve devices and the management API until SIGINT or SIGTERM.
    Serve,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Copy this embedded install (SQLite + blob directory) into PostgreSQL and an S3-compatible
    /// store, then verify every row and every blob. Safe while the embedded server runs; run it
    /// again to resume an interrupted copy, or after stopping the embedded server to copy what
    /// it wrote since. The S3 settings (`[s3]`, AWS_* variables) say how to reach the store.
    Migrate {
        /// The PostgreSQL database to fill (postgres://user:password@host/db).
        #[arg(long, value_name = "URL")]
        to_database: String,
        /// The object store to fill (s3://bucket/prefix).
        #[arg(long, value_name = "URL")]
        to_storage: String,
        /// The embedded install's data directory (default: the configured data_dir).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Back up this embedded install (SQLite database and bundles) into a new directory, while
    /// the server runs: a consistent copy as of one instant, checked (integrity, every bundle's
    /// SHA-256) and sealed with backup.json. For PostgreSQL + S3, use their own tools.
    Backup {
        /// Where to write the backup (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The install's data directory (default: the configured data_dir).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Restore a backup made by `backup` into a data directory that holds no database yet
    /// (the server must not be running on it), checking it as it is copied.
    Restore {
        /// The backup directory.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The data directory to restore into (default: the configured data_dir).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it (alone, on stdout); it is stored hashed and shown once.
    Create {
        /// What the token may do.
        #[arg(long, value_enum)]
        role: Role,
        /// Who or what uses it.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The id shown by `token list`.
        id: i64,
    },
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] capstan_server::config::ConfigError),
    #[error(transparent)]
    Start(#[from] capstan_server::StartError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("no live token with id {0}")]
    NoSuchToken(i64),
    #[error(transparent)]
    Migrate(#[from] capstan_server::migrate::MigrateError),
    #[error(transparent)]
    Backup(#[from] capstan_server::backup::BackupError),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CAPSTAN_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour only for people: log files, journald and supervisors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Serve => serve_command(config).await,
        Command::Token(command) => token_command(config, command).await,
        Command::Migrate { to_database, to_storage, from } => {
            let options = capstan_server::migrate::MigrateOptions {
                source: from.unwrap_or_else(|| config.data_dir.clone()),
                database_url: to_database,
                storage_url: to_storage,
                s3: config.s3.clone(),
            };
            let report = capstan_server::migrate::migrate(&options, &|line| eprintln!("migrate: {line}")).await?;
            for (table, rows) in &report.rows {
                println!("{table:<16} {rows:>12} rows");
            }
            println!("{:<16} {:>12} blobs, {} bytes, each SHA-256 checked", "blobs", report.blobs, report.blob_bytes);
            Ok(())
        }
        Command::Backup { out, from } => {
            let source = from.unwrap_or_else(|| config.data_dir.clone());
            let manifest = capstan_server::backup::backup(&source, &out).await?;
            print_backup(&manifest);
            eprintln!("backup of {} written to {}", source.display(), out.display());
            Ok(())
        }
        Command::Restore { from, to } => {
            let target = to.unwrap_or_else(|| config.data_dir.clone());
            let manifest = capstan_server::backup::restore(&from, &target).await?;
            print_backup(&manifest);
            eprintln!("restored {} into {}", from.display(), target.display());
            Ok(())
        }
    }
}

fn print_backup(manifest: &capstan_server::backup::BackupManifest) {
    for (table, rows) in &manifest.rows {
        println!("{table:<16} {rows:>12} rows");
    }
    println!("{:<16} {:>12} blobs, {} bytes, checked", "blobs", manifest.blobs, manifest.blob_bytes);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests and flushing buffered writes");
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| CliError::Listen { addr, source })
}

async fn serve_command(mut config: Config) -> Result<(), CliError> {
    tracing::info!(?config, "starting");
    // One descriptor per client connection: the usual soft limit (1,024) is far below what the
    // hard limit allows. The connection cap is then derived from the limit in force.
    match capstan_server::connections::raise_open_files_limit() {
        Ok((limit, Some(before))) => tracing::info!(?limit, ?before, "raised the open-files limit to the hard limit"),
        Ok((limit, None)) => tracing::info!(?limit, "open-files limit (already the hard limit)"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-files limit"),
    }
    let public = bind(config.listen).await?;
    if config.public_url.is_none() {
        // With port 0 the configured address is not where devices can reach us: use the real one.
        config.public_url = Some(format!("http://{}", public.local_addr().map_err(CliError::Serve)?));
    }
    let management = match config.management_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let state = AppState::open(config.clone()).await?;
    tracing::info!(listen = %public.local_addr().map_err(CliError::Serve)?, management = ?config.management_listen, "ready");
    match management {
        Some(management) => serve_split(public, management, state, shutdown_signal()).await,
        None => serve(public, state, shutdown_signal()).await,
    }
    .map_err(CliError::Serve)?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn token_command(config: Config, command: TokenCommand) -> Result<(), CliError> {
    let db = open_database(&config).await?;
    let now = SystemClock.now_ms();
    match command {
        TokenCommand::Create { role, name } => {
            let token = generate_token();
            db.insert_token(&name, role, &hash_token(&token), now, None).await?;
            // Alone on stdout so scripts can capture it: `TOKEN=$(capstan-server token create ...)`.
            println!("{token}");
        }
        TokenCommand::List => {
            println!("{:>4}  {:<10}  {:<8}  name", "id", "role", "status");
            for token in db.list_tokens().await? {
                let status = if token.revoked_at_ms.is_some() { "revoked" } else { "live" };
                println!("{:>4}  {:<10}  {:<8}  {}", token.id, token.role.as_str(), status, token.name);
            }
        }
        TokenCommand::Revoke { id } => match db.revoke_token(id, now, None).await {
            Ok(token) => eprintln!("revoked token {} ({})", token.id, token.name),
            Err(StoreError::NotFound) => return Err(CliError::NoSuchToken(id)),
            Err(other) => return Err(other.into()),
        },
    }
    Ok(())
}
