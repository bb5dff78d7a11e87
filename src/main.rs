//! The `smta-verify` command: parses flags, calls the library, maps the outcome to an
//! exit code. Everything a `cargo test` user can do goes through the same library calls.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::display::Display;
use cli::output::{say, Stdout};
use cli::{exit, Cli, Command};
use smta_verify::{SqlSource, Verifier};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMTA_VERIFY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let code = runtime.block_on(run(cli));
    // The workers of an interrupted run may still be failing against a server that is
    // gone; they hold nothing that needs them to finish.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    ExitCode::from(code as u8)
}

async fn run(cli: Cli) -> i32 {
    let mut termination = Termination::listen();
    match cli.command {
        Command::Check(args) => check(args, &mut termination).await,
        Command::Snapshot(args) => snapshot(args, &mut termination).await,
        Command::Rules(args) => rules(args, &mut termination).await,
        Command::Mutate(args) => mutate(args, &mut termination).await,
        Command::Schema(args) => match SqlSource::reference(args.flavor) {
            Ok(sources) => {
                for source in sources {
                    let text = format!(
                        "-- ==== {} ====\n{}\n\n",
                        source.name,
                        source.sql.trim_end()
                    );
                    if let Stdout::Closed = cli::output::stdout(&text) {
                        break;
                    }
                }
                exit::CLEAN
            }
            Err(e) => fail(&e),
        },
        Command::Serve(args) => {
            let verifier = args.server.configure(Verifier::new(args.flavor));
            let sandbox = tokio::select! {
                started = verifier.sandbox() => match started {
                    Ok(s) => s,
                    Err(e) => return fail(&e),
                },
                // Dropping the half-started sandbox tears down what exists of it.
                _ = termination.wait() => return interrupted(),
            };
            if let Stdout::Closed =
                cli::output::stdout(&format!("{}\n", sandbox.connection_string()))
            {
                // Nobody can read the connection string: nothing to serve.
                sandbox.stop().await;
                return exit::CLEAN;
            }
            say!(
                "serving the {} reference schema on {}; Ctrl-C stops it",
                args.flavor,
                sandbox.describe()
            );
            termination.wait().await;
            sandbox.stop().await;
            exit::CLEAN
        }
    }
}

async fn check(args: cli::CheckArgs, termination: &mut Termination) -> i32 {
    // Chosen here rather than by the library so that it is printed before the run:
    // an interrupted or crashed run can be repeated too.
    let seed = args
        .seed
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128() as u64);
    say!("smta-verify: seed {seed} (--seed {seed} repeats this run)");
    let display = Display::new();
    let verifier = display.attach(
        args.server
            .configure(args.source.verifier())
            .cases(args.cases)
            .rpc_sequences(args.rpc_sequences)
            .fail_fast(args.fail_fast)
            .seed(seed),
    );
    let outcome = tokio::select! {
        outcome = verifier.run() => Some(outcome),
        // Dropping the run tears its server down (see `postgres::Server`).
        _ = termination.wait() => None,
    };
    display.finish();
    let report = match outcome {
        Some(Ok(r)) => r,
        Some(Err(e)) => return fail(&e),
        None => return interrupted(),
    };
    cli::output::stderr(&report.text_summary());
    match report.write(&args.out, &args.format) {
        Ok(paths) => {
            for p in paths {
                say!("wrote {}", p.display());
            }
        }
        Err(e) => {
            say!(
                "error: could not write the reports to {}: {e}",
                args.out.display()
            );
            return exit::ERROR;
        }
    }
    if report.findings_at_or_above(args.fail_on).next().is_some() {
        exit::FINDINGS
    } else {
        exit::CLEAN
    }
}

async fn snapshot(args: cli::SnapshotArgs, termination: &mut Termination) -> i32 {
    let display = Display::new();
    let verifier = display.attach(args.server.configure(args.source.verifier()));
    let outcome = tokio::select! {
        outcome = verifier.snapshot() => Some(outcome),
        _ = termination.wait() => None,
    };
    display.finish();
    let yaml = match outcome {
        Some(Ok(snapshot)) => snapshot.to_yaml(),
        Some(Err(e)) => return fail(&e),
        None => return interrupted(),
    };
    write_output(&yaml, args.out.as_deref(), "the snapshot")
}

async fn rules(args: cli::RulesArgs, termination: &mut Termination) -> i32 {
    let display = Display::new();
    let verifier = display.attach(args.server.configure(args.source.verifier()));
    let outcome = tokio::select! {
        outcome = verifier.rules() => Some(outcome),
        _ = termination.wait() => None,
    };
    display.finish();
    let text = match outcome {
        Some(Ok(text)) => text,
        Some(Err(e)) => return fail(&e),
        None => return interrupted(),
    };
    write_output(&text, args.out.as_deref(), "the rules")
}

async fn mutate(args: cli::MutateArgs, termination: &mut Termination) -> i32 {
    let display = Display::new();
    let verifier = display.attach(
        args.server
            .configure(args.source.verifier())
            .cases(args.cases)
            .rpc_sequences(args.rpc_sequences)
            .seed(args.seed),
    );
    let outcome = tokio::select! {
        outcome = verifier.mutate(args.max) => Some(outcome),
        _ = termination.wait() => None,
    };
    display.finish();
    let report = match outcome {
        Some(Ok(report)) => report,
        Some(Err(e)) => return fail(&e),
        None => return interrupted(),
    };
    let s = &report.score;
    say!(
        "smta-verify mutate: {} of {} killable mutants killed ({} %); {} equivalent, {} blind spot(s), {} did not apply ({} tried of {} derived)",
        s.killed,
        s.killed + s.blind_spots,
        s.percent,
        s.equivalent,
        s.blind_spots,
        s.invalid,
        s.total,
        report.derived
    );
    for m in report.blind_spots() {
        say!(
            "  blind spot: {} on {}: {}",
            m.mutant.kind,
            m.mutant.object,
            m.mutant.description
        );
    }
    match report.write(&args.out) {
        Ok(paths) => paths.iter().for_each(|p| say!("wrote {}", p.display())),
        Err(e) => {
            say!(
                "error: could not write the reports to {}: {e}",
                args.out.display()
            );
            return exit::ERROR;
        }
    }
    if args.fail_on_blind_spot && s.blind_spots > 0 {
        exit::FINDINGS
    } else {
        exit::CLEAN
    }
}

/// Writes a command's output to `out`, or to standard output.
fn write_output(text: &str, out: Option<&std::path::Path>, what: &str) -> i32 {
    match out {
        None => {
            let _ = cli::output::stdout(text);
            exit::CLEAN
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => {
                say!("wrote {}", path.display());
                exit::CLEAN
            }
            Err(e) => {
                say!(
                    "error: could not write {what} to {}: {e}; check that its directory exists \
                     and is writable",
                    path.display()
                );
                exit::ERROR
            }
        },
    }
}

/// Ctrl-C and SIGTERM, listened for from the start of the process. Listening once, not
/// per wait, is what keeps a signal that arrives between two waits (`serve` has printed
/// its connection string but not yet begun to wait) from being swallowed: tokio's
/// handler stays installed, and a listener created later never hears the earlier signal.
struct Termination {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Termination {
    fn listen() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Self {
            interrupt: signal(SignalKind::interrupt()).expect("a SIGINT handler"),
            terminate: signal(SignalKind::terminate()).expect("a SIGTERM handler"),
        }
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

fn interrupted() -> i32 {
    say!("error: interrupted; the run was stopped and what it had created was removed");
    exit::ERROR
}

fn fail(error: &dyn std::error::Error) -> i32 {
    say!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        say!("  caused by: {cause}");
        source = cause.source();
    }
    exit::ERROR
}
