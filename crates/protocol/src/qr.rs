//! The test GUID a phone scans: the shape of the QR code on a PCR test and the GUID inside it, which the
//! phone hashes to register the test and a lab hashes to post its result.

/// The prefix of a test's QR code before its GUID, as the original's apps read it (any case).
const QR_PREFIX: &str = "https://localhost/?";

/// Hex digits of each dash-separated group of a test's GUID: `3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA`.
const GUID_GROUPS: [usize; 6] = [6, 8, 4, 4, 4, 12];

/// The GUID of what a phone scanned: the GUID itself, or the QR code's whole content
/// `https://localhost/?GUID`. The original's apps accept only this shape (six dash-separated groups of
/// 6, 8, 4, 4, 4 and 12 hex digits, any case) and register nothing else, so neither does this one.
pub fn qr_guid(scanned: &str) -> Result<&str, String> {
    let guid = match scanned.get(..QR_PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(QR_PREFIX) => &scanned[QR_PREFIX.len()..],
        _ => scanned,
    };
    if guid.is_empty() {
        return Err(
            "the GUID is empty: give the GUID of the test's QR code, e.g. \
                    3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA"
                .into(),
        );
    }
    let groups: Vec<&str> = guid.split('-').collect();
    let well_formed = groups.len() == GUID_GROUPS.len()
        && groups
            .iter()
            .zip(GUID_GROUPS)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        return Err(format!(
            "{guid:?} is not a test's GUID: six groups of 6, 8, 4, 4, 4 and 12 hex digits joined by \
             dashes, e.g. 3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA, or the QR code's \
             https://localhost/?GUID"
        ));
    }
    Ok(guid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_guids_of_the_original_shape_are_taken_and_nothing_else() {
        let guid = "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA";
        assert_eq!(qr_guid(guid), Ok(guid));
        assert_eq!(
            qr_guid(&guid.to_lowercase()),
            Ok(guid.to_lowercase().as_str())
        );
        assert_eq!(qr_guid(&format!("https://localhost/?{guid}")), Ok(guid));
        assert_eq!(qr_guid(&format!("HTTPS://LOCALHOST/?{guid}")), Ok(guid));
        for bad in [
            "",
            "https://localhost/?",
            "hello world",
            "3D6D08-3567F3F2-4DCF-43A3-8737",
            "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA-",
            "3D6D0-83567F3F2-4DCF-43A3-8737-4CD1F87D6FDA",
            "3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDG",
            " 3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA",
            "https://example.org/?3D6D08-3567F3F2-4DCF-43A3-8737-4CD1F87D6FDA",
        ] {
            let err = qr_guid(bad).expect_err(bad);
            assert!(err.contains("GUID"), "{bad:?}: {err}");
        }
    }
}
