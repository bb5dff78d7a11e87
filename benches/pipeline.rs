//! Benchmarks of every stage of a run (SPEC §7): cluster start, install, clone,
//! seeding, one full property case, the RPC matrix (issue 14), and the whole `check`
//! — on the clean reference and on the multi-defect fixture
//! (`fixtures/mutants/multi.toml`), same seed, where audit mode explores every case
//! and shrinks every distinct defect (issue 12's target: at most 3× the clean run) —
//! and `smta-verify mutate` on one mutant of every kind (mutants per second).
//!
//! `cargo bench --bench pipeline` measures; `cargo bench --bench pipeline -- --test`
//! runs each benchmark once (CI's quick mode). Throughput is reported in probes per
//! second for the case benchmark (criterion's "elements").

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use smta_verify::bench::{local_cluster_start, Pipeline, WorldSize};
use smta_verify::{Families, Flavor, Verifier};

fn cluster(c: &mut Criterion) {
    let mut group = c.benchmark_group("cluster");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("local start to ready", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| local_cluster_start().expect("a local cluster"))
                .sum()
        })
    });
    if std::env::var_os("SMTA_VERIFY_BENCH_CONTAINER").is_some() {
        group.bench_function("container start to ready", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| smta_verify::bench::container_start().expect("a container"))
                    .sum()
            })
        });
    }
    group.finish();
}

fn stages(c: &mut Criterion) {
    for flavor in Flavor::ALL {
        let mut pipeline = Pipeline::new(flavor, Vec::new()).expect("a pipeline");
        let mut group = c.benchmark_group(format!("stages/{flavor}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(15));
        group.bench_function("install schema", |b| {
            b.iter(|| pipeline.install().expect("install"))
        });
        group.bench_function("clone template", |b| {
            b.iter(|| pipeline.clone_database().expect("clone"))
        });

        let world = pipeline.world(WorldSize::TYPICAL, 1);
        let rows = pipeline.seed(&world).expect("seed");
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(
            BenchmarkId::new("seed world", format!("{rows} rows")),
            |b| b.iter(|| pipeline.seed(&world).expect("seed")),
        );

        for (name, families) in [
            ("case (all families)", Families::ALL),
            (
                "case (reads only)",
                Families {
                    reads: true,
                    writes: false,
                    escalation: false,
                    rpc: false,
                    contracts: false,
                    rpc_matrix: false,
                },
            ),
            (
                "case (rpc sweep only)",
                Families {
                    reads: false,
                    writes: false,
                    escalation: false,
                    rpc: true,
                    contracts: false,
                    rpc_matrix: false,
                },
            ),
        ] {
            let stats = pipeline.case(&world, families).expect("a case");
            assert_eq!(stats.findings, 0, "the reference schema has no findings");
            group.throughput(Throughput::Elements(stats.probes as u64));
            let id = BenchmarkId::new(
                name,
                format!("{} rows, {} probes", stats.rows, stats.probes),
            );
            group.bench_function(id, |b| {
                b.iter(|| pipeline.case(&world, families).expect("a case"))
            });
        }
        let stats = pipeline.rpc_matrix().expect("the RPC matrix");
        assert_eq!(
            stats.findings, 0,
            "the reference schema passes the RPC matrix"
        );
        group.throughput(Throughput::Elements(stats.calls));
        group.bench_function(
            BenchmarkId::new(
                "rpc matrix",
                format!("{} functions, {} calls", stats.functions, stats.calls),
            ),
            |b| b.iter(|| pipeline.rpc_matrix().expect("the RPC matrix")),
        );
        group.finish();
    }
}

fn whole_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    group.bench_function("reference, default cases", |b| {
        b.iter(|| {
            let report = Verifier::new(Flavor::Supabase)
                .seed(1)
                .run_blocking()
                .expect("a run");
            assert!(report.findings.is_empty());
        })
    });
    group.bench_function("multi-defect fixture, default cases", |b| {
        b.iter(|| {
            let mut verifier = Verifier::new(Flavor::Supabase).seed(1);
            for overlay in multi_defect_overlays() {
                verifier = verifier.extra_sql(overlay);
            }
            let report = verifier.run_blocking().expect("a run");
            assert!(report.findings.len() > 20, "every seeded defect shows");
        })
    });
    group.finish();
}

/// `smta-verify mutate` on the reference: one mutant of every kind, with the two runs
/// of the unbroken schema it starts with; throughput in mutants per second.
fn mutation(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutate");
    let kinds = smta_verify::MutationKind::ALL.len();
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .throughput(Throughput::Elements(kinds as u64));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    group.bench_function("reference, one mutant per kind", |b| {
        b.iter(|| {
            let report = runtime
                .block_on(
                    Verifier::new(Flavor::Supabase)
                        .seed(1)
                        .cases(16)
                        .rpc_sequences(16)
                        .mutate(kinds),
                )
                .expect("a mutation run");
            assert_eq!(report.mutants.len(), kinds);
            assert!(report.score.killed > 0);
        })
    });
    group.finish();
}

/// The overlays of the multi-defect fixture, in order.
fn multi_defect_overlays() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mutants");
    let text = std::fs::read_to_string(dir.join("multi.toml")).expect("multi.toml");
    let table: toml::Table = text.parse().expect("multi.toml parses");
    table["mutants"]
        .as_array()
        .expect("a list of overlays")
        .iter()
        .map(|m| dir.join(m.as_str().expect("a file name")))
        .collect()
}

criterion_group!(benches, cluster, stages, whole_check, mutation);
criterion_main!(benches);
