//! How one case's cost grows with the world (users, organizations, rows per table)
//! and with the number of tables (generated `app` tables).
//!
//! Criterion draws each group's curve (`target/criterion/<group>/report/lines.svg`);
//! the README's plots are copies of those. Cost should grow linearly in rows and
//! tables.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use smta_verify::bench::{app_tables, Pipeline, WorldSize};
use smta_verify::{Families, Flavor};

fn by_world_size(c: &mut Criterion) {
    let mut pipeline = Pipeline::new(Flavor::Supabase, Vec::new()).expect("a pipeline");
    let mut group = c.benchmark_group("scaling/users");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for users in [2, 4, 6, 8] {
        let size = WorldSize {
            users,
            ..WorldSize::TYPICAL
        };
        let world = pipeline.world(size, 1);
        group.bench_with_input(BenchmarkId::from_parameter(users), &world, |b, w| {
            b.iter(|| pipeline.case(w, Families::ALL).expect("a case"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("scaling/rows per table");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for each in [2, 4, 8, 12] {
        let size = WorldSize {
            each,
            generic: each / 2,
            ..WorldSize::TYPICAL
        };
        let world = pipeline.world(size, 1);
        let rows = pipeline.seed(&world).expect("seed");
        group.bench_with_input(BenchmarkId::from_parameter(rows), &world, |b, w| {
            b.iter(|| pipeline.case(w, Families::ALL).expect("a case"))
        });
    }
    group.finish();
}

fn by_table_count(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling/tables");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for extra in [0, 5, 10, 20] {
        let mut pipeline =
            Pipeline::new(Flavor::Supabase, vec![app_tables(extra)]).expect("a pipeline");
        let world = pipeline.world(WorldSize::TYPICAL, 1);
        let tables = pipeline.tables();
        group.bench_with_input(BenchmarkId::from_parameter(tables), &world, |b, w| {
            b.iter(|| pipeline.case(w, Families::ALL).expect("a case"))
        });
    }
    group.finish();
}

criterion_group!(benches, by_world_size, by_table_count);
criterion_main!(benches);
