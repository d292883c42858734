//! The notify step: deliver a finding (or a digest) to a channel exactly once, as far as the
//! channel can tell.
//!
//! * **Receipts.** `delivery/<channel>/<id>` is written after the channel accepted the message; a
//!   redelivered finding with a receipt is dropped.
//! * **Idempotency.** Every attempt carries the key of the (content, channel) pair
//!   ([`crate::notify::idempotency_key`]). If the invocation dies between the send and the
//!   receipt, the resend carries the same key (webhook `Idempotency-Key`, email `Message-ID`,
//!   SNS FIFO deduplication id), so receivers drop it.
//! * **Retries.** A retryable failure (network, timeout, 429, 5xx) is retried with exponential
//!   backoff and full jitter ([`RetryPolicy`]); the wait is injected ([`Pacing`]) so tests do not
//!   sleep. When the receiver said how long to wait (`Retry-After` on a 429 or 503:
//!   [`SendError::retry_after`]), that wait is used instead, capped at [`MAX_RETRY_AFTER`]; the
//!   throttled request still counts as one of the policy's attempts.
//! * **Dead letter.** After the last attempt, or at once for a permanent failure (400, 403, 404, a
//!   refused address), a [`DeadLetter`] record goes to `deadletter/<channel>/<id>` in the state
//!   store and, when given, to the dead-letter queue. The message is then done: the queue does not
//!   redeliver it.
//! * **Digests.** A route in digest mode [`collect`]s the finding into the channel's bucket for the
//!   period (`digest/<channel>/<cadence>/<start>`) and lists the bucket in the pending index
//!   (`digest/pending`); a scheduled run calls [`flush_due`], which sends every period that has
//!   ended and clears it from the index. Both are idempotent: a redelivered finding is not counted
//!   twice and a digest is sent once (its receipt is `delivery/<channel>/digest-<cadence>-<start>`).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

use super::messages::Finding;
use super::FlowError;
use crate::notify::{
    idempotency_key, render, Cadence, Channel, Content, Digest, Notice, Outgoing, SendError,
};
use crate::ports::{put_once, update_json, Publication, Publisher, Queue, StateStore};

pub use crate::notify::routing::RetryPolicy;

/// The longest wait a receiver's `Retry-After` can impose between two attempts: a receiver asking
/// for more is retried after this long (and still gets only the policy's attempts), so a
/// misbehaving endpoint cannot hold the notify step past its platform timeout.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait after failed attempt `attempt`: what the receiver asked for (capped at
/// [`MAX_RETRY_AFTER`]), else the policy's jittered backoff for the random draw `unit`.
pub fn retry_wait(policy: &RetryPolicy, e: &SendError, attempt: u32, unit: f64) -> Duration {
    match e.retry_after {
        Some(asked) => asked.min(MAX_RETRY_AFTER),
        None => policy.delay(attempt, unit),
    }
}

/// What happened to a finding on one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Sent now.
    Sent,
    /// Sent before; dropped.
    Duplicate,
    /// Every attempt failed (or the channel refused it): recorded as a dead letter.
    DeadLettered,
    /// Added to the channel's digest for the period.
    Collected,
}

impl Delivery {
    /// `sent`, `duplicate`, `dead-lettered`, `collected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Duplicate => "duplicate",
            Delivery::DeadLettered => "dead-lettered",
            Delivery::Collected => "collected",
        }
    }
}

/// How retries wait: the shell passes `std::thread::sleep` and a random source; tests pass a
/// recorder and a fixed value.
pub struct Pacing<'a> {
    /// Waits (blocks) for the given time.
    pub sleep: &'a dyn Fn(Duration),
    /// A uniform random number in `[0, 1]` for the jitter.
    pub unit: &'a dyn Fn() -> f64,
}

/// A delivery that gave up, kept for an operator to inspect and replay (`docs/notifications.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The channel's name.
    pub channel: String,
    /// The finding or digest id.
    pub id: String,
    /// The idempotency key every attempt carried.
    pub idempotency_key: String,
    /// Attempts made.
    pub attempts: u32,
    /// Whether the last failure was retryable (false: the channel refused the message).
    pub retryable: bool,
    /// The last failure (never contains a secret).
    pub error: String,
    /// When it was given up.
    pub at: DateTime<Utc>,
}

/// The message a finding becomes on a topic: subject, text and filterable attributes.
pub fn publication(f: &Finding) -> Publication {
    crate::notify::sns::render(
        &Notice {
            content: Content::Finding(f),
            link: None,
        },
        &f.id,
    )
}

/// Delivers `finding` to the topic `publisher` under the channel name `channel` unless a receipt
/// says it was delivered already. A failure is returned (the queue redelivers the message); the
/// topic's SDK has retried already.
pub fn deliver(
    finding: &Finding,
    channel: &str,
    publisher: &dyn Publisher,
    state: &dyn StateStore,
) -> Result<Delivery, FlowError> {
    let receipt = receipt_key(channel, &finding.id);
    if state.get(&receipt)?.is_some() {
        return Ok(Delivery::Duplicate);
    }
    publisher.publish(&publication(finding))?;
    // A concurrent duplicate may have written the receipt meanwhile; either way it is delivered.
    put_once(state, &receipt, finding.found_at.to_rfc3339().as_bytes())?;
    Ok(Delivery::Sent)
}

/// `delivery/<channel>/<id>`.
pub fn receipt_key(channel: &str, id: &str) -> String {
    format!("delivery/{channel}/{id}")
}

/// `deadletter/<channel>/<id>`.
pub fn dead_letter_key(channel: &str, id: &str) -> String {
    format!("deadletter/{channel}/{id}")
}

/// Sends `notice` through `channel` with retries, once: skipped when a receipt exists, recorded
/// as a dead letter when every attempt fails. Port failures (state, dead-letter queue) are
/// returned as errors so the message is redelivered; channel failures never are.
pub fn send(
    channel: &dyn Channel,
    notice: &Notice<'_>,
    state: &dyn StateStore,
    policy: &RetryPolicy,
    pacing: &Pacing<'_>,
    dead_letters: Option<&dyn Queue>,
    now: DateTime<Utc>,
) -> Result<Delivery, FlowError> {
    let id = notice.content.id();
    let receipt = receipt_key(channel.name(), &id);
    if state.get(&receipt)?.is_some() {
        return Ok(Delivery::Duplicate);
    }
    let key = idempotency_key(channel.name(), &id);
    let mut out = Outgoing {
        rendered: render(channel.kind(), notice, &key),
        idempotency_key: key,
        attempt: 0,
    };
    let max = policy.max_attempts.max(1);
    let mut last = SendError::permanent("no attempt made");
    for attempt in 1..=max {
        out.attempt = attempt;
        match channel.send(&out) {
            Ok(()) => {
                put_once(state, &receipt, now.to_rfc3339().as_bytes())?;
                tracing::info!(channel = channel.name(), id = %id, attempt, "notification sent");
                return Ok(Delivery::Sent);
            }
            Err(e) => {
                tracing::warn!(
                    channel = channel.name(),
                    id = %id,
                    attempt,
                    retryable = e.retryable,
                    error = %e.message,
                    "notification attempt failed"
                );
                let wait = (e.retryable && attempt < max)
                    .then(|| retry_wait(policy, &e, attempt, (pacing.unit)()));
                last = e;
                let Some(wait) = wait else {
                    break;
                };
                (pacing.sleep)(wait);
            }
        }
    }
    let letter = DeadLetter {
        channel: channel.name().to_string(),
        id: id.clone(),
        idempotency_key: out.idempotency_key.clone(),
        attempts: out.attempt,
        retryable: last.retryable,
        error: last.message,
        at: now,
    };
    let body = serde_json::to_vec(&letter)
        .map_err(|e| FlowError::Invalid(format!("dead letter for {id}: {e}")))?;
    // The latest failure replaces an earlier dead letter of the same pair (a replay that failed again).
    let key = dead_letter_key(channel.name(), &id);
    update_json(state, &key, |v: &mut Option<DeadLetter>| {
        *v = Some(letter.clone())
    })?;
    if let Some(q) = dead_letters {
        q.send(&String::from_utf8_lossy(&body), &out.idempotency_key)?;
    }
    tracing::error!(channel = channel.name(), id = %id, attempts = out.attempt, "notification dead-lettered");
    Ok(Delivery::DeadLettered)
}

/// The index of digests that have findings and are not sent yet.
pub const PENDING_KEY: &str = "digest/pending";

/// One entry of the pending index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PendingDigest {
    /// The channel.
    pub channel: String,
    /// Its cadence.
    pub cadence: Cadence,
    /// First day of the period.
    pub start: chrono::NaiveDate,
}

impl PendingDigest {
    /// `digest/<channel>/<cadence>/<start>`.
    pub fn key(&self) -> String {
        format!(
            "digest/{}/{}/{}",
            self.channel,
            self.cadence.as_str(),
            self.start
        )
    }

    /// When the period is over (00:00 UTC after its last day).
    pub fn ends_at(&self) -> DateTime<Utc> {
        let next = self.cadence.period_end(self.start) + Days::new(1);
        next.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Pending(BTreeSet<PendingDigest>);

#[derive(Default, Serialize, Deserialize)]
struct Bucket(Option<Digest>);

/// Adds `finding` to `channel`'s digest for the period containing `now`: [`Delivery::Collected`],
/// or [`Delivery::Duplicate`] when it is in already.
pub fn collect(
    finding: &Finding,
    channel: &str,
    cadence: Cadence,
    now: DateTime<Utc>,
    state: &dyn StateStore,
) -> Result<Delivery, FlowError> {
    let entry = PendingDigest {
        channel: channel.to_string(),
        cadence,
        start: cadence.period_start(now),
    };
    // The index first: a crash after it leaves at worst an empty bucket, which the flush skips.
    update_json(state, PENDING_KEY, |p: &mut Pending| {
        p.0.insert(entry.clone());
    })?;
    let added = update_json(state, &entry.key(), |b: &mut Bucket| {
        b.0.get_or_insert_with(|| Digest::new(cadence, entry.start))
            .add(finding)
    })?;
    Ok(if added {
        Delivery::Collected
    } else {
        Delivery::Duplicate
    })
}

/// What a flush did with one digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flushed {
    /// The digest.
    pub digest: PendingDigest,
    /// Number of findings in it.
    pub count: u64,
    /// What happened.
    pub delivery: Delivery,
}

/// Sends every pending digest whose period ended at least `grace` before `now` (the grace lets
/// findings of the period's last minutes land first) and clears it from the index. A digest whose
/// channel is not configured any more is dead-lettered.
#[allow(clippy::too_many_arguments)]
pub fn flush_due(
    now: DateTime<Utc>,
    grace: Duration,
    channels: &[&dyn Channel],
    link: Option<&str>,
    state: &dyn StateStore,
    policy: &RetryPolicy,
    pacing: &Pacing<'_>,
    dead_letters: Option<&dyn Queue>,
) -> Result<Vec<Flushed>, FlowError> {
    let pending: Pending = match state.get(PENDING_KEY)? {
        Some((bytes, _)) => serde_json::from_slice(&bytes)
            .map_err(|e| FlowError::Invalid(format!("state item {PENDING_KEY} is invalid: {e}")))?,
        None => Pending::default(),
    };
    let grace = chrono::Duration::from_std(grace).unwrap_or_default();
    let mut out = Vec::new();
    for p in pending.0.into_iter().filter(|p| p.ends_at() + grace <= now) {
        let bucket: Bucket = match state.get(&p.key())? {
            Some((bytes, _)) => serde_json::from_slice(&bytes).map_err(|e| {
                FlowError::Invalid(format!("state item {} is invalid: {e}", p.key()))
            })?,
            None => Bucket(None),
        };
        let (count, delivery) = match bucket.0 {
            None => (0, Delivery::Duplicate),
            Some(d) => {
                let notice = Notice {
                    content: Content::Digest(&d),
                    link,
                };
                let delivery = match channels.iter().find(|c| c.name() == p.channel) {
                    Some(c) => send(*c, &notice, state, policy, pacing, dead_letters, now)?,
                    None => {
                        let gone = Unconfigured(&p.channel);
                        let none = RetryPolicy {
                            max_attempts: 1,
                            ..*policy
                        };
                        send(&gone, &notice, state, &none, pacing, dead_letters, now)?
                    }
                };
                (d.count, delivery)
            }
        };
        update_json(state, PENDING_KEY, |q: &mut Pending| {
            q.0.remove(&p);
        })?;
        out.push(Flushed {
            digest: p,
            count,
            delivery,
        });
    }
    Ok(out)
}

/// A channel that was removed from the routing file while it had a pending digest.
struct Unconfigured<'a>(&'a str);

impl Channel for Unconfigured<'_> {
    fn name(&self) -> &str {
        self.0
    }
    fn kind(&self) -> crate::notify::ChannelKind {
        crate::notify::ChannelKind::Webhook
    }
    fn send(&self, _: &Outgoing) -> Result<(), SendError> {
        Err(SendError::permanent(format!(
            "channel `{}` is not in the routing file any more",
            self.0
        )))
    }
}
