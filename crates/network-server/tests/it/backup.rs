//! `network-server backup` / `restore` (the library functions behind them):
//! a backup taken under concurrent writes holds every write acknowledged
//! before it began, and a server started on the restored copy serves them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use network_server::backup::{self, BackupError};
use network_server::server;

use crate::helpers::*;

#[tokio::test]
async fn a_backup_under_concurrent_writes_holds_every_acknowledged_write_and_restores() {
    let app = spawn_app().await;
    let client = app.client();
    // Writers create customers until told to stop, recording each acknowledged one.
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, acknowledged, stop) = (client.clone(), acknowledged.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("writer {writer} #{n}");
                let created = client
                    .create_customer()
                    .x_servitly_tenant(TENANT)
                    .body(network_client::types::CustomerDetails::builder().name(name.clone()))
                    .send()
                    .await
                    .expect("created");
                acknowledged.lock().unwrap().push((created.into_inner().id.to_string(), name));
                n += 1;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before: Vec<(String, String)> = acknowledged.lock().unwrap().clone();
    assert!(!before.is_empty(), "writes were acknowledged before the backup");
    let copy = app.data_dir.path().join("backup.sqlite3");
    let data_dir = app.data_dir.path().to_path_buf();
    let target = copy.clone();
    let copied = tokio::task::spawn_blocking(move || backup::backup(&data_dir, &target))
        .await
        .unwrap()
        .expect("the backup succeeds while the server writes");
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(copied.customers >= before.len() as u64, "{copied}");
    // A second backup to the same file is refused: a backup never overwrites.
    let again = backup::backup(app.data_dir.path(), &copy).expect_err("refused");
    assert!(matches!(again, BackupError::TargetExists(_)), "{again}");

    // Restore into a fresh data directory and serve it.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored = backup::restore(&copy, restored_dir.path(), false).expect("restores");
    assert_eq!(restored.customers, copied.customers);
    let refused = backup::restore(&copy, restored_dir.path(), false).expect_err("not empty");
    assert!(matches!(refused, BackupError::NotEmpty(_)), "{refused}");
    backup::restore(&copy, restored_dir.path(), true).expect("--force replaces");
    let running = server::start(
        settings(restored_dir.path(), &Backend::Sqlite, &relaxed_rate()),
        network_server::telemetry::discard(),
    )
    .await
    .expect("a server starts on the restored copy");
    let restored_client = network_client::new_authenticated(
        &format!("http://{}", running.local_addr()),
        &admin_token(),
    )
    .unwrap();
    for (id, name) in &before {
        let customer = restored_client
            .get_customer()
            .x_servitly_tenant(TENANT)
            .customer_id(id.as_str())
            .send()
            .await
            .unwrap_or_else(|error| panic!("{id} acknowledged before the backup: {error}"))
            .into_inner();
        assert_eq!(customer.name.as_str(), name);
    }
    running.shutdown().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_corrupt_backup_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let target = tempfile::tempdir().unwrap();
    let error = backup::restore(&garbage, target.path(), true).expect_err("refused");
    assert!(matches!(error, BackupError::Sqlite { .. } | BackupError::Corrupt { .. }), "{error}");
    assert!(std::fs::read_dir(target.path()).unwrap().next().is_none(), "nothing was written");
    let missing = backup::backup(target.path(), &dir.path().join("x.sqlite3")).expect_err("no db");
    assert!(matches!(missing, BackupError::NoDatabase(_)), "{missing}");
}
