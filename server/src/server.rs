//! Opening a server and serving it: [`Server::open`] does everything that
//! can fail at start, [`Server::serve`] runs the chat on a bound listener
//! until the caller's shutdown future resolves.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::allow::{AllowFileError, AllowList};
use crate::bans::BanList;
use crate::budget::AddressBudget;
use crate::config::{Config, ConfigError, DbLocation};
use crate::domain::StoredMessage;
use crate::domain::{Clock, NoRandomness, SessionToken};
use crate::group::GroupPublisher;
use crate::hub::Hub;
use crate::listener::{ConnectionLimits, Port};
use crate::session::privacy::RoomPrivacy;
use crate::session::{owners, password};
use crate::state::Shared;
use crate::store::{
    self, LogReader, Migrated, Publish, RedisStore, ServerName, SqliteStore, Store, StoreError,
    StoreHandle,
};
use crate::tls::{ServerTls, TlsSetupError};
use crate::{discovery, listener, open_files};

/// A chat server, opened and ready to serve.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    /// Joined after serving, so everything acknowledged is on disk when
    /// [`Server::serve`] returns.
    store_thread: JoinHandle<()>,
    /// The thread that answers history reads, for a database file or Redis.
    history_thread: Option<JoinHandle<()>>,
    /// The thread that publishes the shared log, for a server sharing Redis.
    log_thread: Option<LogThread>,
    /// Where IRC clients connect, if anywhere.
    irc: Option<TcpListener>,
}

/// Why a server could not be opened. Each is something the person
/// starting it can act on. The message says what could not be done; the
/// source says why (print the whole chain, as `anyhow` does).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A setting would make the server unusable.
    #[error("invalid setting")]
    Config(#[from] ConfigError),
    /// The message database cannot be opened or read.
    #[error("cannot open the message database")]
    Database(#[from] StoreError),
    /// Session tokens cannot be made secret.
    #[error("cannot make session tokens")]
    Randomness(#[from] NoRandomness),
    /// The file of admitted identities cannot be used.
    #[error("cannot read the allowed identities")]
    Allow(#[from] AllowFileError),
    /// The TLS key cannot be read or made.
    #[error("cannot set up TLS")]
    Tls(#[from] TlsSetupError),
    /// The store thread could not be started.
    #[error("cannot start the store thread")]
    Thread(#[from] std::io::Error),
}

/// Frees an owned nickname in the store `config` names (its Redis, or its
/// database), whoever owns it: the operator's way out when someone lost
/// their key. True if it was owned. Safe while servers run on the same
/// store (SQLite takes turns; Redis runs one command at a time).
pub fn release_nick(config: &Config, nick: &str) -> Result<bool, StoreError> {
    let key = crate::domain::NickKey::of(nick);
    match &config.redis {
        Some(url) => RedisStore::open(url, ServerName::random()?)?.release_nick(&key, None),
        None => SqliteStore::open(&config.db)?.release_nick(&key, None),
    }
}

/// Copies the SQLite database `from` into the Redis `config` names, which
/// must hold no messages yet, with the same ids (`--migrate-from`). Run it
/// with no server using either.
pub fn migrate_from_sqlite(config: &Config, from: &Path) -> Result<Migrated, StoreError> {
    let Some(url) = &config.redis else {
        return Err(StoreError::new(
            "--migrate-from needs --redis: where to copy to",
        ));
    };
    if !from.is_file() {
        return Err(StoreError::new(format!(
            "{} is not a database file",
            from.display()
        )));
    }
    let mut sqlite = SqliteStore::open(&DbLocation::File(from.to_owned()))?;
    let mut redis = RedisStore::open(url, ServerName::random()?)?;
    redis.copy_from(&mut sqlite, Clock::system().now_millis())
}

/// The store a server keeps its state in, just opened.
struct Opened {
    /// The store thread's.
    store: Box<dyn Store>,
    /// A second connection for the history thread, if the store has one.
    reader: Option<Box<dyn Store>>,
    /// For a server that shares a Redis with others: where it reads the
    /// messages of all of them, its own included, to publish them.
    log: Option<LogReader>,
    /// The last id given out when the store was opened.
    last_id: u64,
}

impl Opened {
    fn of(config: &Config) -> Result<Opened, StoreError> {
        let Some(url) = &config.redis else {
            let mut sqlite = SqliteStore::open(&config.db)?;
            let reader = SqliteStore::open_reader(&config.db)?;
            return Ok(Opened {
                last_id: sqlite.last_id()?,
                store: Box::new(sqlite),
                reader: reader.map(|reader| Box::new(reader) as Box<dyn Store>),
                log: None,
            });
        };
        let mut redis = RedisStore::open(url, ServerName::random()?)?;
        // Other servers take the nicknames of a server without a lease for
        // those of a dead one: hold one before anybody joins here.
        redis.keep_lease()?;
        // One reading of the counter for both: the hub's first "published"
        // is where the log reader starts, so nothing falls in between.
        let last_id = redis.last_id()?;
        Ok(Opened {
            reader: Some(Box::new(redis.another()?)),
            log: Some(redis.log_reader(last_id)?),
            store: Box::new(redis),
            last_id,
        })
    }
}

/// The thread that reads the shared log, and how to stop it.
#[derive(Debug)]
struct LogThread {
    join: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl LogThread {
    /// Starts reading `log` into `publisher`, after telling its hub who is
    /// where on the other servers. From then on the hub tells the others
    /// through `store` of its own members' comings and goings.
    fn start(
        store: &StoreHandle,
        mut log: LogReader,
        publisher: GroupPublisher,
    ) -> Result<LogThread, OpenError> {
        for member in log.presence_now()? {
            publisher.hub.apply_shared(&member);
        }
        publisher.hub.share_through(store.presence_outlet());
        let stop = Arc::new(AtomicBool::new(false));
        let join = store::spawn_log_reader(log, Box::new(publisher), Arc::clone(&stop))?;
        Ok(LogThread {
            join: Some(join),
            stop,
        })
    }

    /// Stops the reader and waits for it: within one of its blocking reads.
    fn stop_and_wait(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// A server opened but never served stops its reader too.
impl Drop for LogThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Server {
    /// Checks `config`, fits the connection cap to the open-file limit
    /// (raising the soft limit first), opens the database, reads the last
    /// message id and starts the store thread. Blocks while the database opens, which is
    /// quick unless the disk is not.
    pub fn open(mut config: Config) -> Result<Server, OpenError> {
        config.validate()?;
        config.max_connections = open_files::fit_connections(config.max_connections);
        // Every hello needs a secret token; a machine that cannot make one
        // cannot serve anybody safely.
        SessionToken::generate()?;
        let Opened {
            mut store,
            reader,
            log,
            last_id,
        } = Opened::of(&config)?;
        let hub = Hub::new(config.queue_len);
        hub.set_last_published(last_id);
        let history_id = store.history_id()?;
        let clock = Clock::system();
        let bans = Arc::new(BanList::new(store.load_bans(clock.now_millis())?));
        let privacy = Arc::new(RoomPrivacy::new(store.private_rooms()?));
        let tls = ServerTls::open(&config)?;
        let allow = match &config.allow_file {
            Some(path) => Some(Arc::new(AllowList::load(path)?)),
            None => None,
        };
        // A server sharing a log publishes what it reads there, its own
        // messages included; a server alone publishes each commit.
        let publisher: Box<dyn Publish> = match log {
            Some(_) => Box::new(|_: &[StoredMessage]| {}),
            None => Box::new(Arc::clone(&hub)),
        };
        let (mut store, store_thread) = store::spawn(store, publisher, config.retention, clock)?;
        let history_thread = match reader {
            Some(reader) => Some(store::spawn_history_reader(
                &mut store,
                reader,
                config.retention,
                clock,
            )?),
            None => None,
        };
        let log_thread = match log {
            Some(log) => Some(LogThread::start(
                &store,
                log,
                GroupPublisher {
                    hub: Arc::clone(&hub),
                    bans: Arc::clone(&bans),
                    privacy: Arc::clone(&privacy),
                    admins: config.admins.clone(),
                    clock,
                },
            )?),
            None => None,
        };
        let shared = Arc::new(Shared {
            config,
            hub,
            store,
            history_id,
            tls,
            claims: Arc::new(AddressBudget::new(owners::NEW_OWNERSHIPS)),
            wrong_passwords: AddressBudget::new(password::WRONG_PASSWORDS),
            allow,
            privacy,
            bans,
            mutes: BanList::default(),
            clock,
            shutdown: CancellationToken::new(),
        });
        Ok(Server {
            shared,
            store_thread,
            history_thread,
            log_thread,
            irc: None,
        })
    }

    /// The list of admitted identities, if `--allow` gave one: the handle
    /// to reload it with (the binary does on SIGHUP).
    pub fn allow_list(&self) -> Option<Arc<AllowList>> {
        self.shared.allow.clone()
    }

    /// The fingerprint of the server's TLS key, as clients see it.
    pub fn fingerprint(&self) -> &lanchat_shared::Fingerprint {
        &self.shared.tls.fingerprint
    }

    /// Serves IRC clients on `listener` too, in the same rooms, from
    /// [`Server::serve`] on (see the IRC section of `docs/PROTOCOL.md`).
    pub fn with_irc(mut self, listener: TcpListener) -> Server {
        self.irc = Some(listener);
        self
    }

    /// Serves the chat on `listener` until `shutdown` completes, then
    /// shuts down gracefully: it stops accepting, every client is sent
    /// what was already queued for it and a notice, and `serve` returns
    /// once all connections have closed or `config.shutdown_grace` has
    /// passed, and the last commits are on disk.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let Server {
            shared,
            store_thread,
            history_thread,
            log_thread,
            irc,
        } = self;
        let tracker = TaskTracker::new();
        tracker.spawn(prune_on_a_timer(Arc::clone(&shared)));
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, "lanchat-server listening");
            if shared.config.discovery {
                offer_discovery(&shared, &tracker, addr).await;
            }
        }
        // Dropping the accept loop at shutdown drops the listener: new
        // connection attempts are refused from that moment on.
        // One set of connection caps for every port.
        let limits = Arc::new(ConnectionLimits::new(&shared.config));
        let main = listener::accept_loop(
            (listener, Port::Main),
            Arc::clone(&shared),
            Arc::clone(&limits),
            tracker.clone(),
        );
        let irc = async {
            match irc {
                Some(irc) => {
                    if let Ok(addr) = irc.local_addr() {
                        info!(%addr, "IRC clients welcome");
                    }
                    let (shared, tracker) = (Arc::clone(&shared), tracker.clone());
                    listener::accept_loop((irc, Port::Irc), shared, limits, tracker).await;
                }
                None => std::future::pending().await,
            }
        };
        // Part of serving, not a task of its own: a server that stops
        // serving, however it stops, stops renewing its lease.
        let lease = async {
            match shared.config.redis {
                Some(_) => keep_lease_on_a_timer(&shared).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = main => {}
            () = irc => {}
            () = lease => {}
            () = shutdown => {}
        }
        info!("shutting down");
        shared.shutdown.cancel();
        tracker.close();
        let grace = shared.config.shutdown_grace;
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            let still_open = tracker.len();
            warn!(
                still_open,
                "some clients did not close within the grace period"
            );
        }
        // The store thread ends once every handle is gone; wait for it so
        // the last commits are on disk before `serve` returns.
        drop(shared);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = store_thread.join();
            let _ = history_thread.map(JoinHandle::join);
            // Nobody is left to publish to; the reader stops within one of
            // its blocking reads.
            if let Some(log) = log_thread {
                log.stop_and_wait();
            }
        })
        .await;
    }
}

/// How often retention runs on a quiet server; a busy one also prunes
/// every thousand appends. History queries never serve what retention no
/// longer keeps in between, so this bounds only how long deleted messages
/// take to leave the disk.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Asks the store for a retention pass every [`PRUNE_INTERVAL`] until
/// shutdown.
async fn prune_on_a_timer(shared: Arc<Shared>) {
    let mut ticks = tokio::time::interval(PRUNE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once; the store pruned when it started.
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => shared.store.prune_soon(),
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// Renews this server's lease on its nicknames among the servers sharing
/// Redis every [`store::LEASE_RENEWAL`], freeing those of servers that
/// stopped without saying so; runs for as long as it is polled.
async fn keep_lease_on_a_timer(shared: &Shared) -> ! {
    let mut ticks = tokio::time::interval(store::LEASE_RENEWAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match shared.store.run(|store, _| store.keep_lease()).await {
            Ok(lease) => {
                for server in lease.reaped {
                    info!(%server, "a server stopped without saying so; its nicknames are free");
                }
                // Its nicknames may have been given to others meanwhile:
                // everyone here reconnects and claims theirs again.
                if lease.lapsed {
                    warn!(
                        "this server's lease on its nicknames ran out; its clients are told to reconnect"
                    );
                    shared.hub.put_out_of_server(
                        |_| true,
                        "this server lost its hold on nicknames among the servers; reconnect",
                    );
                    // It may have been reaped, and the comings and goings
                    // of others deleted before its reader read them.
                    shared.hub.mark_presence_stale();
                }
            }
            Err(error) => warn!(
                error = error.explained(),
                "could not renew this server's lease"
            ),
        }
        free_unheld_nicknames(shared).await;
    }
}

/// Frees the nicknames Redis gives this server that none of its
/// connections holds (a claim's or a release's answer was lost), once
/// seen so at two renewals in a row: a claim whose connection is about to
/// join is never taken for one.
async fn free_unheld_nicknames(shared: &Shared) {
    let hub = Arc::clone(&shared.hub);
    let freed = shared
        .store
        .run(move |store, _| store.reconcile_online(&hub.member_keys()))
        .await;
    match freed {
        Ok(freed) if !freed.is_empty() => {
            info!(
                ?freed,
                "nicknames no connection here holds are free among the servers"
            );
        }
        Ok(_) => {}
        Err(error) => warn!(
            error = error.explained(),
            "could not check this server's nicknames among the servers"
        ),
    }
}

/// Answers LAN discovery on UDP at the listener's address. Discovery is a
/// convenience: failing to offer it is logged, not fatal.
async fn offer_discovery(shared: &Arc<Shared>, tracker: &TaskTracker, addr: std::net::SocketAddr) {
    match UdpSocket::bind(addr).await {
        Ok(socket) => {
            let shared = Arc::clone(shared);
            tracker.spawn(discovery::answer_probes(socket, shared, addr.port()));
        }
        Err(error) => warn!(%error, "LAN discovery is off: could not bind UDP {addr}"),
    }
}
