//! Documents in and out of the store: edits, durability, sync bookkeeping, eviction, compaction,
//! corruption, concurrency.

use super::*;
use crate::store::tx::should_compact;
use crate::store::{ListQuery, StoreTx};
use crate::workorder::Priority;
use crate::{Error, Result, Status};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn edit_persists_and_reloads_across_reopen() {
    let t = TempStore::new();
    let engineer = UserId::new();
    let new = new_order("WO-1");
    let (heads, actor) = {
        let store = t.open();
        store.insert_local(&mut create(&new)).unwrap();
        store
            .edit(&new.id, |doc| {
                doc.assign(&office(), Some(engineer))?;
                doc.schedule(&office(), 1_000, 2_000)?;
                doc.set_status(&office(), Status::Assigned)
            })
            .unwrap();
        (store.load(&new.id).unwrap().heads(), store.actor().clone())
    };

    let store = t.open();
    assert_eq!(store.actor(), &actor, "the install keeps its actor id");
    let mut doc = store.load(&new.id).unwrap();
    assert_eq!(doc.heads(), heads);
    let s = doc.summary().unwrap();
    assert_eq!(s.assignee, Some(engineer));
    assert_eq!(s.status, Status::Assigned);
    assert_eq!(
        (s.window_start_ms, s.window_end_ms),
        (Some(1_000), Some(2_000))
    );
    assert_eq!(store.list(&ListQuery::default()).unwrap(), vec![s]);
    assert_eq!(store.read(|tx| tx.pending()).unwrap(), vec![new.id]);
}

#[test]
fn edits_made_after_reload_are_attributed_to_this_install() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    store.insert_local(&mut create(&new)).unwrap();
    let mut doc = store.load(&new.id).unwrap();
    doc.set_priority(&office(), Priority::Urgent).unwrap();
    // The change this install made carries its actor id.
    let change = doc.save_after(&store.load(&new.id).unwrap().heads());
    let parsed = automerge::Change::from_bytes(change).unwrap();
    assert_eq!(parsed.actor_id(), &store.actor().0);
}

#[test]
fn a_failing_edit_changes_nothing() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    // Received from the server: not pending.
    store
        .write(|tx| tx.persist(&mut create(&new), false))
        .unwrap();
    let before_heads = store.load(&new.id).unwrap().heads();
    let before_rows = store.list(&ListQuery::default()).unwrap();
    let before_chunks = chunk_count(&store, &new.id);

    let err = store
        .edit(&new.id, |doc| {
            doc.set_priority(&office(), Priority::Urgent)?;
            doc.schedule(&office(), 5, 1) // ends before it starts: refused
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");

    assert_eq!(store.load(&new.id).unwrap().heads(), before_heads);
    assert_eq!(store.list(&ListQuery::default()).unwrap(), before_rows);
    assert_eq!(chunk_count(&store, &new.id), before_chunks);
    assert!(store.read(|tx| tx.pending()).unwrap().is_empty());
}

#[test]
fn a_write_closure_error_rolls_back_everything_it_wrote() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    let err = store
        .write(|tx| {
            tx.persist(&mut create(&new), true)?;
            tx.set_cursor(42)?;
            tx.set_meta("app.theme", b"dark")?;
            Err::<(), _>(Error::InvalidInput("changed my mind".into()))
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    store
        .read(|tx| {
            assert!(!tx.contains(&new.id)?);
            assert_eq!(tx.cursor()?, 0);
            assert_eq!(tx.meta("app.theme")?, None);
            Ok(())
        })
        .unwrap();
    assert!(store.search("Acme", 10).unwrap().is_empty());
}

#[test]
fn a_panicking_write_rolls_back_and_the_store_stays_usable() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.write(|tx| -> Result<()> {
            tx.persist(&mut create(&new), true)?;
            panic!("bug in a caller");
        })
    }));
    assert!(panicked.is_err());
    assert!(!store.read(|tx| tx.contains(&new.id)).unwrap());
    store.insert_local(&mut create(&new)).unwrap();
    assert!(store.read(|tx| tx.contains(&new.id)).unwrap());
}

#[test]
fn pending_is_set_by_local_changes_and_cleared_by_the_protocol() {
    let t = TempStore::new();
    let store = t.open();
    let local = new_order("WO-L");
    let remote = new_order("WO-R");
    store.insert_local(&mut create(&local)).unwrap();
    let mut remote_doc = create(&remote);
    store
        .write(|tx| tx.persist(&mut remote_doc, false))
        .unwrap();
    assert_eq!(store.read(|tx| tx.pending()).unwrap(), vec![local.id]);

    // The server acknowledges the local order at its current heads.
    let acked = store.load(&local.id).unwrap().heads();
    store
        .write(|tx| {
            tx.set_server_heads(&local.id, &acked)?;
            tx.set_pending(&local.id, false)
        })
        .unwrap();
    store
        .read(|tx| {
            assert!(tx.pending()?.is_empty());
            assert_eq!(tx.server_heads(&local.id)?, acked);
            assert!(
                tx.server_heads(&remote.id)?.is_empty(),
                "never acknowledged"
            );
            assert!(
                tx.server_heads(&DocId::new())?.is_empty(),
                "unknown document"
            );
            Ok(())
        })
        .unwrap();

    // A remote change does not make an order pending; a local edit does.
    remote_doc.set_priority(&office(), Priority::High).unwrap();
    store
        .write(|tx| tx.persist(&mut remote_doc, false))
        .unwrap();
    assert!(store.read(|tx| tx.pending()).unwrap().is_empty());
    store
        .edit(&remote.id, |d| d.set_priority(&office(), Priority::Low))
        .unwrap();
    assert_eq!(store.read(|tx| tx.pending()).unwrap(), vec![remote.id]);

    // Persisting with nothing new does not flag anything.
    let mut unchanged = store.load(&local.id).unwrap();
    store.write(|tx| tx.persist(&mut unchanged, true)).unwrap();
    assert_eq!(store.read(|tx| tx.pending()).unwrap(), vec![remote.id]);

    let missing = DocId::new();
    let err = store
        .write(|tx| tx.set_pending(&missing, true))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let err = store
        .write(|tx| tx.set_server_heads(&missing, &acked))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[test]
fn server_heads_are_stored_as_32_bytes_each() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    let mut doc = create(&new);
    let first = doc.heads();
    doc.set_priority(&office(), Priority::High).unwrap();
    let mut heads = [first, doc.heads()].concat();
    store.write(|tx| tx.persist(&mut doc, false)).unwrap();
    store
        .write(|tx| tx.set_server_heads(&new.id, &heads))
        .unwrap();
    let len: i64 = store
        .read(|tx| {
            Ok(tx
                .conn()
                .query_row("SELECT length(server_heads) FROM sync_state", [], |r| {
                    r.get(0)
                })?)
        })
        .unwrap();
    assert_eq!(len, 64);
    heads.sort();
    assert_eq!(store.read(|tx| tx.server_heads(&new.id)).unwrap(), heads);
}

#[test]
fn cursor_meta_and_peer_state_round_trip() {
    let t = TempStore::new();
    let new = new_order("WO-1");
    {
        let store = t.open();
        store.insert_local(&mut create(&new)).unwrap();
        store
            .write(|tx| {
                assert_eq!(tx.cursor()?, 0);
                tx.set_cursor(u64::MAX - 1)?;
                tx.set_meta("app.last_user", b"u-1")?;
                tx.set_meta("app.last_user", b"u-2")?;
                tx.set_peer_state("server", &new.id, b"state-1")?;
                tx.set_peer_state("server", &new.id, b"state-2")?;
                tx.set_peer_state("tablet", &new.id, b"other")
            })
            .unwrap();
    }
    let store = t.open();
    store
        .read(|tx| {
            assert_eq!(tx.cursor()?, u64::MAX - 1);
            assert_eq!(tx.meta("app.last_user")?, Some(b"u-2".to_vec()));
            assert_eq!(tx.meta("nothing")?, None);
            assert_eq!(tx.peer_state("server", &new.id)?, Some(b"state-2".to_vec()));
            assert_eq!(tx.peer_state("tablet", &new.id)?, Some(b"other".to_vec()));
            assert_eq!(tx.peer_state("nobody", &new.id)?, None);
            Ok(())
        })
        .unwrap();
    let err = store
        .write(|tx| tx.set_peer_state("server", &DocId::new(), b"s"))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[test]
fn reserved_meta_keys_cannot_be_overwritten() {
    let t = TempStore::new();
    let store = t.open();
    let err = store
        .write(|tx| tx.set_meta("store.actor", b"same-as-another-phone"))
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed(_)), "{err}");
    let stored = store.read(|tx| tx.meta("store.actor")).unwrap();
    assert_eq!(stored, Some(store.actor().to_bytes()));
}

#[test]
fn each_install_gets_its_own_actor() {
    let (a, b) = (TempStore::new(), TempStore::new());
    assert_ne!(a.open().actor(), b.open().actor());
}

#[test]
fn evict_refuses_pending_docs_and_removes_everything_about_the_others() {
    let t = TempStore::new();
    let store = t.open();
    let pending = new_order("WO-P");
    let mut synced = new_order("WO-S");
    synced.customer.name = "Globex Freezers".into();
    store.insert_local(&mut create(&pending)).unwrap();
    let mut doc = create(&synced);
    store.write(|tx| tx.persist(&mut doc, false)).unwrap();
    store
        .edit(&synced.id, |d| d.set_priority(&office(), Priority::High))
        .unwrap();
    store
        .write(|tx| {
            tx.set_peer_state("server", &synced.id, b"s")?;
            tx.set_pending(&synced.id, false)
        })
        .unwrap();

    let err = store.write(|tx| tx.evict(&pending.id)).unwrap_err();
    assert!(matches!(err, Error::NotAllowed(_)), "{err}");
    assert!(store.load(&pending.id).is_ok());

    store.write(|tx| tx.evict(&synced.id)).unwrap();
    assert!(matches!(store.load(&synced.id), Err(Error::NotFound(_))));
    assert!(store.search("Globex", 10).unwrap().is_empty());
    assert_eq!(store.list(&ListQuery::default()).unwrap().len(), 1);
    assert_eq!(store.read(|tx| tx.doc_ids()).unwrap(), vec![pending.id]);
    let leftovers: i64 = store
        .read(|tx| {
            Ok(tx.conn().query_row(
                "SELECT (SELECT count(*) FROM chunks) + (SELECT count(*) FROM peer_state)
                      + (SELECT count(*) FROM sync_state) + (SELECT count(*) FROM orders)
                      + (SELECT count(*) FROM orders_fts WHERE orders_fts MATCH 'Globex')",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(
        leftovers, 2,
        "only the pending order's sync_state and orders rows remain"
    );

    // Evicting again (an interrupted eviction repeated) is fine.
    store.write(|tx| tx.evict(&synced.id)).unwrap();
}

#[test]
fn compaction_rule_follows_automerge_repo() {
    // Chunks outweigh the snapshot.
    assert!(!should_compact(5_000, 10, 5_000));
    assert!(should_compact(5_000, 10, 5_001));
    // A small snapshot compacts after a few chunks even if they are lighter.
    assert!(!should_compact(800, 4, 400));
    assert!(should_compact(800, 5, 400));
    // A large snapshot does not, however many small chunks.
    assert!(!should_compact(2_000, 50, 1_900));
}

#[test]
fn compaction_keeps_content_identical_and_drops_chunks() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    store.insert_local(&mut create(&new)).unwrap();
    assert_eq!(chunk_count(&store, &new.id), 0);

    let mut previous = 0;
    let mut compactions = 0;
    for i in 0..40 {
        let (heads, summary) = store
            .edit(&new.id, |d| {
                d.schedule(&office(), i * 1_000, i * 1_000 + 500)?;
                Ok((d.heads(), d.summary()?))
            })
            .unwrap();
        let n = chunk_count(&store, &new.id);
        if n < previous {
            compactions += 1;
        }
        previous = n;
        let (snapshot, chunks) = stored_sizes(&store);
        assert!(
            chunks <= snapshot && (snapshot >= 1024 || n <= 4),
            "{n} chunks ({chunks} B) on a {snapshot} B snapshot after a persist"
        );
        // Same content whether or not this edit compacted: the heads and summary the edit saw.
        let mut reloaded = store.load(&new.id).unwrap();
        assert_eq!(reloaded.heads(), heads);
        assert_eq!(reloaded.summary().unwrap(), summary);
    }
    assert!(
        compactions >= 3,
        "40 edits compacted only {compactions} times"
    );
}

/// (snapshot bytes, chunk bytes) of the only document in the store.
fn stored_sizes(store: &Store) -> (i64, i64) {
    store
        .read(|tx| {
            Ok(tx.conn().query_row(
                "SELECT length(snapshot), (SELECT coalesce(sum(length(bytes)), 0) FROM chunks)
                 FROM docs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap()
}

#[test]
fn persist_merges_changes_synced_in_since_the_doc_was_loaded() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    store.insert_local(&mut create(&new)).unwrap();

    let mut stale = store.load(&new.id).unwrap();
    // Meanwhile a sync stores a dispatcher's change made on the server.
    let engineer = UserId::new();
    let mut server = WorkOrderDoc::load(&stale.save(), &ActorId::random()).unwrap();
    server.assign(&office(), Some(engineer)).unwrap();
    store
        .write(|tx| {
            let mut doc = tx.load(&new.id)?;
            doc.apply_changes(&server.save())?;
            tx.persist(&mut doc, false)
        })
        .unwrap();
    stale.set_priority(&office(), Priority::Urgent).unwrap();
    store.write(|tx| tx.persist(&mut stale, true)).unwrap();

    // Both edits survive, in the caller's copy, the stored document and the query row.
    let s = stale.summary().unwrap();
    assert_eq!((s.assignee, s.priority), (Some(engineer), Priority::Urgent));
    let mut stored = store.load(&new.id).unwrap();
    assert_eq!(stored.heads(), stale.heads());
    assert_eq!(store.list(&ListQuery::default()).unwrap(), vec![s]);
}

#[test]
fn persist_refuses_a_stale_copy_whose_edits_collide_with_a_stored_local_edit() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    store.insert_local(&mut create(&new)).unwrap();

    // Two copies edited on this device (same actor): their changes reuse one sequence number.
    let mut stale = store.load(&new.id).unwrap();
    store
        .edit(&new.id, |d| d.assign(&office(), Some(UserId::new())))
        .unwrap();
    let stored_heads = store.load(&new.id).unwrap().heads();
    let rows = store.list(&ListQuery::default()).unwrap();
    stale.set_priority(&office(), Priority::Urgent).unwrap();

    let err = store.write(|tx| tx.persist(&mut stale, true)).unwrap_err();
    assert!(matches!(err, Error::NotAllowed(_)), "{err}");
    assert!(err.to_string().contains("reload"), "{err}");
    assert_eq!(store.load(&new.id).unwrap().heads(), stored_heads);
    assert_eq!(store.list(&ListQuery::default()).unwrap(), rows);
}

#[test]
fn persisting_a_doc_loaded_elsewhere_appends_only_what_the_store_lacks() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    let mut original = create(&new);
    original.set_priority(&office(), Priority::High).unwrap();
    // A fresh load: its incremental-save cursor is empty, so save_incremental() would return the
    // whole history; the store must not depend on it.
    let mut received = WorkOrderDoc::load(&original.save(), &ActorId::random()).unwrap();
    store.write(|tx| tx.persist(&mut received, false)).unwrap();
    let stored_heads = received.heads();
    received.set_priority(&office(), Priority::Low).unwrap();
    let expected = received.save_after(&stored_heads);
    store.write(|tx| tx.persist(&mut received, false)).unwrap();

    let chunks: Vec<Vec<u8>> = store
        .read(|tx| {
            let mut stmt = tx.conn().prepare("SELECT bytes FROM chunks")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .unwrap();
    assert_eq!(chunks, vec![expected]);
    assert_eq!(store.load(&new.id).unwrap().heads(), received.heads());
}

#[test]
fn corrupt_stored_bytes_give_invalid_document_and_spare_other_docs() {
    let damages: [(&str, &str); 5] = [
        (
            "garbage snapshot",
            "UPDATE docs SET snapshot = x'00112233' WHERE id = ?1",
        ),
        (
            "truncated snapshot",
            "UPDATE docs SET snapshot = substr(snapshot, 1, length(snapshot) / 2) WHERE id = ?1",
        ),
        (
            "flipped byte in the snapshot",
            "UPDATE docs SET snapshot = CAST(substr(snapshot, 1, 60) || x'ff' ||
                 substr(snapshot, 62) AS BLOB) WHERE id = ?1",
        ),
        (
            "garbage chunk",
            "INSERT INTO chunks (doc, bytes) SELECT doc, x'856f4a83deadbeef' FROM docs
             WHERE id = ?1",
        ),
        (
            "lost chunk",
            "DELETE FROM chunks WHERE doc = (SELECT doc FROM docs WHERE id = ?1)",
        ),
    ];
    for (what, sql) in damages {
        let t = TempStore::new();
        let store = t.open();
        let (bad, good) = (new_order("WO-BAD"), new_order("WO-GOOD"));
        for n in [&bad, &good] {
            store.write(|tx| tx.persist(&mut create(n), false)).unwrap();
            store
                .edit(&n.id, |d| d.set_priority(&office(), Priority::High))
                .unwrap();
        }
        raw_sql(&t.path(), sql, [bad.id.to_string()]);

        let err = store.load(&bad.id).unwrap_err();
        assert!(matches!(err, Error::InvalidDocument(_)), "{what}: {err}");
        let err = store.edit(&bad.id, |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::InvalidDocument(_)), "{what}: {err}");

        // The store is still usable: the other order loads and edits, listings work.
        store
            .edit(&good.id, |d| d.set_priority(&office(), Priority::Urgent))
            .unwrap();
        assert_eq!(
            store.list(&ListQuery::default()).unwrap().len(),
            2,
            "{what}"
        );
        // Reopening (which probes documents to check the query rows) copes too.
        drop(store);
        let store = t.open();
        assert!(store.load(&good.id).is_ok(), "{what}");
        store.write(|tx| tx.set_pending(&bad.id, false)).unwrap();
        store.write(|tx| tx.evict(&bad.id)).unwrap();
    }
}

#[test]
fn a_read_proceeds_while_a_write_is_open_and_sees_the_last_commit() {
    let t = TempStore::new();
    let store = t.open();
    let before = new_order("WO-1");
    store.insert_local(&mut create(&before)).unwrap();
    let during = new_order("WO-2");

    let (written_tx, written_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (store_ref, during_ref) = (&store, &during);
    std::thread::scope(|s| {
        let writer = s.spawn(move || {
            store_ref.write(|tx: &mut StoreTx<'_>| {
                tx.persist(&mut create(during_ref), true)?;
                written_tx.send(()).unwrap();
                // Hold the write transaction open until the reader is done.
                release_rx.recv_timeout(Duration::from_secs(30)).unwrap();
                Ok(())
            })
        });
        written_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        let started = std::time::Instant::now();
        let ids = store.read(|tx| tx.doc_ids()).unwrap();
        assert_eq!(ids, vec![before.id], "the open write is invisible");
        assert!(store.load(&before.id).is_ok());
        assert_eq!(store.search("Acme", 10).unwrap().len(), 1);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the read waited for the write"
        );
        release_tx.send(()).unwrap();
        writer.join().unwrap().unwrap();
    });
    assert_eq!(
        store.read(|tx| tx.doc_ids()).unwrap(),
        vec![before.id, during.id]
    );
}

#[test]
fn nested_write_is_refused_instead_of_deadlocking() {
    let t = TempStore::new();
    let store = t.open();
    let new = new_order("WO-1");
    let err = store
        .write(|_| store.insert_local(&mut create(&new)))
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed(_)), "{err}");
    let err = store
        .read(|_| store.list(&ListQuery::default()))
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed(_)), "{err}");
    // Reading inside a write is fine (it sees the last commit), and the store works afterwards.
    store.write(|_| store.read(|tx| tx.doc_ids())).unwrap();
    store.insert_local(&mut create(&new)).unwrap();
}

#[test]
fn load_of_an_absent_doc_is_not_found() {
    let t = TempStore::new();
    let store = t.open();
    assert!(matches!(store.load(&DocId::new()), Err(Error::NotFound(_))));
    let err = store.edit(&DocId::new(), |_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
}

#[test]
fn stale_query_rows_are_rebuilt_on_open() {
    let t = TempStore::new();
    let new = new_order("WO-1");
    let expected = {
        let store = t.open();
        store.insert_local(&mut create(&new)).unwrap();
        store.list(&ListQuery::default()).unwrap()
    };
    // As a previous build might have left them: a summary without a field this build has.
    raw_sql(
        &t.path(),
        "UPDATE orders SET summary = json_remove(summary, '$.open_flags'), number = 'zzqx'",
        [],
    );
    let store = t.open();
    assert_eq!(store.list(&ListQuery::default()).unwrap(), expected);
    assert_eq!(store.search("WO-1", 10).unwrap(), expected);
    assert!(store.search("zzqx", 10).unwrap().is_empty());
}
