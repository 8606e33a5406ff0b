//! How many password hashes may run at once. Each argon2id hash holds its working memory
//! (19 MiB by default) while it runs; a burst of logins must not hash more at once than the
//! pod's memory limit holds beside the service itself, nor more than it has cores.

/// What the service needs beside its hashes (connections, caches, buffers), bytes.
pub const SERVICE_RESERVE: u64 = 48 * 1024 * 1024;

/// Hashes that may run at once: one per core, fewer when the memory limit (bytes, `None`
/// for none) minus [`SERVICE_RESERVE`] holds fewer of `per_hash` bytes; at least one.
pub fn concurrent_hashes(cores: usize, memory_limit: Option<u64>, per_hash: u64) -> usize {
    let by_memory = memory_limit.map_or(usize::MAX, |limit| {
        let room = limit.saturating_sub(SERVICE_RESERVE) / per_hash.max(1);
        usize::try_from(room).unwrap_or(usize::MAX)
    });
    cores.min(by_memory).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn cores_bound_it_without_a_limit() {
        assert_eq!(concurrent_hashes(8, None, 19 * MIB), 8);
    }

    #[test]
    fn the_memory_limit_bounds_it_beside_the_service() {
        // The prod pod: 128 MiB, 19 MiB hashes: 80 MiB of room holds 4.
        assert_eq!(concurrent_hashes(16, Some(128 * MIB), 19 * MIB), 4);
        assert_eq!(concurrent_hashes(2, Some(128 * MIB), 19 * MIB), 2);
        // Whatever the limit, one hash can always run.
        assert_eq!(concurrent_hashes(8, Some(32 * MIB), 19 * MIB), 1);
    }
}
