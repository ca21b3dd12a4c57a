//! The request mix both tracker benches send: peer `id` (of `n`)
//! announces five files of its own first, then sends 10% announce, 20%
//! update (seeding two of its files, leeching another peer's), 40% look
//! by exact name and 30% getfile of other peers' files.

/// The first request of peer `id`, listening on `port`.
pub fn announce(id: usize, port: u16) -> String {
    let files: Vec<String> = (0..5).map(|j| format!("c{id}_{j} {} 524288 {}", 1 << 20, key(id, j))).collect();
    format!("announce listen {port} seed [{}] leech []\n", files.join(" "))
}

/// Any later request of peer `id`.
pub fn next(id: usize, port: u16, n: usize, rng: &mut fastrand::Rng) -> String {
    let other = rng.usize(..n);
    match rng.u8(..10) {
        0 => announce(id, port),
        1 | 2 => format!("update seed [{} {}] leech [{}]\n", key(id, 0), key(id, 1), key(other, 2)),
        3..=6 => format!("look [filename=\"c{other}_{}\"]\n", rng.usize(..5)),
        _ => format!("getfile {}\n", key(other, rng.usize(..5))),
    }
}

fn key(id: usize, file: usize) -> String {
    format!("{:032x}", (id as u128) << 8 | file as u128)
}
