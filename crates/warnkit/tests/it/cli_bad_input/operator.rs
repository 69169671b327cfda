//! The operators' commands on a data directory: accounts, lab keys, teleTANs, backups, the audit
//! trail and the signing keys.

use super::{cases, refused, Files};

#[test]
fn operator_commands_refuse_bad_arguments() {
    let f = Files::new();
    let data = f.arg("data");
    let (empty, private, missing) = (
        f.arg("empty"),
        f.arg("keys/signing-key.pem"),
        f.arg("missing"),
    );
    let public = f.arg("keys/public-key.pem");
    let list = cases(&[
        (
            &["lab", "key", "create", "--lab", "", "--data-dir", &data],
            "lab id",
        ),
        (
            &["lab", "key", "create", "--lab", "a b", "--data-dir", &data],
            "lab id",
        ),
        (
            &[
                "lab",
                "key",
                "create",
                "--lab",
                &"x".repeat(65),
                "--data-dir",
                &data,
            ],
            "lab id",
        ),
        (
            &[
                "lab",
                "key",
                "revoke",
                "--lab",
                "nosuch",
                "--data-dir",
                &data,
            ],
            "no lab",
        ),
        (
            &["teletan", "create", "--type", "PCR", "--data-dir", &data],
            "possible values",
        ),
        (
            &[
                "portal",
                "user",
                "add",
                "--user",
                "",
                "--role",
                "hotline",
                "--data-dir",
                &data,
            ],
            "user names",
        ),
        (
            &[
                "portal",
                "user",
                "add",
                "--user",
                "Ann Lee",
                "--role",
                "hotline",
                "--data-dir",
                &data,
            ],
            "user names",
        ),
        (
            &[
                "portal",
                "user",
                "add",
                "--user",
                "ann",
                "--role",
                "boss",
                "--data-dir",
                &data,
            ],
            "roles are",
        ),
        (
            &[
                "portal",
                "user",
                "remove",
                "--user",
                "nosuch",
                "--data-dir",
                &data,
            ],
            "no account",
        ),
        (
            &[
                "portal",
                "user",
                "role",
                "--user",
                "nosuch",
                "--role",
                "event",
                "--data-dir",
                &data,
            ],
            "no account",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "fr",
                "--public-key",
                &public,
            ],
            "country code",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "",
                "--public-key",
                &public,
            ],
            "country code",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "FR",
                "--public-key",
                &private,
            ],
            "a private key",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "FR",
                "--public-key",
                &empty,
            ],
            "empty",
        ),
        (
            &[
                "gateway",
                "country",
                "add",
                "--code",
                "FR",
                "--public-key",
                &missing,
            ],
            "no such file",
        ),
        (
            &["distribute", "--data-dir", &data, "--now", "yesterday"],
            "not an RFC 3339 time",
        ),
        (
            &["audit", "--data-dir", &data, "--since", "last week"],
            "not a time",
        ),
        (&["status", "--data-dir", &missing], "does not exist"),
        (
            &[
                "restore",
                "--from",
                &missing,
                "--data-dir",
                &f.arg("restored"),
            ],
            "backup",
        ),
        (
            &["backup", "--data-dir", &data, "--to", &f.arg("a-directory")],
            "exists",
        ),
    ]);
    let wrong = refused(&list, None);
    assert!(
        wrong.is_empty(),
        "not refused clearly:\n{}",
        wrong.join("\n")
    );
}
