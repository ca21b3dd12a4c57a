//! Key computation speed: hashes a 1 GiB file of random bytes (from the
//! page cache) on one thread and prints GB/s. Run with `make bench-key`;
//! `KEY_BENCH_MIB` changes the size.

use std::io::Write;
use std::time::Instant;

use common::hashing::digest_file;

fn main() -> std::io::Result<()> {
    let mib: u64 = std::env::var("KEY_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_exact_mut(8) {
            // xorshift64: incompressible enough for a hash benchmark.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block)?;
    }
    file.into_inner()?.sync_all()?;
    let bytes = mib << 20;
    let mut best = f64::MAX;
    for run in 0..3 {
        let start = Instant::now();
        let digest = digest_file(&path, common::PieceSize::Auto)?;
        let secs = start.elapsed().as_secs_f64();
        best = best.min(secs);
        println!(
            "run {run}: {} pieces of {} KiB, key {}…, {:.2} s, {:.2} GB/s",
            digest.layout.piece_count(),
            digest.layout.piece_size() / 1024,
            digest.key.short(),
            secs,
            bytes as f64 / secs / 1e9
        );
    }
    println!("key computation: {:.2} GB/s on one core ({mib} MiB file, best of 3)", bytes as f64 / best / 1e9);
    Ok(())
}
