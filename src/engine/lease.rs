//! Leader election on a lease item (contract section 7), in the manner of
//! the DynamoDB lock client: a replica takes over a lease held by another
//! only after it has seen the same version token, unchanged, for a whole
//! lease duration on its own clock — so clock skew between hosts never
//! makes two leaders. The leader renews every third of the duration, and
//! [`Leadership`] is the fence its AWS clients check before each write: it
//! closes a safety margin before the lease could be taken over, counted from
//! when the last successful renewal was *sent*.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::aws::fence::Fence;
use crate::aws::lease::{LeaseItem, LeaseTable};

/// How the election runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `driftd/<owner>`.
    pub id: String,
    /// This replica: host and a random part.
    pub identity: String,
    /// `--lease-duration`.
    pub duration: Duration,
    /// How often a follower reads the lease.
    pub retry: Duration,
}

impl Settings {
    pub const DURATION: Duration = Duration::from_secs(15);
    pub const RETRY: Duration = Duration::from_secs(2);

    /// The leader renews every third of the duration.
    pub fn renew_every(&self) -> Duration {
        self.duration / 3
    }

    /// Writes stop this long before the lease could be taken over: a fifth
    /// of the duration (3 s of the default 15 s), which covers a write
    /// already in the SDK's hands and a little clock drift of this host.
    pub fn margin(&self) -> Duration {
        self.duration / 5
    }
}

/// `<host>-<8 hex digits>`: who holds the lease, as `/status` shows it.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "driftd".to_string());
    format!("{host}-{:08x}", rand::rng().random::<u32>())
}

fn version() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// What the election knows now, shared with the fence and `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub leader: bool,
    /// The holder of the lease as last read (this replica when leading).
    pub holder: Option<String>,
}

/// This replica's standing: the fence of its AWS clients.
#[derive(Debug, Default)]
pub struct Leadership {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: State,
    /// Writes are allowed until then (leader only).
    writes_until: Option<Instant>,
}

impl Leadership {
    pub fn state(&self) -> State {
        self.lock().state.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Fence for Leadership {
    fn may_write(&self) -> bool {
        let inner = self.lock();
        inner.state.leader && inner.writes_until.is_some_and(|t| Instant::now() < t)
    }
}

/// Told of every change of the election's state (the daemon's metrics and
/// `/status`); `transition` when this replica started or stopped leading.
pub trait Observer: Send + Sync {
    fn changed(&self, state: &State, transition: bool);
}

/// Runs the election until `stop`, then releases the lease if held. The
/// leadership is published on `leading` (the daemon reconciles only while
/// it is true) and in `leadership` (the fence).
pub async fn run(
    table: Arc<dyn LeaseTable>,
    settings: Settings,
    leadership: Arc<Leadership>,
    leading: watch::Sender<bool>,
    observer: Arc<dyn Observer>,
    stop: impl Future<Output = ()>,
) {
    let mut election = Election {
        table,
        settings,
        leadership,
        leading,
        observer,
        mine: None,
        seen: None,
    };
    tokio::pin!(stop);
    loop {
        let next = election.step().await;
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(next) => {}
        }
    }
    election.release().await;
}

struct Election {
    table: Arc<dyn LeaseTable>,
    settings: Settings,
    leadership: Arc<Leadership>,
    leading: watch::Sender<bool>,
    observer: Arc<dyn Observer>,
    /// The version this replica last wrote, while it leads.
    mine: Option<String>,
    /// Another holder's version, and when this replica first saw it.
    seen: Option<(String, Instant)>,
}

impl Election {
    fn item(&self, version: &str) -> LeaseItem {
        LeaseItem {
            id: self.settings.id.clone(),
            holder: self.settings.identity.clone(),
            version: version.to_string(),
            duration_ms: u64::try_from(self.settings.duration.as_millis()).unwrap_or(u64::MAX),
            renewed_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        }
    }

    /// One round; returns how long to wait before the next.
    async fn step(&mut self) -> Duration {
        match self.mine.clone() {
            Some(mine) => {
                self.renew(&mine).await;
                self.settings.renew_every()
            }
            None => {
                self.try_acquire().await;
                if self.mine.is_some() {
                    self.settings.renew_every()
                } else {
                    self.settings.retry
                }
            }
        }
    }

    /// Writes a new version where `expected` is (`None`: where no item is).
    /// `Some(true)`: written, and this replica leads until the sent time
    /// plus the duration less the margin.
    async fn write(&mut self, expected: Option<&str>) -> Option<bool> {
        let version = version();
        let sent = Instant::now();
        match self.table.write(&self.item(&version), expected).await {
            Ok(true) => {
                let until = sent + self.settings.duration - self.settings.margin();
                self.lead(version, until);
                Some(true)
            }
            Ok(false) => Some(false),
            Err(e) => {
                warn!(error = %e, lease = %self.settings.id, "cannot write the lease");
                None
            }
        }
    }

    async fn renew(&mut self, mine: &str) {
        match self.write(Some(mine)).await {
            Some(true) | None => {}
            // Someone else holds it now (it was taken over while this
            // replica could not renew): follow.
            Some(false) => self.follow(None, "the lease was taken over"),
        }
        // A leader that cannot renew keeps trying; the fence stops its
        // writes when its time is up, and it steps down once the lease is
        // surely lost.
        let expired = self
            .leadership
            .lock()
            .writes_until
            .is_some_and(|t| Instant::now() >= t + self.settings.margin());
        if expired && self.mine.is_some() {
            self.follow(None, "the lease could not be renewed in time");
        }
    }

    async fn try_acquire(&mut self) {
        let item = match self.table.read(&self.settings.id).await {
            Ok(item) => item,
            Err(e) => {
                warn!(error = %e, lease = %self.settings.id, "cannot read the lease");
                return;
            }
        };
        let Some(item) = item else {
            self.seen = None;
            if self.write(None).await == Some(false) {
                // Taken by another replica at the same moment.
                self.set_holder(None);
            }
            return;
        };
        if item.holder == self.settings.identity {
            // Ours from before (an answer lost on the way back): renew it.
            self.write(Some(&item.version)).await;
            return;
        }
        self.set_holder(Some(item.holder.clone()));
        let now = Instant::now();
        match &self.seen {
            Some((version, since)) if *version == item.version => {
                let held_for = Duration::from_millis(item.duration_ms);
                if now.duration_since(*since) >= held_for {
                    info!(holder = %item.holder, lease = %self.settings.id, "the lease was not renewed for its whole duration: taking it over");
                    if self.write(Some(&item.version)).await == Some(false) {
                        self.seen = None;
                    }
                }
            }
            _ => self.seen = Some((item.version, now)),
        }
    }

    fn lead(&mut self, version: String, until: Instant) {
        let was = self.mine.is_some();
        self.mine = Some(version);
        self.seen = None;
        let state = {
            let mut inner = self.leadership.lock();
            inner.state.leader = true;
            inner.state.holder = Some(self.settings.identity.clone());
            inner.writes_until = Some(until);
            inner.state.clone()
        };
        if !was {
            info!(identity = %self.settings.identity, lease = %self.settings.id, "leading: this replica reconciles");
            self.observer.changed(&state, true);
            let _ = self.leading.send(true); // the daemon has stopped: nobody listens
        }
    }

    fn follow(&mut self, holder: Option<String>, why: &str) {
        let was = self.mine.take().is_some();
        let state = {
            let mut inner = self.leadership.lock();
            inner.state.leader = false;
            inner.state.holder = holder;
            inner.writes_until = None;
            inner.state.clone()
        };
        if was {
            warn!(identity = %self.settings.identity, lease = %self.settings.id, "no longer leading ({why}): no new write starts");
            self.observer.changed(&state, true);
            let _ = self.leading.send(false);
        }
    }

    fn set_holder(&self, holder: Option<String>) {
        let state = {
            let mut inner = self.leadership.lock();
            if inner.state.holder == holder {
                return;
            }
            inner.state.holder = holder;
            inner.state.clone()
        };
        if let Some(h) = &state.holder {
            info!(holder = %h, lease = %self.settings.id, "following: another replica leads");
        }
        self.observer.changed(&state, false);
    }

    /// At a graceful stop: no more writes, and the lease is deleted so that
    /// a successor takes over at its next read.
    async fn release(&mut self) {
        let Some(mine) = self.mine.clone() else {
            return;
        };
        self.follow(None, "stopping");
        match self.table.release(&self.settings.id, &mine).await {
            Ok(true) => info!(lease = %self.settings.id, "lease released"),
            Ok(false) => {
                warn!(lease = %self.settings.id, "the lease was no longer ours to release")
            }
            Err(e) => {
                warn!(error = %e, lease = %self.settings.id, "cannot release the lease: a successor takes over when it expires")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use async_trait::async_trait;

    use super::*;
    use crate::aws::Error;

    /// The table in memory, with a switch that makes every call fail.
    #[derive(Default)]
    struct Table {
        items: Mutex<HashMap<String, LeaseItem>>,
        down: std::sync::atomic::AtomicBool,
    }

    impl Table {
        fn check(&self) -> Result<(), Error> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::new(
                    "dynamodb",
                    "PutItem",
                    crate::aws::ErrorClass::Transient,
                    "unreachable",
                ));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl LeaseTable for Table {
        async fn read(&self, id: &str) -> Result<Option<LeaseItem>, Error> {
            self.check()?;
            Ok(self.items.lock().unwrap().get(id).cloned())
        }

        async fn write(&self, item: &LeaseItem, expected: Option<&str>) -> Result<bool, Error> {
            self.check()?;
            let mut items = self.items.lock().unwrap();
            let current = items.get(&item.id).map(|i| i.version.as_str());
            if current != expected {
                return Ok(false);
            }
            items.insert(item.id.clone(), item.clone());
            Ok(true)
        }

        async fn release(&self, id: &str, version: &str) -> Result<bool, Error> {
            self.check()?;
            let mut items = self.items.lock().unwrap();
            if items.get(id).map(|i| i.version.as_str()) != Some(version) {
                return Ok(false);
            }
            items.remove(id);
            Ok(true)
        }
    }

    struct Quiet;

    impl Observer for Quiet {
        fn changed(&self, _state: &State, _transition: bool) {}
    }

    fn election(table: &Arc<Table>, identity: &str) -> Election {
        Election {
            table: table.clone(),
            settings: Settings {
                id: "driftd/driftd".into(),
                identity: identity.into(),
                duration: Duration::from_secs(15),
                retry: Duration::from_secs(2),
            },
            leadership: Arc::default(),
            leading: watch::channel(false).0,
            observer: Arc::new(Quiet),
            mine: None,
            seen: None,
        }
    }

    /// Replicas "a" and "b" of one lease table.
    fn two_replicas() -> (Arc<Table>, Election, Election) {
        let table = Arc::new(Table::default());
        let (a, b) = (election(&table, "a"), election(&table, "b"));
        (table, a, b)
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_replica_leads_and_another_takes_over_only_after_a_whole_unrenewed_duration()
    {
        let (_, mut a, mut b) = two_replicas();
        a.step().await;
        assert!(a.leadership.state().leader);
        assert!(a.leadership.may_write());
        // b follows while a renews, however long that lasts.
        for _ in 0..20 {
            b.step().await;
            tokio::time::advance(Duration::from_secs(5)).await;
            a.step().await;
            assert!(!b.leadership.state().leader);
            assert_eq!(b.leadership.state().holder.as_deref(), Some("a"));
        }
        // a stops renewing (cut off, or killed): b takes over once it has
        // seen the same version for 15 s on its own clock, not before.
        b.step().await;
        tokio::time::advance(Duration::from_secs(14)).await;
        b.step().await;
        assert!(!b.leadership.state().leader);
        tokio::time::advance(Duration::from_secs(1)).await;
        b.step().await;
        assert!(b.leadership.state().leader);
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_cut_off_stops_writing_before_anyone_can_take_over() {
        let (table, mut a, mut b) = two_replicas();
        a.step().await;
        b.step().await; // b sees a's version now
        table.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let cut = Instant::now();
        // a keeps trying to renew; its fence closes at 15 s - 3 s.
        let mut fenced_at = None;
        while cut.elapsed() < Duration::from_secs(20) {
            tokio::time::advance(Duration::from_millis(500)).await;
            a.step().await;
            if fenced_at.is_none() && !a.leadership.may_write() {
                fenced_at = Some(cut.elapsed());
            }
        }
        let fenced_at = fenced_at.expect("fenced");
        assert!(fenced_at <= Duration::from_secs(12), "{fenced_at:?}");
        assert!(!a.leadership.state().leader, "stepped down");
        // b can take over at 15 s at the earliest: after a stopped writing.
        table.down.store(false, std::sync::atomic::Ordering::SeqCst);
        b.step().await;
        assert!(b.leadership.state().leader);
        assert!(!a.leadership.may_write());
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_lease_is_taken_at_the_next_read() {
        let (_, mut a, mut b) = two_replicas();
        a.step().await;
        b.step().await;
        a.release().await;
        assert!(!a.leadership.may_write());
        b.step().await;
        assert!(b.leadership.state().leader);
    }
}
