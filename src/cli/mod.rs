//! Command-line flags: parsed here, resolved by the engine.
//!
//! Clap output stays plain data (paths, names, numbers). Finding PostgreSQL, reading
//! schema files and validating rules happen later, in the library, so that `cargo test`
//! users and CLI users get the same checks and the same error messages.

pub(crate) mod display;
pub(crate) mod output;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use smta_verify::{Flavor, Format, Severity};

/// Exit codes: documented constants, one meaning each (SPEC §5).
pub(crate) mod exit {
    /// The run completed with no finding at or above `--fail-on`.
    pub(crate) const CLEAN: i32 = 0;
    /// The run completed and found defects at or above `--fail-on`.
    pub(crate) const FINDINGS: i32 = 1;
    /// The run could not be done: bad input, no PostgreSQL, Docker missing, …
    pub(crate) const ERROR: i32 = 2;
}

#[derive(Debug, Parser)]
#[command(
    name = "smta-verify",
    version,
    about = "Proves on a real PostgreSQL that an SMTA database keeps tenants apart."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Verify a schema: generated worlds, every actor, every table; writes reports.
    Check(CheckArgs),
    /// Write the policy surface (RLS flags, policies, grants, functions, the access
    /// matrix of the fixture world) as deterministic YAML, for regression snapshots.
    Snapshot(SnapshotArgs),
    /// Write a complete, commented access rules file for the installed schema: every
    /// table with the rules the reference and the defaults give it, TODO where the
    /// tool could not decide.
    Rules(RulesArgs),
    /// Mutation score of the verification: break the installed schema in many small
    /// ways, run the checks on each, count what they noticed.
    Mutate(MutateArgs),
    /// Print the complete reference schema SQL for a flavor (to pipe into psql).
    Schema(SchemaArgs),
    /// Start a throwaway database with a schema installed and wait (for psql and
    /// reproduction scripts); Ctrl-C removes it.
    Serve(ServeArgs),
}

/// What to verify; shared by `check` and `snapshot`.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// Schema SQL: a file, or a directory of .sql files applied in path order.
    /// Repeatable, applied in order. Default: the built-in reference schema.
    #[arg(long = "schema", value_name = "PATH")]
    pub(crate) schema: Vec<PathBuf>,
    /// SQL applied after the schema (overlays, your `app` tables). Repeatable.
    #[arg(long = "extra-sql", value_name = "FILE")]
    pub(crate) extra_sql: Vec<PathBuf>,
    /// SMTA flavor: supabase or payload.
    #[arg(long, default_value = "supabase", value_parser = parse_flavor)]
    pub(crate) flavor: Flavor,
    /// Access rules file (TOML). Default: the reference rules.
    #[arg(long, value_name = "FILE")]
    pub(crate) access: Option<PathBuf>,
}

impl SourceArgs {
    /// A verifier of these sources.
    pub(crate) fn verifier(&self) -> smta_verify::Verifier {
        let mut verifier = smta_verify::Verifier::new(self.flavor);
        for path in &self.schema {
            verifier = verifier.schema(path);
        }
        for path in &self.extra_sql {
            verifier = verifier.extra_sql(path);
        }
        if let Some(path) = &self.access {
            verifier = verifier.access_rules(path);
        }
        verifier
    }
}

#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Write the YAML to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RulesArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Write the rules to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct MutateArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Mutants to try at most, sampled over every kind of mistake.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) max: usize,
    /// Generated worlds per mutant (the unbroken schema runs the same).
    #[arg(long, default_value_t = 16)]
    pub(crate) cases: u32,
    /// Generated RPC call sequences per mutant.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub(crate) rpc_sequences: u32,
    /// Seed of every run; the same seed reproduces the score.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Directory for mutation.json, mutation.md and mutation.html.
    #[arg(long, default_value = "smta-verify-mutation")]
    pub(crate) out: PathBuf,
    /// Exit 1 when a mutant survives as a blind spot.
    #[arg(long)]
    pub(crate) fail_on_blind_spot: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Number of generated worlds (property cases); 0 runs none.
    #[arg(
        long,
        default_value_t = smta_verify::DEFAULT_CASES,
        long_help = "Generated worlds (property cases). Every one runs, whatever the \
                     earlier ones found, and every distinct defect is reported once with \
                     its own smallest world. 0 runs no property case: only the catalog \
                     checks, the fixture world and the RPC sequences; the report says so \
                     and names every table path as a coverage gap."
    )]
    pub(crate) cases: u32,
    /// Generated RPC call sequences (up to 8 calls each) the contract check runs; 0
    /// runs none.
    #[arg(long, value_name = "N", default_value_t = smta_verify::DEFAULT_RPC_SEQUENCES)]
    pub(crate) rpc_sequences: u32,
    /// Stop generating at the first failing world or call sequence (unit-test use).
    #[arg(
        long,
        long_help = "Stop generating worlds and call sequences at the first one that \
                     fails, as a unit test does. Default: off — the whole budget runs and \
                     every distinct defect is reported, which is what a review needs; with \
                     --fail-fast the report shows only the first failing case's defects \
                     and says so. Exit codes are the same."
    )]
    pub(crate) fail_fast: bool,
    /// Seed of the world generator; the same seed reproduces a run.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Directory for the reports.
    #[arg(long, default_value = "smta-verify-report")]
    pub(crate) out: PathBuf,
    /// Report formats, comma-separated: json, md, html, junit, sarif.
    #[arg(
        long,
        value_name = "FORMATS",
        value_delimiter = ',',
        default_value = "json,md,html,junit,sarif",
        value_parser = parse_format,
        long_help = "Report formats to write into --out, comma-separated: json (report.json), \
                     md (report.md), html (report.html), junit (report.junit.xml), sarif \
                     (report.sarif). Default: all of them."
    )]
    pub(crate) format: Vec<Format>,
    /// Exit 1 when a finding has at least this severity.
    #[arg(long, default_value = "low", value_parser = parse_severity)]
    pub(crate) fail_on: Severity,
}

/// Where PostgreSQL comes from; shared by `check` and `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Where PostgreSQL comes from.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        help_heading = "PostgreSQL",
        long_help = "Where PostgreSQL comes from. auto: the --database-url server if \
                     given, else a container if --image is given, else a throwaway local \
                     cluster if PostgreSQL's binaries are installed, else a container. \
                     local: initdb + postgres from this machine. container: a Docker \
                     container (Docker must be running). url: the --database-url server. \
                     A backend named here that is not available is an error (exit 2), \
                     never a fallback."
    )]
    pub(crate) backend: BackendArg,
    /// Container image NAME:TAG [default: $SMTA_VERIFY_IMAGE, else postgres:15].
    #[arg(
        long,
        value_name = "NAME:TAG",
        help_heading = "PostgreSQL",
        long_help = "The image of the container backend. Default: the SMTA_VERIFY_IMAGE \
                     environment variable, else the official postgres:15. \
                     supabase/postgres:<tag> is the high-fidelity choice for Supabase projects. A locally \
                     present image is used without contacting a registry. Given with \
                     --backend auto, it selects the container backend."
    )]
    pub(crate) image: Option<String>,
    /// Directory of initdb and postgres for the local backend [env: SMTA_VERIFY_PG_BIN].
    #[arg(
        long,
        value_name = "DIR",
        help_heading = "PostgreSQL",
        long_help = "The bin directory of the PostgreSQL installation the local backend \
                     runs, e.g. /usr/lib/postgresql/17/bin to verify on PostgreSQL 17 \
                     without Docker. Default: the SMTA_VERIFY_PG_BIN environment variable, \
                     else the first installation found (pg_config --bindir, PATH, \
                     /usr/lib/postgresql/<newest>/bin). A directory without initdb and \
                     postgres is an error (exit 2). Given with --backend auto, it selects \
                     the local backend; with --image or --database-url it is an error."
    )]
    pub(crate) pg_bin: Option<PathBuf>,
    /// An existing server, postgres://USER[:PASSWORD]@HOST[:PORT][/DB].
    #[arg(
        long,
        value_name = "URL",
        help_heading = "PostgreSQL",
        env = "SMTA_VERIFY_DATABASE_URL",
        hide_env_values = true,
        long_help = "An existing server: postgres://USER[:PASSWORD]@HOST[:PORT][/DB]. \
                     The harness creates its own smta_verify_* scratch databases there \
                     (the role needs CREATEDB), drops them at the end and touches no other \
                     database. The password never appears in output. Also read from \
                     SMTA_VERIFY_DATABASE_URL (safer than the command line, which other \
                     users can see); DATABASE_URL is deliberately not read. Given with \
                     --backend auto, it selects the url backend."
    )]
    pub(crate) database_url: Option<String>,
}

impl ServerArgs {
    /// Applies the flags to a verifier.
    pub(crate) fn configure(&self, mut verifier: smta_verify::Verifier) -> smta_verify::Verifier {
        verifier = verifier.backend(self.backend.into());
        if let Some(image) = &self.image {
            verifier = verifier.image(image);
        }
        if let Some(url) = &self.database_url {
            verifier = verifier.database_url(url);
        }
        if let Some(dir) = &self.pg_bin {
            verifier = verifier.pg_bin(dir);
        }
        verifier
    }
}

/// `--backend` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum BackendArg {
    Auto,
    Local,
    Container,
    Url,
}

impl From<BackendArg> for smta_verify::Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => smta_verify::Backend::Auto,
            BackendArg::Local => smta_verify::Backend::Local,
            BackendArg::Container => smta_verify::Backend::Container,
            BackendArg::Url => smta_verify::Backend::Url,
        }
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// SMTA flavor: supabase or payload.
    #[arg(long, default_value = "supabase", value_parser = parse_flavor)]
    pub(crate) flavor: Flavor,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// SMTA flavor: supabase or payload.
    #[arg(long, default_value = "supabase", value_parser = parse_flavor)]
    pub(crate) flavor: Flavor,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

fn parse_flavor(s: &str) -> Result<Flavor, String> {
    s.parse::<Flavor>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_flavor_is_rejected_with_the_valid_ones() {
        let err = Cli::try_parse_from(["smta-verify", "schema", "--flavor", "nope"]).unwrap_err();
        assert!(err.to_string().contains("supabase, payload"), "{err}");
    }

    fn formats(args: &[&str]) -> Result<Vec<Format>, clap::Error> {
        let argv = ["smta-verify", "check"].iter().chain(args).copied();
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Check(check) => check.format,
            other => panic!("parsed as {other:?}"),
        })
    }

    #[test]
    fn every_format_is_written_by_default() {
        assert_eq!(formats(&[]).unwrap(), Format::ALL);
    }

    #[test]
    fn formats_are_chosen_by_their_names() {
        assert_eq!(
            formats(&["--format", "sarif,md"]).unwrap(),
            [Format::Sarif, Format::Markdown]
        );
        assert_eq!(
            formats(&["--format", "json", "--format", "junit,html"]).unwrap(),
            [Format::Json, Format::Junit, Format::Html]
        );
    }

    #[test]
    fn an_unknown_format_is_an_error_naming_the_valid_ones() {
        let err = formats(&["--format", "json,xml"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("unknown format `xml`; valid: json, md, html, junit, sarif"),
            "{text}"
        );
        assert_eq!(err.exit_code(), exit::ERROR);
    }

    #[test]
    fn check_and_serve_take_the_backend_flags() {
        for command in ["check", "serve"] {
            let cli = Cli::try_parse_from([
                "smta-verify",
                command,
                "--backend",
                "container",
                "--image",
                "smta-verify/postgres:15",
            ])
            .unwrap();
            let server = match cli.command {
                Command::Check(args) => args.server,
                Command::Serve(args) => args.server,
                Command::Schema(_)
                | Command::Snapshot(_)
                | Command::Rules(_)
                | Command::Mutate(_) => unreachable!(),
            };
            assert!(matches!(server.backend, BackendArg::Container));
            assert_eq!(server.image.as_deref(), Some("smta-verify/postgres:15"));
        }
    }

    #[test]
    fn every_server_command_takes_the_postgres_binaries() {
        for command in ["check", "snapshot", "rules", "mutate", "serve"] {
            let cli = Cli::try_parse_from([
                "smta-verify",
                command,
                "--pg-bin",
                "/usr/lib/postgresql/17/bin",
            ])
            .unwrap();
            let server = match cli.command {
                Command::Check(args) => args.server,
                Command::Serve(args) => args.server,
                Command::Snapshot(args) => args.server,
                Command::Rules(args) => args.server,
                Command::Mutate(args) => args.server,
                Command::Schema(_) => unreachable!(),
            };
            assert_eq!(
                server.pg_bin,
                Some(PathBuf::from("/usr/lib/postgresql/17/bin"))
            );
        }
    }

    #[test]
    fn snapshot_takes_the_source_and_server_flags_and_an_optional_file() {
        let cli = Cli::try_parse_from([
            "smta-verify",
            "snapshot",
            "--schema",
            "db",
            "--schema",
            "more.sql",
            "--extra-sql",
            "app.sql",
            "--flavor",
            "payload",
            "--backend",
            "url",
            "--database-url",
            "postgres://u@h/db",
            "--out",
            "surface.yaml",
        ])
        .unwrap();
        let Command::Snapshot(args) = cli.command else {
            panic!("parsed as another command")
        };
        assert_eq!(args.source.schema, [PathBuf::from("db"), "more.sql".into()]);
        assert_eq!(args.source.extra_sql, [PathBuf::from("app.sql")]);
        assert_eq!(args.source.flavor, Flavor::Payload);
        assert!(matches!(args.server.backend, BackendArg::Url));
        assert_eq!(args.out, Some(PathBuf::from("surface.yaml")));
        let cli = Cli::try_parse_from(["smta-verify", "snapshot"]).unwrap();
        let Command::Snapshot(args) = cli.command else {
            panic!("parsed as another command")
        };
        assert_eq!(args.out, None, "stdout is the default");
    }

    #[test]
    fn unknown_backend_is_rejected_with_the_valid_ones() {
        let err = Cli::try_parse_from(["smta-verify", "check", "--backend", "docker"]).unwrap_err();
        assert!(
            err.to_string().contains("auto, local, container, url"),
            "{err}"
        );
    }

    #[test]
    fn the_flag_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
