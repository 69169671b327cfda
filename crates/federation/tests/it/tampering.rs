//! Batches that must not be taken: signed with a key the downloader does not trust for the uploader,
//! or changed after signing (a compromised gateway). Each is rejected whole, logged, and stored nowhere.
//! A batch of a country without a configured key waits until the key is configured.

use p256::ecdsa::SigningKey;
use prost::Message;
use warnkit_federation::config::Settings;
use warnkit_federation::date::day_string;
use warnkit_federation::proto::DiagnosisKeyBatch;
use warnkit_federation::Federation;
use warnkit_store::on_pool;
use warnkit_testkit::suite_on_both_engines;

use crate::harness::{key, logs, World, DAY, START};

suite_on_both_engines!(
    tampered_batches_are_rejected_whole,
    crate::harness::World,
    2
);

async fn tampered_batches_are_rejected_whole(w: World) {
    let hour = START / 3600 - 2;
    let fr = w.backend("FR");
    // IT's batch verifies at the gateway (it has IT's real key) but not at FR, which holds another key.
    w.backend("IT")
        .keys
        .insert(&[
            key(40, "IT", &["FR"], true, hour),
            key(41, "IT", &["FR"], true, hour),
        ])
        .await
        .unwrap();
    assert_eq!(
        w.backend("IT")
            .federation
            .upload_once()
            .await
            .unwrap()
            .batches,
        1
    );
    // DE's batch is altered in the gateway's database after it was stored: one key's risk level.
    let de = w.backend("DE");
    de.keys
        .insert(&[
            key(50, "DE", &["FR"], true, hour),
            key(51, "DE", &["FR"], true, hour),
        ])
        .await
        .unwrap();
    assert_eq!(de.federation.upload_once().await.unwrap().batches, 1);
    let date = day_string(DAY);
    let (seq, body): (i64, Vec<u8>) = on_pool!(w.gateway.db(), |pool| {
        sqlx::query_as("SELECT seq, body FROM batch WHERE country = 'DE'")
            .fetch_one(pool)
            .await
    })
    .unwrap();
    let mut batch = DiagnosisKeyBatch::decode(&body[..]).unwrap();
    batch.keys[1].transmission_risk_level = 8;
    on_pool!(w.gateway.db(), |pool| {
        sqlx::query("UPDATE batch SET body = $1 WHERE day = $2 AND seq = $3")
            .bind(batch.encode_to_vec())
            .bind(&date)
            .bind(seq)
            .execute(pool)
            .await
            .map(drop)
    })
    .unwrap();

    let down = fr.federation.download_once().await.unwrap();
    assert_eq!(down.keys_stored, 0, "{down:?}");
    assert_eq!(down.rejected.len(), 2, "{down:?}");
    let countries: Vec<&str> = down.rejected.iter().map(|r| r.0.as_str()).collect();
    assert!(
        countries.contains(&"IT") && countries.contains(&"DE"),
        "{down:?}"
    );
    assert!(
        down.rejected.iter().all(|r| r.2.contains("signature")),
        "{down:?}"
    );
    assert_eq!(
        fr.keys.count().await.unwrap(),
        0,
        "nothing of a rejected batch is stored"
    );
    let log = logs();
    for (country, tag, _) in &down.rejected {
        assert!(
            log.lines().any(|l| l.contains("WARN")
                && l.contains("rejected a federation batch")
                && l.contains(&format!("country={country}"))
                && l.contains(&format!("batch_tag={tag}"))),
            "no warn line for {country} {tag} in:\n{log}"
        );
    }
    // Rejected batches are not taken on a later run either.
    let again = fr.federation.download_once().await.unwrap();
    assert_eq!(
        (again.keys_stored, again.rejected.len()),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(fr.keys.count().await.unwrap(), 0);
    // DE, which trusts IT's real key, takes IT's batch.
    let de_down = de.federation.download_once().await.unwrap();
    assert_eq!(de_down.keys_stored, 2, "{de_down:?}");
}

suite_on_both_engines!(
    untrusted_countries_are_fetched_again_until_trusted,
    crate::harness::World,
    2
);

async fn untrusted_countries_are_fetched_again_until_trusted(w: World) {
    let hour = START / 3600 - 2;
    let it = w.backend("IT");
    it.keys
        .insert(&[
            key(60, "IT", &["FR"], true, hour),
            key(61, "IT", &[], true, hour),
        ])
        .await
        .unwrap();
    assert_eq!(it.federation.upload_once().await.unwrap().keys, 2);
    let fr = w.backend("FR");
    // FR as its operator runs it before and after adding IT's key: same key store, same state.
    let with_trusted = |trusted: Vec<(&str, &SigningKey)>| {
        let settings = Settings {
            gateway_url: w.gateway_url.clone(),
            country: "FR".into(),
            token: fr.token.clone(),
            signing_key: fr.signing.clone(),
            trusted: trusted
                .into_iter()
                .map(|(code, key)| (code.to_owned(), *key.verifying_key()))
                .collect(),
            max_batch_keys: 3,
            retention_days: 14,
        };
        Federation::new(
            fr.keys.clone(),
            fr.federation.db().clone(),
            settings,
            w.clock.clone(),
        )
        .unwrap()
    };
    let before = with_trusted(vec![("DE", &w.backend("DE").signing)]);
    for _ in 0..2 {
        let down = before.download_once().await.unwrap();
        assert_eq!((down.untrusted, down.keys_stored), (1, 0), "{down:?}");
    }
    assert_eq!(fr.keys.count().await.unwrap(), 0);
    let after = with_trusted(vec![("IT", &it.signing)]);
    let down = after.download_once().await.unwrap();
    assert_eq!(
        (down.untrusted, down.batches_stored, down.keys_stored),
        (0, 1, 2),
        "{down:?}"
    );
    let again = after.download_once().await.unwrap();
    assert_eq!((again.fetched, again.keys_stored), (0, 0), "{again:?}");
    assert_eq!(fr.keys.count().await.unwrap(), 2);
}
