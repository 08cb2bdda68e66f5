//! A device caps what it reads from a hub as the hub caps what it accepts: an answer larger
//! than a sync body may be is refused (`bad_hub_answer`), whether or not it says its length,
//! and the device is left as it was.

use doorstep_domain::{new_id, ErrorCode, HouseholdDraft, Role};
use doorstep_store::{DeviceIdentity, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A "hub" on loopback that answers every request with `head` and then `body_len` bytes.
async fn oversized_hub(head: &'static str, body_len: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(head.as_bytes()).await;
                let chunk = vec![0x10u8; 64 * 1024];
                let mut sent = 0;
                while sent < body_len {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
            });
        }
    });
    url
}

fn device(dir: &std::path::Path, hub_url: String) -> Store {
    let mut store = Store::open(
        &dir.join("device.sqlite"),
        &doorstep_store::AtRest::Encrypted(doorstep_store::DatabaseKey::from_bytes([3; 32])),
    )
    .unwrap();
    let (ward, groups) = store.init_ward("Phường Thử", &["Tổ 1".into()]).unwrap();
    let draft = HouseholdDraft {
        alley: "Ngõ 1".into(),
        number: "1".into(),
        ..Default::default()
    };
    store
        .add_household(groups[0].id, draft, chrono::Utc::now())
        .unwrap();
    store
        .set_identity(&DeviceIdentity {
            hub_url,
            pin: None,
            next_pin: None,
            device_id: new_id(),
            name: "Lan".into(),
            token: "dst_test".into(),
            role: Role::Coordinator,
            ward_id: ward.id,
            groups: vec![],
            points: vec![],
        })
        .unwrap();
    store
}

#[tokio::test]
async fn an_oversized_answer_is_refused_and_changes_nothing() {
    for head in [
        // Says its length, too long.
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-doorstep-sync\r\ncontent-length: 3000000\r\n\r\n",
        // Does not say it: read until the cap.
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-doorstep-sync\r\nconnection: close\r\n\r\n",
    ] {
        let url = oversized_hub(head, 3_000_000).await;
        let dir = tempfile::tempdir().unwrap();
        let mut store = device(dir.path(), url);
        let before = store.dump_query_tables().unwrap();
        let outbox = store.outbox_count().unwrap();
        let refused = doorstep_sync::sync(&mut store, None).await;
        let code = refused.as_ref().map_err(|e| e.code()).err();
        assert_eq!(code, Some(ErrorCode::BadHubAnswer), "{refused:?}");
        assert_eq!(store.dump_query_tables().unwrap(), before);
        assert_eq!(store.outbox_count().unwrap(), outbox);
    }
}
