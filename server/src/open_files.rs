//! The open-file limit and the connection cap: every connection is a file
//! descriptor, and a server that runs out of them cannot even accept a
//! connection to tell it `server_full` — the client hangs in silence and
//! the accept loop spins on EMFILE. So at start the soft limit is raised as
//! far as the hard limit allows, and the connection cap is kept below what
//! is left after the server's own files.

use tracing::{info, warn};

/// Files the server needs besides its connections: standard streams, the
/// runtime's epoll and event descriptors, the listener, the discovery
/// socket, SQLite's database, WAL and shared-memory files for two
/// connections, and a margin for a connection accepted only to be refused.
pub(crate) const RESERVED_FILES: u64 = 64;

/// Raises the soft limit on open files to the hard limit and returns the
/// connection cap that fits in it: `wanted`, or fewer if the process
/// cannot open that many files. Says in the log what it did.
pub(crate) fn fit_connections(wanted: usize) -> usize {
    let before = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).ok();
    let limit = match (rlimit::increase_nofile_limit(u64::MAX), before) {
        (Ok(limit), _) => limit,
        // Not allowed to raise it: fit the cap to the limit there is.
        (Err(error), Some(before)) => {
            warn!(%error, open_files = before, "cannot raise the open-file limit");
            before
        }
        (Err(error), None) => {
            warn!(%error, "cannot read the open-file limit; keeping --max-connections");
            return wanted;
        }
    };
    if before.is_some_and(|before| before < limit) {
        info!(open_files = limit, "raised the open-file limit");
    }
    let cap = connection_cap(wanted, limit);
    if cap < wanted {
        warn!(
            max_connections = cap,
            asked = wanted,
            open_files = limit,
            "the open-file limit allows fewer connections than --max-connections; \
             the rest are told server_full (raise `ulimit -n` or LimitNOFILE to serve more)"
        );
    }
    cap
}

/// The most connections that fit in `open_files` with the server's own.
fn connection_cap(wanted: usize, open_files: u64) -> usize {
    let room = open_files.saturating_sub(RESERVED_FILES).max(1);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_servers_own_files_free() {
        assert_eq!(connection_cap(1024, 1024), 960);
        assert_eq!(connection_cap(100, 1_048_576), 100);
        assert_eq!(connection_cap(1024, 10), 1, "one connection at least");
    }
}
