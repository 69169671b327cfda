//! Two countries exchange keys through the gateway: consent decides what leaves a country, the visited
//! countries decide where it is published, and re-runs move nothing twice.

use warnkit_federation::date::day_string;
use warnkit_store::on_pool;
use warnkit_testkit::suite_on_both_engines;

use crate::harness::{key, World, DAY, START};

suite_on_both_engines!(
    consented_keys_travel_and_nothing_moves_twice,
    crate::harness::World,
    2
);

async fn consented_keys_travel_and_nothing_moves_twice(w: World) {
    let hour = START / 3600 - 2;
    let de = w.backend("DE");
    let fr = w.backend("FR");
    let to_fr = key(1, "DE", &["FR"], true, hour);
    let no_consent = key(2, "DE", &["FR"], false, hour);
    let stays_home = key(3, "DE", &[], true, hour);
    let foreign_in_de = key(4, "IT", &["DE"], true, hour);
    let many: Vec<_> = (10..17)
        .map(|b| key(b, "DE", &["FR", "IT"], true, hour - 1))
        .collect();
    de.keys
        .insert(&[
            to_fr.clone(),
            no_consent.clone(),
            stays_home.clone(),
            foreign_in_de,
        ])
        .await
        .unwrap();
    de.keys.insert(&many).await.unwrap();

    // DE uploads its 9 consented own keys, three to a batch; not the key without consent, nor the
    // foreign key it holds.
    let up = de.federation.upload_once().await.unwrap();
    assert_eq!((up.batches, up.keys, up.refused), (3, 9, 0), "{up:?}");
    assert_eq!(w.gateway.counts().await.unwrap(), (3, 9));
    let again = de.federation.upload_once().await.unwrap();
    assert_eq!(
        (again.batches, again.keys, again.hours),
        (0, 0, 0),
        "{again:?}"
    );

    // A crash after the upload, before the watermark moved: the same range goes again under the same
    // tags, and the gateway stores nothing new.
    let (next,): (i64,) = on_pool!(de.federation.db(), |pool| {
        sqlx::query_as("SELECT next_hour FROM upload_state WHERE id = 1")
            .fetch_one(pool)
            .await
    })
    .unwrap();
    on_pool!(de.federation.db(), |pool| {
        sqlx::query("UPDATE upload_state SET next_hour = $1, pending_to = $2")
            .bind(START / 3600 - 14 * 24)
            .bind(next)
            .execute(pool)
            .await
            .map(drop)
    })
    .unwrap();
    let rerun = de.federation.upload_once().await.unwrap();
    assert_eq!((rerun.batches, rerun.already_stored), (0, 3), "{rerun:?}");
    assert_eq!(w.gateway.counts().await.unwrap(), (3, 9));

    // FR takes all three batches, then nothing on a second run; DE skips its own.
    let down = fr.federation.download_once().await.unwrap();
    assert_eq!((down.batches_stored, down.keys_stored), (3, 9), "{down:?}");
    assert!(down.rejected.is_empty(), "{down:?}");
    let again = fr.federation.download_once().await.unwrap();
    assert_eq!(
        (again.batches_stored, again.keys_stored),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(fr.keys.count().await.unwrap(), 9);
    let own = de.federation.download_once().await.unwrap();
    assert_eq!((own.own, own.keys_stored), (3, 0), "{own:?}");

    let now_hour = START / 3600;
    let stored = fr.keys.keys_submitted_between(0, i64::MAX).await.unwrap();
    let got = stored
        .iter()
        .find(|k| k.key_data == to_fr.key_data)
        .expect("FR holds DE's key");
    assert_eq!(got.origin, "DE");
    assert_eq!(got.visited_countries, vec!["FR"]);
    assert_eq!(got.submission_hour, now_hour);
    assert_eq!(got.days_since_onset_of_symptoms, Some(1));
    assert_eq!(got.transmission_risk_level, 6);
    assert!(got.consent_to_federation);
    assert!(!stored.iter().any(|k| k.key_data == no_consent.key_data));

    // FR's own upload sends none of the foreign keys back.
    let fr_up = fr.federation.upload_once().await.unwrap();
    assert_eq!(fr_up.keys, 0, "{fr_up:?}");

    // The audit names the uploader, its tag and its key.
    let client = warnkit_federation::GatewayClient::new(&w.gateway_url, &fr.token).unwrap();
    let date = day_string(DAY);
    let first = client
        .download(&date, None)
        .await
        .unwrap()
        .expect("a batch");
    let audit = client.audit(&date, &first.tag).await.unwrap();
    assert_eq!(audit["country"], "DE");
    assert_eq!(audit["keys"], 3);
    assert_eq!(audit["batchSignature"], first.signature.as_str());
    assert!(audit["uploadTag"].as_str().unwrap().starts_with('h'));
    assert_eq!(
        audit["signingKeySha256"],
        warnkit_federation::batch::fingerprint(de.signing.verifying_key()).as_str()
    );

    // FR's distribution publishes the key that visited FR in FR's own files, and every DE key in the
    // combined region; the key that stayed home is not in FR's own files. (Hour files need the hour of
    // the download to have ended.)
    let published = w.publish("FR", (now_hour + 1) * 3600 + 60).await;
    let fr_files = &published["FR"];
    let eur_files = &published["EUR"];
    assert!(
        fr_files.contains(&to_fr.key_data),
        "FR publishes DE's key that visited FR"
    );
    assert!(!fr_files.contains(&stays_home.key_data));
    assert!(eur_files.contains(&to_fr.key_data));
    assert!(eur_files.contains(&stays_home.key_data));
    assert!(!eur_files.contains(&no_consent.key_data));
    assert_eq!(eur_files.len(), 9);
}
