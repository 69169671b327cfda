//! Where published files live: the original's URL layout under `version/v1/`.
//!
//! Every published object is stored as `<url path>/index`, because a URL such as `.../date/2026-11-20`
//! names both a file (the daily archive) and a directory (`.../date/2026-11-20/hour`). The static
//! server, like the CDN in front of an S3 bucket, maps a request for `P` to the object `P/index`.

/// What kind of file an object is: decides content type and caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A JSON index (countries, dates, hours): changes every run.
    Index,
    /// A signed key archive: immutable once published.
    Archive,
    /// The signed app configuration: may change when operators change it.
    Config,
    /// The public key of the newest signing key (PEM).
    PublicKey,
    /// The list of every valid public key with its validity (JSON): changes with a rotation.
    PublicKeys,
}

impl Kind {
    /// The `Content-Type` this kind is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Index | Kind::PublicKeys => "application/json",
            Kind::Archive | Kind::Config => "application/zip",
            Kind::PublicKey => "application/x-pem-file",
        }
    }

    /// The `Cache-Control` this kind is served with. Archives never change, so caches keep them; indexes
    /// and the configuration change with each run, so caches keep them briefly.
    pub fn cache_control(self) -> &'static str {
        match self {
            Kind::Archive => "public, max-age=86400, immutable",
            Kind::Index => "public, max-age=300",
            Kind::Config | Kind::PublicKey | Kind::PublicKeys => "public, max-age=300",
        }
    }
}

/// The name of the object inside each URL "directory".
pub const INDEX_OBJECT: &str = "index";
/// The root of the published layout.
pub const ROOT: &str = "version/v1";

/// `version/v1/diagnosis-keys/country`: the JSON array of regions.
pub fn country_index() -> String {
    format!("{ROOT}/diagnosis-keys/country")
}

/// `.../country/{R}/date`: the JSON array of published dates.
pub fn date_index(region: &str) -> String {
    format!("{ROOT}/diagnosis-keys/country/{region}/date")
}

/// `.../date/{D}`: the daily archive.
pub fn daily(region: &str, date: &str) -> String {
    format!("{ROOT}/diagnosis-keys/country/{region}/date/{date}")
}

/// `.../date/{D}/hour`: the JSON array of published hours of a date.
pub fn hour_index(region: &str, date: &str) -> String {
    format!("{ROOT}/diagnosis-keys/country/{region}/date/{date}/hour")
}

/// `.../date/{D}/hour/{H}`: the hourly archive.
pub fn hourly(region: &str, date: &str, hour: u32) -> String {
    format!("{ROOT}/diagnosis-keys/country/{region}/date/{date}/hour/{hour}")
}

/// `version/v1/configuration/country/{R}/app_config`: the signed v1 app configuration.
pub fn app_config(region: &str) -> String {
    format!("{ROOT}/configuration/country/{region}/app_config")
}

/// `version/v1/configuration/country`: the JSON array of regions with a v1 configuration.
pub fn config_index() -> String {
    format!("{ROOT}/configuration/country")
}

/// `version`: the JSON array of published versions (`["v1"]`, as the original).
pub fn version_index() -> String {
    "version".to_owned()
}

/// The API versions under which the v2 app configurations are published: the apps from 1.9 on read
/// `version/v1/app_config_{android,ios}`, those from 1.15 on `version/v2/...`.
pub const V2_CONFIG_VERSIONS: [&str; 2] = ["v1", "v2"];

/// `version/{v}/app_config_android`: the signed v2 Android configuration.
pub fn app_config_android(version: &str) -> String {
    format!("version/{version}/app_config_android")
}

/// `version/{v}/app_config_ios`: the signed v2 iOS configuration.
pub fn app_config_ios(version: &str) -> String {
    format!("version/{version}/app_config_ios")
}

/// `version/v1/public-key.pem`: the newest key that signs (after a rotation, the new one).
pub fn public_key() -> String {
    format!("{ROOT}/public-key.pem")
}

/// `version/v1/public-keys.json`: every public key an app needs to verify what is published, with its
/// id, version and validity (see [`crate::signing::Keyring::published_list`]).
pub fn public_keys() -> String {
    format!("{ROOT}/public-keys.json")
}

/// The object a URL path is stored as.
pub fn object_for(url_path: &str) -> String {
    format!("{}/{INDEX_OBJECT}", url_path.trim_matches('/'))
}

/// The kind of a URL path, for serving. `None` for paths outside the layout.
pub fn kind_of(url_path: &str) -> Option<Kind> {
    let path = url_path.trim_matches('/');
    if path == "version" {
        return Some(Kind::Index);
    }
    if V2_CONFIG_VERSIONS
        .iter()
        .any(|v| path == app_config_android(v) || path == app_config_ios(v))
    {
        return Some(Kind::Config);
    }
    let rest = path.strip_prefix(ROOT)?.strip_prefix('/')?;
    if rest == "public-key.pem" {
        return Some(Kind::PublicKey);
    }
    if rest == "public-keys.json" {
        return Some(Kind::PublicKeys);
    }
    if rest == "configuration/country" {
        return Some(Kind::Index);
    }
    if rest.starts_with("configuration/") {
        return Some(Kind::Config);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["diagnosis-keys", "country"]
        | ["diagnosis-keys", "country", _, "date"]
        | ["diagnosis-keys", "country", _, "date", _, "hour"] => Some(Kind::Index),
        ["diagnosis-keys", "country", _, "date", _]
        | ["diagnosis-keys", "country", _, "date", _, "hour", _] => Some(Kind::Archive),
        _ => None,
    }
}

pub use warnkit_protocol::interval::{date_string, datetime_string, parse_date};

/// Unix seconds of an RFC 3339 timestamp such as `2026-11-23T05:10:00Z` or `...+01:00`.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_at_checked(10)?;
    let day = parse_date(date)?;
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, zone) = rest.split_at_checked(8)?;
    let mut hms = time
        .split(':')
        .map(|p| p.parse::<i64>().ok().filter(|_| p.len() == 2));
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Fractional seconds are accepted and dropped.
    let zone = match zone.strip_prefix('.') {
        Some(frac) => frac.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => zone,
    };
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (oh, om) = zone.get(1..)?.split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    Some(day * 86_400 + h * 3600 + m * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(18_354), "2020-04-02");
        assert_eq!(date_string(20_414), "2025-11-22");
        assert_eq!(parse_date("2020-04-02"), Some(18_354));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("2023-1-01"), None);
        assert_eq!(parse_date("../etc"), None);
        for day in [-1000, 0, 59, 365, 18_354, 30_000] {
            assert_eq!(parse_date(&date_string(day)), Some(day));
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2020-04-02T00:00:00Z"), Some(1_585_785_600));
        assert_eq!(
            parse_rfc3339("2020-04-02T02:00:00+02:00"),
            Some(1_585_785_600)
        );
        assert_eq!(
            parse_rfc3339("2020-04-01T23:00:00.123-01:00"),
            Some(1_585_785_600)
        );
        for bad in [
            "",
            "2020-04-02",
            "2020-04-02T24:00:00Z",
            "2020-04-02T00:00:00",
            "2020-04-02T00:00Z",
            "2020-04-02T00:00:00+2:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of(&country_index()), Some(Kind::Index));
        assert_eq!(kind_of(&date_index("DE")), Some(Kind::Index));
        assert_eq!(kind_of(&daily("DE", "2020-04-02")), Some(Kind::Archive));
        assert_eq!(kind_of(&hour_index("DE", "2020-04-02")), Some(Kind::Index));
        assert_eq!(
            kind_of(&hourly("DE", "2020-04-02", 13)),
            Some(Kind::Archive)
        );
        assert_eq!(kind_of(&app_config("DE")), Some(Kind::Config));
        assert_eq!(kind_of(&config_index()), Some(Kind::Index));
        assert_eq!(kind_of(&version_index()), Some(Kind::Index));
        for v in V2_CONFIG_VERSIONS {
            assert_eq!(kind_of(&app_config_android(v)), Some(Kind::Config));
            assert_eq!(kind_of(&app_config_ios(v)), Some(Kind::Config));
        }
        assert_eq!(kind_of("version/v3/app_config_android"), None);
        assert_eq!(kind_of("version/v2/other"), None);
        assert_eq!(kind_of(&public_key()), Some(Kind::PublicKey));
        assert_eq!(kind_of(&public_keys()), Some(Kind::PublicKeys));
        assert_eq!(Kind::PublicKeys.content_type(), "application/json");
        assert_eq!(
            Kind::PublicKeys.cache_control(),
            Kind::PublicKey.cache_control()
        );
        assert_eq!(kind_of("version/v1/other"), None);
        assert_eq!(kind_of("etc/passwd"), None);
        assert_eq!(
            object_for("/version/v1/diagnosis-keys/country/"),
            "version/v1/diagnosis-keys/country/index"
        );
    }
}
