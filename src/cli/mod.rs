//! Command-line flags: parsed here, resolved by the engine.
//!
//! Clap output stays plain data (paths, names, numbers). Finding PostgreSQL, reading
//! schema files and validating rules happen later, in the library, so that `cargo test`
//! users and CLI users get the same checks and the same error messages.

use clap::{Args, Parser, Subcommand};
use smta_verify::Flavor;

/// Exit codes: documented constants, one meaning each (SPEC §5).
pub(crate) mod exit {
    /// The run completed with no finding at or above `--fail-on`.
    pub(crate) const CLEAN: i32 = 0;
    /// The run completed and found defects at or above `--fail-on`.
    #[allow(dead_code)]
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
    /// Print the complete reference schema SQL for a flavor (to pipe into psql).
    Schema(SchemaArgs),
    /// Start a throwaway database with a schema installed and wait (for psql and
    /// reproduction scripts); Ctrl-C removes it.
    Serve(ServeArgs),
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

    #[test]
    fn the_flag_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
