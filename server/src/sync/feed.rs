//! The live change feed: wakes a device's long poll when its scope may have changed.
//!
//! Each write that can change an engineer's scope names the engineers it touches (assignee
//! before and after). In one process a [`Notify`] per (organisation, engineer) wakes their
//! waiting long polls. Across server nodes on one PostgreSQL, the writing transaction also sends
//! `pg_notify('lastmile_changes', 'org|user,user')`, delivered to every node's listener at commit
//! ([`Feed::listen_postgres`]), which wakes its local waiters the same way. A woken poll re-checks
//! the database, so a lost or spurious wake-up costs at most one query.
//!
//! The web console's live board listens org-wide ([`Feed::org_changes`]): every wake-up of an
//! organisation's engineers also bumps a counter of that organisation.

use crate::db::Backend;
use crate::error::Result;
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use sync_core::{OrgId, UserId};
use tokio::sync::{Notify, watch};

/// The PostgreSQL channel of the feed.
pub const CHANNEL: &str = "lastmile_changes";

/// Waiters per (organisation, engineer).
#[derive(Debug, Default)]
pub struct Feed {
    waiters: Mutex<HashMap<(OrgId, UserId), Arc<Notify>>>,
    /// Per organisation, a counter bumped by every notification (the console's live board).
    orgs: Mutex<HashMap<OrgId, watch::Sender<u64>>>,
}

impl Feed {
    /// The notifier of one engineer's scope. Create its `notified()` future and `enable()` it
    /// before checking the database, so a change between the check and the wait is not missed.
    pub fn waiter(&self, org: OrgId, user: UserId) -> Arc<Notify> {
        let mut w = self.waiters.lock().expect("feed lock");
        // Drop notifiers nobody waits on any more, so the map stays the size of live polls.
        if w.len() > 1024 {
            w.retain(|_, n| Arc::strong_count(n) > 1);
        }
        w.entry((org, user)).or_default().clone()
    }

    /// Wake the long polls of `users` in this process, and the organisation's listeners.
    pub fn notify_local(&self, org: OrgId, users: &[UserId]) {
        {
            let w = self.waiters.lock().expect("feed lock");
            for u in users {
                if let Some(n) = w.get(&(org, *u)) {
                    n.notify_waiters();
                }
            }
        }
        if let Some(tx) = self.orgs.lock().expect("feed lock").get(&org) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Changes anywhere in `org` seen by this process: the receiver wakes after every
    /// [`Feed::notify_local`] of the organisation (writes here, and other nodes' through
    /// PostgreSQL). Used by the console's live board, which then re-reads the projection.
    pub fn org_changes(&self, org: OrgId) -> watch::Receiver<u64> {
        let mut orgs = self.orgs.lock().expect("feed lock");
        orgs.retain(|_, tx| tx.receiver_count() > 0);
        orgs.entry(org)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Apply a PostgreSQL notification payload (`org|user,user`).
    fn notify_payload(&self, payload: &str) {
        let Some((org, users)) = payload.split_once('|') else {
            return;
        };
        let Ok(org) = org.parse::<OrgId>() else {
            return;
        };
        let users: Vec<UserId> = users.split(',').filter_map(|u| u.parse().ok()).collect();
        self.notify_local(org, &users);
    }

    /// Listen for other nodes' notifications (PostgreSQL only); reconnects with a pause if the
    /// connection drops. Runs until the process ends.
    pub fn listen_postgres(self: &Arc<Self>, url: String) {
        let feed = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        if let Err(e) = listener.listen(CHANNEL).await {
                            tracing::warn!(error = %e, "feed: LISTEN failed");
                        } else {
                            tracing::debug!("feed: listening on {CHANNEL}");
                            loop {
                                match listener.recv().await {
                                    Ok(n) => feed.notify_payload(n.payload()),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "feed: listener lost");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "feed: cannot connect the listener"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }
}

/// Tell the other nodes, inside the writing transaction (PostgreSQL delivers it at commit).
pub async fn notify_in_tx(
    tx: &mut AnyConnection,
    backend: Backend,
    org: OrgId,
    users: &[UserId],
) -> Result<()> {
    if backend != Backend::Postgres || users.is_empty() {
        return Ok(());
    }
    let payload = format!(
        "{org}|{}",
        users
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(tx)
        .await?;
    Ok(())
}
