//! The watcher: a second connection that samples `pg_locks` and `pg_stat_activity` for the
//! backend applying the migrations, every [`INTERVAL`], until told to stop.
//!
//! The applying connection also reads its own locks after each statement of a transactional
//! migration (they are held until COMMIT, so that read misses none). The watcher sees what
//! that cannot: locks of non-transactional statements (released when the statement ends),
//! how long a statement waited for a lock, and when a waited-for lock was finally granted.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::locks::LockMode;

/// How often the watcher samples. 50 ms resolves the locks that matter (held for seconds)
/// while costing the server one small catalog query per tick.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// One relation lock of the watched backend in one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampledLock {
    /// `pg_locks.relation`.
    pub oid: u32,
    /// Its mode.
    pub mode: LockMode,
    /// False while the backend waits for it.
    pub granted: bool,
}

/// What one tick saw.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the answer arrived.
    pub at: Instant,
    /// `pg_stat_activity.wait_event_type = 'Lock'`: the backend was queued behind a lock.
    pub waiting_for_lock: bool,
    /// Relation locks of the backend.
    pub locks: Vec<SampledLock>,
}

/// A running watcher; [`Watcher::stop`] ends it and hands back its samples.
pub struct Watcher {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Sample>>,
}

// One query for both views, so a sample is one round trip and its rows are consistent.
const SAMPLE_SQL: &str = "\
SELECT a.wait_event_type = 'Lock' AS waiting, l.relation, l.mode, l.granted \
FROM pg_stat_activity a \
LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' \
WHERE a.pid = $1";

impl Watcher {
    /// Starts sampling backend `pid` over `client` (a connection of its own: sampling over
    /// the applying connection would wait for the statement it is meant to watch).
    pub fn start(client: tokio_postgres::Client, pid: i32) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let Ok(statement) = client.prepare(SAMPLE_SQL).await else {
                return samples;
            };
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                // A failed sample is a gap in the picture, not a failed rehearsal: the
                // applying connection's own reads still see every transactional lock.
                let Ok(rows) = client.query(&statement, &[&pid]).await else {
                    continue;
                };
                let at = Instant::now();
                let mut sample = Sample {
                    at,
                    waiting_for_lock: false,
                    locks: Vec::new(),
                };
                for row in rows {
                    sample.waiting_for_lock |= row.get::<_, Option<bool>>(0).unwrap_or(false);
                    let oid: Option<u32> = row.get(1);
                    let mode: Option<String> = row.get(2);
                    let granted: Option<bool> = row.get(3);
                    if let (Some(oid), Some(mode), Some(granted)) =
                        (oid, mode.as_deref().and_then(LockMode::from_pg), granted)
                    {
                        sample.locks.push(SampledLock { oid, mode, granted });
                    }
                }
                samples.push(sample);
            }
            samples
        });
        Self { stop, task }
    }

    /// Stops sampling and returns every sample taken.
    pub async fn stop(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
