//! Spare parts on SQLite and on PostgreSQL: the ledger under concurrency, the warehouse's
//! operations, consumption synced from phones (posted once per line, whatever the replays),
//! serial traceability, parts requests, reservations, the catalog CSV, reports, reference
//! data for phones, bad input, a property test, and `lastmile inventory check`.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

/// Like `conformance!`, on a multi-threaded runtime: for tests whose point is real
/// concurrency (`<area>::sqlite_mt::name`, `<area>::postgres_mt::name`).
macro_rules! conformance_mt {
    ($($name:ident),+ $(,)?) => {
        mod sqlite_mt {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::TestDb::sqlite()).await;
                }
            )+
        }
        mod postgres_mt {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::TestDb::postgres().await).await;
                }
            )+
        }
    };
}

mod support;

mod api;
mod bad_input;
mod command;
mod consumption;
mod ledger;
mod props;
