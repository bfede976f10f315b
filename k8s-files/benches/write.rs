//! Writing a PKI's worth of files durably: 2014 files of ~1.2 KB (3 masters + 1000 workers,
//! certificate and key each), one at a time with [`write_file`] vs one [`write_files`] batch.
//! Both give the same guarantees (each file flushed before its rename, the folder flushed).
//!
//! `cargo bench -p k8s-files` (files go to a temp folder in K8S_HARD_BENCH_DIR, default the
//! system's: point it at the disk that matters).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use k8s_files::{FileWrite, Mode, ensure_private_dir, write_file, write_files};

const FILES: usize = 2014;

fn names(dir: &std::path::Path) -> Vec<(PathBuf, Mode)> {
    (0..FILES)
        .map(|i| {
            if i % 2 == 0 {
                (dir.join(format!("node-{i}-key.pem")), Mode::Secret)
            } else {
                (dir.join(format!("node-{i}.pem")), Mode::Public)
            }
        })
        .collect()
}

fn fresh() -> (tempfile::TempDir, Vec<(PathBuf, Mode)>) {
    let tmp = match std::env::var_os("K8S_HARD_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("temp dir"),
        None => tempfile::tempdir().expect("temp dir"),
    };
    let dir = tmp.path().join("pki");
    ensure_private_dir(&dir).expect("folder");
    let files = names(&dir);
    (tmp, files)
}

fn bench(c: &mut Criterion) {
    let contents = vec![b'x'; 1200];
    let mut group = c.benchmark_group(format!("write {FILES} files"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.bench_function("one at a time", |b| {
        b.iter_batched(
            fresh,
            |(tmp, files)| {
                for (path, mode) in &files {
                    write_file(path, &contents, *mode).expect("writes");
                }
                black_box(tmp)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("one batch", |b| {
        b.iter_batched(
            fresh,
            |(tmp, files)| {
                let batch: Vec<FileWrite> = files
                    .iter()
                    .map(|(path, mode)| FileWrite::new(path, &contents, *mode))
                    .collect();
                write_files(&batch).expect("writes");
                black_box(tmp)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
