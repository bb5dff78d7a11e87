//! Where PostgreSQL comes from (issue 5): the same checks pass on a local cluster, in
//! a container and on a server reached by URL, and no run leaves anything behind —
//! not after success, not after Ctrl-C, not after SIGKILL.
//!
//! The container tests need Docker and the registry-free image built by
//! `ci/build-postgres-image.sh` (they run the script, which does nothing when the
//! image exists). Plain `cargo test` needs only Rust and PostgreSQL, so they are
//! `#[ignore]`d there — cargo counts them as ignored, not passed — and `.ci/run`
//! runs them with `--include-ignored`, where a missing engine fails them loudly: a
//! broken environment, never a reason to pass.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rstest::rstest;
use smta_verify::{Backend, Flavor, Sandbox, Verifier};
use sqlx::{Connection, Executor, PgConnection, Row};

const BIN: &str = env!("CARGO_BIN_EXE_smta-verify");
const IMAGE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/build-postgres-image.sh");
/// A password that must never show up anywhere.
const PASSWORD: &str = "Tr0ub4dor-and-3-s3cret";

// ---------------------------------------------------------------------------------
// Environment

fn require_docker() {
    let reachable = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        reachable,
        "Docker is needed by the container backend tests and is not reachable \
         (`docker info` failed). CI provides it: start dockerd, or point DOCKER_HOST at a \
         running engine, then run ci/build-postgres-image.sh."
    );
}

/// The registry-free PostgreSQL image, built once per test binary.
fn postgres_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_docker();
        let output = Command::new("bash")
            .arg(IMAGE_SCRIPT)
            .output()
            .expect("run ci/build-postgres-image.sh");
        assert!(
            output.status.success(),
            "ci/build-postgres-image.sh failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("utf-8 image name");
        stdout
            .lines()
            .last()
            .expect("the image name")
            .trim()
            .to_string()
    })
}

/// Lines of `docker` output, which must succeed.
fn docker(args: &[&str]) -> Vec<String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Ids of containers (running or not) whose owner label names process `pid`.
fn containers_owned_by(pid: u32) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        "label=smta-verify.owner",
        "--format",
        r#"{{.ID}} {{.Label "smta-verify.owner"}}"#,
    ])
    .into_iter()
    .filter_map(|line| {
        let (id, owner) = line.split_once(' ')?;
        owner
            .starts_with(&format!("{pid}:"))
            .then(|| id.to_string())
    })
    .collect()
}

/// The owner scope smta-verify stamps: boot id and pid namespace.
fn owner_scope() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let ns = ns.to_string_lossy();
    let inode = ns.trim_start_matches("pid:[").trim_end_matches(']');
    format!("{}/{inode}", boot.trim())
}

/// Waits for `condition`, failing with `what` after `limit`. Cleanup after SIGKILL is
/// done by other processes (the dead run's watchdog, the next start), so the test
/// watches for its effect instead of assuming a moment.
fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn scratch_databases(url: &str) -> BTreeSet<String> {
    let mut conn = PgConnection::connect(url)
        .await
        .expect("connect to the URL server");
    let rows =
        sqlx::query("SELECT datname::text FROM pg_database WHERE datname LIKE 'smta\\_verify\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let _ = conn.close().await;
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

/// A URL server for the url backend: a local cluster the test starts itself, with
/// a password in the URL (trust auth ignores it) that must never be shown.
async fn url_server() -> (Sandbox, String) {
    let sandbox = Sandbox::start(Backend::Local, Flavor::Payload, &[])
        .await
        .expect("a local cluster to act as the URL server");
    let url = sandbox.connection_url("postgres");
    let url = url.replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    (sandbox, url)
}

// ---------------------------------------------------------------------------------
// The same suite on every backend

#[derive(Debug, Clone, Copy)]
enum Target {
    Local,
    Container,
    Url,
}

#[rstest]
#[case::local(Target::Local)]
#[ignore = "needs Docker and the smta-verify/postgres:15 image: cargo test -- --include-ignored (.ci/run does)"]
#[case::container(Target::Container)]
#[case::url(Target::Url)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_schema_keeps_tenants_apart_on_every_backend(#[case] target: Target) {
    let verifier = Verifier::new(Flavor::Payload).cases(8).seed(7);
    let (verifier, url_server, expected) = match target {
        Target::Local => (verifier.backend(Backend::Local), None, "local"),
        Target::Container => (
            verifier.backend(Backend::Container).image(postgres_image()),
            None,
            "container",
        ),
        Target::Url => {
            let (sandbox, url) = url_server().await;
            let before = scratch_databases(&url).await;
            (
                verifier.backend(Backend::Url).database_url(&url),
                Some((sandbox, url, before)),
                "url",
            )
        }
    };

    let report = verifier
        .run()
        .await
        .unwrap_or_else(|e| panic!("{target:?}: the run failed: {e}"));
    smta_verify::assert_isolated(&report);
    assert_eq!(report.run.backend, expected);
    assert_eq!(report.run.cases, 8);
    assert_eq!(report.run.seed, 7);
    assert!(report.summary.probes > 0, "{target:?}: nothing was probed");
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(PASSWORD), "the password is in the report");

    if let Some((sandbox, url, before)) = url_server {
        // Every scratch database the run made is gone; the server's own are intact.
        assert_eq!(scratch_databases(&url).await, before);
        sandbox.stop().await;
    }
}

// ---------------------------------------------------------------------------------
// The url backend

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_backend_refuses_a_role_without_createdb_and_never_shows_the_password() {
    let (sandbox, url) = url_server().await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    admin
        .execute("CREATE ROLE smta_test_no_createdb LOGIN NOCREATEDB")
        .await
        .unwrap();
    let url_no_createdb = url.replacen("//postgres:", "//smta_test_no_createdb:", 1);

    let error = Verifier::new(Flavor::Payload)
        .database_url(&url_no_createdb)
        .run()
        .await
        .expect_err("a role without CREATEDB cannot be used")
        .to_string();
    assert!(error.contains("CREATEDB"), "{error}");
    assert!(error.contains("smta_test_no_createdb"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");

    admin
        .execute("DROP ROLE smta_test_no_createdb")
        .await
        .unwrap();
    let _ = admin.close().await;
    sandbox.stop().await;
}

#[tokio::test]
async fn url_errors_name_the_server_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let unreachable = format!("postgres://someone:{PASSWORD}@127.0.0.1:1/postgres");
    let error = Verifier::new(Flavor::Payload)
        .database_url(&unreachable)
        .run()
        .await
        .expect_err("nothing listens on port 1");
    let (text, debug) = (error.to_string(), format!("{error:?}"));
    assert!(text.contains("could not connect"), "{text}");
    assert!(text.contains("someone@127.0.0.1:1"), "{text}");
    assert!(
        !text.contains(PASSWORD) && !debug.contains(PASSWORD),
        "{text}\n{debug}"
    );

    let verifier = Verifier::new(Flavor::Payload).database_url(&unreachable);
    assert!(!format!("{verifier:?}").contains(PASSWORD));

    let wrong_scheme = format!("mysql://someone:{PASSWORD}@127.0.0.1/db");
    let error = Verifier::new(Flavor::Payload)
        .database_url(&wrong_scheme)
        .run()
        .await
        .expect_err("not a PostgreSQL URL")
        .to_string();
    assert!(error.contains("postgres://"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_sandbox_describes_itself_without_the_password_and_drops_what_it_made() {
    let (server, url) = url_server().await;
    let before = scratch_databases(&url).await;

    let sandbox = Verifier::new(Flavor::Payload)
        .database_url(&url)
        .sandbox()
        .await
        .expect("a sandbox on the URL server");
    for shown in [
        sandbox.describe(),
        sandbox.connection_string(),
        format!("{sandbox:?}"),
    ] {
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
    assert!(
        sandbox.describe().starts_with("url "),
        "{}",
        sandbox.describe()
    );
    let during = scratch_databases(&url).await;
    assert!(during.contains(sandbox.database()), "{during:?}");
    sandbox.stop().await;

    assert_eq!(scratch_databases(&url).await, before);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_backend_drops_scratch_databases_of_dead_runs_and_nothing_else() {
    let (server, url) = url_server().await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let scope = owner_scope();
    let dead_stamp = "smta-verify scratch database; owner=999999999:1";
    let setup = [
        // Ours, and its owner is gone: must go.
        (
            "smta_verify_db_deadowner01",
            Some(format!("{dead_stamp} scope={scope}")),
        ),
        // Same prefix, but nothing says it is ours: must stay.
        ("smta_verify_not_ours", None),
        // A dead owner of another machine: pids there mean nothing here, must stay.
        (
            "smta_verify_db_elsewhere01",
            Some(format!("{dead_stamp} scope=other-boot/1")),
        ),
        // Ours, owner alive (this very process): must stay.
        (
            "smta_verify_db_aliveowner",
            Some(format!(
                "smta-verify scratch database; owner={}:{} scope={scope}",
                std::process::id(),
                own_start_time()
            )),
        ),
    ];
    for (name, comment) in &setup {
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        if let Some(comment) = comment {
            admin
                .execute(format!("COMMENT ON DATABASE {name} IS '{comment}'").as_str())
                .await
                .unwrap();
        }
    }

    let sandbox = Verifier::new(Flavor::Payload)
        .database_url(&url)
        .sandbox()
        .await
        .expect("a sandbox on the URL server");
    sandbox.stop().await;

    let left = scratch_databases(&url).await;
    assert!(!left.contains("smta_verify_db_deadowner01"), "{left:?}");
    for kept in [
        "smta_verify_not_ours",
        "smta_verify_db_elsewhere01",
        "smta_verify_db_aliveowner",
    ] {
        assert!(left.contains(kept), "{kept} was dropped: {left:?}");
    }
    let _ = admin.close().await;
    server.stop().await;
}

fn own_start_time() -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split_whitespace().nth(19).unwrap().to_string()
}

// ---------------------------------------------------------------------------------
// The container backend

#[test]
fn container_backend_without_docker_exits_2_and_says_how_to_fix_it() {
    let output = Command::new(BIN)
        .args(["check", "--backend", "container", "--cases", "1"])
        .env(
            "DOCKER_HOST",
            "unix:///nonexistent/smta-verify-test/docker.sock",
        )
        .output()
        .expect("run smta-verify");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for hint in ["Docker is not reachable", "DOCKER_HOST", "--backend local"] {
        assert!(stderr.contains(hint), "missing {hint:?} in:\n{stderr}");
    }
}

#[test]
fn backend_flags_that_contradict_each_other_exit_2() {
    for (args, expected) in [
        (&["--backend", "url"][..], "needs a database URL"),
        (
            &["--backend", "local", "--image", "postgres:15"][..],
            "--backend local",
        ),
        (&["--image", "post gres"][..], "whitespace"),
    ] {
        let output = Command::new(BIN)
            .arg("check")
            .args(args)
            .env_remove("SMTA_VERIFY_DATABASE_URL")
            .output()
            .expect("run smta-verify");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Removes the containers it names when dropped, so a failing test leaks nothing.
struct ContainerCleanup(Vec<String>);

impl Drop for ContainerCleanup {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&self.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn exists(id: &str) -> bool {
    !docker(&["ps", "-aq", "--filter", &format!("id={id}")]).is_empty()
}

#[ignore = "needs Docker and the smta-verify/postgres:15 image: cargo test -- --include-ignored (.ci/run does)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_dead_runs_are_removed_at_the_next_start_and_no_others() {
    let image = postgres_image();
    let scope = owner_scope();
    let create = |owner: &str, scope: &str| {
        docker(&[
            "create",
            "--label",
            &format!("smta-verify.owner={owner}"),
            "--label",
            &format!("smta-verify.scope={scope}"),
            image,
        ])
        .pop()
        .expect("a container id")
    };
    let alive = format!("{}:{}", std::process::id(), own_start_time());
    let dead = create("999999999:1", &scope);
    let elsewhere = create("999999999:1", "other-boot/1");
    let live = create(&alive, &scope);
    let _cleanup = ContainerCleanup(vec![dead.clone(), elsewhere.clone(), live.clone()]);

    let sandbox = Verifier::new(Flavor::Payload)
        .backend(Backend::Container)
        .image(image)
        .sandbox()
        .await
        .expect("a container sandbox");
    assert!(
        !exists(&dead),
        "the container of a dead run survived the next start"
    );
    assert!(
        exists(&elsewhere),
        "a container of another machine's run was removed"
    );
    assert!(exists(&live), "a container of a live run was removed");
    sandbox.stop().await;
}

#[ignore = "needs Docker and the smta-verify/postgres:15 image: cargo test -- --include-ignored (.ci/run does)"]
#[tokio::test]
async fn a_missing_image_is_a_clear_error() {
    require_docker();
    let error = Verifier::new(Flavor::Payload)
        .backend(Backend::Container)
        .image("smta-verify/no-such-image:0")
        .run()
        .await
        .expect_err("the image exists nowhere")
        .to_string();
    assert!(error.contains("smta-verify/no-such-image:0"), "{error}");
    assert!(error.contains("not present locally"), "{error}");
}

// ---------------------------------------------------------------------------------
// Interrupted runs leave nothing behind

/// `smta-verify serve` on `backend`, up and serving: the child and its connection
/// string.
fn serve(backend: &str) -> (Child, String) {
    let mut command = Command::new(BIN);
    command.args(["serve", "--flavor", "payload", "--backend", backend]);
    if backend == "container" {
        command.args(["--image", postgres_image()]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smta-verify serve");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // Keep stderr drained; keep its text for a failure message.
    let log = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    if line.trim().is_empty() {
        let _ = child.wait();
        panic!(
            "serve --backend {backend} did not start:\n{}",
            log.join().unwrap()
        );
    }
    (child, line.trim().to_string())
}

fn libpq_field<'a>(connection_string: &'a str, key: &str) -> &'a str {
    connection_string
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {connection_string}"))
}

/// Processes whose command line mentions `needle` (other than ourselves).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// What a served backend consists of, to look for after it should be gone.
enum Remains {
    Cluster(PathBuf),
    Containers(u32),
}

impl Remains {
    fn of(backend: &str, child: &Child, connection: &str) -> Self {
        match backend {
            "local" => {
                let socket_dir = Path::new(libpq_field(connection, "host"));
                let root = socket_dir.parent().unwrap().to_path_buf();
                assert!(root.exists(), "the cluster directory {root:?} is not there");
                assert!(!processes_mentioning(&root.to_string_lossy()).is_empty());
                Self::Cluster(root)
            }
            _ => {
                assert_eq!(containers_owned_by(child.id()).len(), 1, "{connection}");
                Self::Containers(child.id())
            }
        }
    }

    fn gone(&self) -> bool {
        match self {
            Self::Cluster(root) => {
                !root.exists() && processes_mentioning(&root.to_string_lossy()).is_empty()
            }
            Self::Containers(pid) => containers_owned_by(*pid).is_empty(),
        }
    }
}

#[rstest]
#[case::local_ctrl_c("local", Signal::SIGINT)]
#[case::local_sigkill("local", Signal::SIGKILL)]
#[ignore = "needs Docker and the smta-verify/postgres:15 image: cargo test -- --include-ignored (.ci/run does)"]
#[case::container_ctrl_c("container", Signal::SIGINT)]
#[ignore = "needs Docker and the smta-verify/postgres:15 image: cargo test -- --include-ignored (.ci/run does)"]
#[case::container_sigkill("container", Signal::SIGKILL)]
fn an_interrupted_serve_leaves_nothing_after_the_next_start(
    #[case] backend: &str,
    #[case] signal: Signal,
) {
    let (mut child, connection) = serve(backend);
    let remains = Remains::of(backend, &child, &connection);

    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    if signal == Signal::SIGINT {
        // Ctrl-C is handled: a clean stop, finished before the process exits.
        assert_eq!(status.code(), Some(0), "serve stopped with {status}");
        assert!(remains.gone(), "something outlived a Ctrl-C'd serve");
        return;
    }

    // SIGKILL: nothing in the process runs. The next start must find nothing left
    // behind (the dead run's watchdog, or that start's own reaping, removes it).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let verifier = Verifier::new(Flavor::Payload);
        let verifier = match backend {
            "local" => verifier.backend(Backend::Local),
            _ => verifier.backend(Backend::Container).image(postgres_image()),
        };
        verifier
            .sandbox()
            .await
            .expect("the next start")
            .stop()
            .await;
    });
    eventually(
        Duration::from_secs(30),
        "the killed serve left something behind",
        || remains.gone(),
    );
}

/// `smta-verify check` interrupted mid-run: handled, exit 2, and the run's server (or
/// its scratch databases on a URL server) gone by the time the process has exited.
#[rstest]
#[ignore = "needs Docker and the smta-verify/postgres:15 image: cargo test -- --include-ignored (.ci/run does)"]
#[case::container("container")]
#[case::url("url")]
fn an_interrupted_check_is_torn_down_before_it_exits(#[case] backend: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url_server = (backend == "url").then(|| {
        runtime.block_on(async {
            let (sandbox, url) = url_server().await;
            let before = scratch_databases(&url).await;
            (sandbox, url, before)
        })
    });
    let mut command = Command::new(BIN);
    // Enough cases that the run is still going when it is interrupted.
    command.args(["check", "--flavor", "payload", "--cases", "100000"]);
    let out = tempfile::tempdir().unwrap();
    command.arg("--out").arg(out.path());
    match &url_server {
        Some((_, url, _)) => command
            .args(["--backend", "url"])
            .env("SMTA_VERIFY_DATABASE_URL", url),
        None => command.args(["--backend", "container", "--image", postgres_image()]),
    };
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smta-verify check");
    let pid = child.id();

    // Interrupt once the run has made what it must remove.
    let made_something = || match &url_server {
        Some((_, url, before)) => runtime.block_on(scratch_databases(url)).len() > before.len(),
        None => !containers_owned_by(pid).is_empty(),
    };
    eventually(
        Duration::from_secs(120),
        "the run never got going",
        made_something,
    );
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    match url_server {
        Some((sandbox, url, before)) => runtime.block_on(async {
            assert_eq!(scratch_databases(&url).await, before, "{stderr}");
            sandbox.stop().await;
        }),
        None => assert!(containers_owned_by(pid).is_empty(), "{stderr}"),
    }
}

/// Removes the image it names when dropped.
struct ImageCleanup(String);

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Like the official image, an image with /docker-entrypoint-initdb.d scripts first
/// runs a temporary server (socket only) and prints "ready to accept connections"
/// twice. Readiness must mean the real server: the run has to work on such an image.
#[ignore = "needs Docker and the smta-verify/postgres:15 image: cargo test -- --include-ignored (.ci/run does)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_with_a_temporary_init_server_is_awaited_until_the_real_one_is_up() {
    let base = postgres_image();
    let derived = format!("smta-verify/postgres-initdb-test:{}", std::process::id());
    let builder = docker(&["create", base]).pop().expect("a container id");
    let _builder = ContainerCleanup(vec![builder.clone()]);
    let script = tempfile::Builder::new().suffix(".sql").tempfile().unwrap();
    // Slow on purpose: the temporary server stays up for a while.
    std::fs::write(script.path(), "SELECT pg_sleep(2);\n").unwrap();
    // The server user inside the image must be able to read it.
    std::fs::set_permissions(script.path(), PermissionsExt::from_mode(0o644)).unwrap();
    let target = format!("{builder}:/docker-entrypoint-initdb.d/slow.sql");
    docker(&["cp", &script.path().display().to_string(), &target]);
    docker(&["commit", &builder, &derived]);
    let _image = ImageCleanup(derived.clone());

    let report = Verifier::new(Flavor::Payload)
        .backend(Backend::Container)
        .image(&derived)
        .cases(2)
        .seed(7)
        .run()
        .await
        .expect("the run waits for the real server");
    smta_verify::assert_isolated(&report);
    assert_eq!(report.run.backend, "container");
}
