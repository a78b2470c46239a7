//! Retention: the provider's periodic pass that deletes what it no longer needs to keep (see
//! [`crate::store::Write::Trim`] for what goes and when), and its in-memory counterpart (the
//! long-poll announcers of clients nobody waits for).
//!
//! Which queue positions a client read past is learnt from its reads ([`Provider::read_queue`]
//! notes the cursor it sent) and handed to the next pass; a restart forgets it, and the client's
//! next read tells it again. A pass is one store write, bounded by the budget; when the budget ran
//! out the next pass follows at once.

use std::time::Duration;

use super::{Provider, ProviderError};
use crate::store::{settle, Retention, Store, Trim, Trimmed, Write, WriteResult};

/// How retention runs (the configuration's `retention_interval_secs`, `queue_ttl_secs`,
/// `dedup_window_secs`, `log_retention_secs` and `trim_budget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Time between passes.
    pub interval: Duration,
    /// How long what is trimmed by age is kept.
    pub retention: Retention,
    /// The most records one pass deletes.
    pub budget: usize,
}

/// A day, in milliseconds.
const DAY_MS: u64 = 24 * 3600 * 1000;

impl Default for RetentionSettings {
    /// A pass a minute; Welcomes nobody read past kept 30 days; deduplication and echo records
    /// 7 days (far beyond any delivery retry); log entries 7 days behind a checkpoint, once
    /// every peer has them; at most 50 000 records per pass.
    fn default() -> Self {
        RetentionSettings {
            interval: Duration::from_secs(60),
            retention: Retention {
                queue_ttl_ms: 30 * DAY_MS,
                dedup_window_ms: 7 * DAY_MS,
                log_retention_ms: 7 * DAY_MS,
            },
            budget: 50_000,
        }
    }
}

/// The `what` label values of `mimi_retention_trimmed_total`, in [`Trimmed`]'s order.
pub const TRIMMED_LABELS: [&str; 6] = ["queue_items", "welcomes", "seen", "relayed", "log_entries", "mirror_entries"];

impl Trimmed {
    /// The counts in the order of [`TRIMMED_LABELS`].
    pub fn counts(&self) -> [u64; 6] {
        [self.queue_items, self.welcomes, self.seen, self.relayed, self.log_entries, self.mirror_entries]
    }
}

impl<S: Store> Provider<S> {
    /// Notes that `client` read its queue past `position` (it asked for what follows it).
    pub(super) fn note_queue_read(&self, client: &str, position: u64) {
        if position == 0 {
            return;
        }
        if let Ok(mut reads) = self.queue_reads.lock() {
            let at = reads.entry(client.to_owned()).or_insert(0);
            *at = (*at).max(position);
        }
    }

    /// One retention pass at `now_ms` under `settings`: what it deleted. The queue reads noted
    /// since the last pass go with it (and are noted again if the write fails).
    pub async fn trim(&self, settings: &RetentionSettings, now_ms: u64) -> Result<Trimmed, ProviderError> {
        let read_past: Vec<(String, u64)> = match self.queue_reads.lock() {
            Ok(mut reads) => std::mem::take(&mut *reads).into_iter().collect(),
            Err(_) => return Err(ProviderError::poisoned("queue reads")),
        };
        let trim =
            Trim { now_ms, read_past: read_past.clone(), retention: settings.retention, budget: settings.budget };
        let trimmed = match settle(self.store.write(Write::Trim(trim))).await {
            Ok(WriteResult::Trimmed(t)) => t,
            Ok(_) => Trimmed::default(),
            Err(e) => {
                for (client, position) in read_past {
                    self.note_queue_read(&client, position);
                }
                return Err(e.into());
            }
        };
        if let Some(family) = &self.metrics.trimmed {
            for (what, n) in TRIMMED_LABELS.iter().zip(trimmed.counts()) {
                if let Ok(counter) = family.with_labels(&[what]) {
                    counter.increment(n);
                }
            }
        }
        // Announcers of clients nobody waits for: a reader that comes makes a new one.
        if let Ok(mut queues) = self.queues.lock() {
            queues.retain(|_, announcer| announcer.receiver_count() > 0);
        }
        Ok(trimmed)
    }

    /// Runs retention for as long as the provider lives: a pass every `settings.interval`, and
    /// passes back to back while one ran out of budget.
    pub async fn run_retention(self: std::sync::Arc<Self>, settings: RetentionSettings) {
        let mut ticks = tokio::time::interval(settings.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            loop {
                match self.trim(&settings, super::now_ms()).await {
                    Ok(t) if t.total() > 0 => {
                        tracing::info!(
                            queue_items = t.queue_items,
                            welcomes = t.welcomes,
                            seen = t.seen,
                            relayed = t.relayed,
                            log_entries = t.log_entries,
                            mirror_entries = t.mirror_entries,
                            more = t.more,
                            "retention pass"
                        );
                        if !t.more {
                            break;
                        }
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "retention pass failed");
                        break;
                    }
                }
            }
        }
    }
}
