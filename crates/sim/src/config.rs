//! The radio model's parameters: one TOML document, every field optional with a documented default.
//!
//! ```toml
//! [advertising]
//! interval_min_ms = 200.0   # BLE advertising interval, drawn per advertisement
//! interval_max_ms = 270.0
//! rpi_rotation_s = 600.0    # a new RPI every ENIN (10 minutes)
//!
//! [scanning]
//! period_min_s = 210.0      # start-to-start distance of scan windows, drawn per window
//! period_max_s = 300.0
//! window_s = 4.0            # length of one scan window
//!
//! [channel]
//! attenuation_at_1m_db = 50.0
//! path_loss_exponent = 2.5
//! max_attenuation_db = 90.0 # receiver sensitivity: weaker advertisements are not received
//! shadowing_sigma_db = 4.0  # slow variation, one draw per scan window and encounter
//! fading_sigma_db = 2.0     # fast variation, one draw per advertisement
//! packet_loss = 0.05        # chance that a receivable advertisement is still lost
//! body_loss_db = 10.0
//! seat_loss_db = 8.0
//! wall_loss_db = 15.0
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// All parameters of the radio model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadioConfig {
    /// The advertiser: how often it sends and how often its identifier changes.
    pub advertising: AdvertisingConfig,
    /// The scanner: when and how long it listens.
    pub scanning: ScanningConfig,
    /// The radio channel between the two phones.
    pub channel: ChannelConfig,
}

/// Advertising parameters of the phone that is being observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvertisingConfig {
    /// Shortest advertising interval in milliseconds (spec: 200 ms).
    pub interval_min_ms: f64,
    /// Longest advertising interval in milliseconds (spec: 270 ms). Equal to the minimum for fixed timing.
    pub interval_max_ms: f64,
    /// Seconds between RPI changes (one ENIN, 600 s).
    pub rpi_rotation_s: f64,
}

impl Default for AdvertisingConfig {
    fn default() -> Self {
        Self {
            interval_min_ms: 200.0,
            interval_max_ms: 270.0,
            rpi_rotation_s: 600.0,
        }
    }
}

/// Scanning parameters of the observing phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanningConfig {
    /// Shortest start-to-start period of scan windows in seconds (Google: 300 − 90 = 210 s).
    pub period_min_s: f64,
    /// Longest period in seconds (Google: 300 s). Equal to the minimum for fixed timing.
    pub period_max_s: f64,
    /// Length of one scan window in seconds (Google: 4 s).
    pub window_s: f64,
}

impl Default for ScanningConfig {
    fn default() -> Self {
        Self {
            period_min_s: 210.0,
            period_max_s: 300.0,
            window_s: 4.0,
        }
    }
}

/// The channel: log-distance path loss, obstruction losses and random variation.
///
/// The defaults put 55 dB at about 1.5 m and 63 dB at about 3.3 m, which is where the Corona-Warn-App's
/// final attenuation thresholds (55/63 dB) were meant to separate close, medium and far contacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelConfig {
    /// Mean attenuation (TX power − calibrated RSSI) at one metre, line of sight.
    pub attenuation_at_1m_db: f64,
    /// Path-loss exponent n: attenuation grows by 10·n dB per decade of distance.
    pub path_loss_exponent: f64,
    /// Advertisements whose attenuation exceeds this are below the receiver's sensitivity.
    pub max_attenuation_db: f64,
    /// Standard deviation of the slow (per scan window) Gaussian shadowing.
    pub shadowing_sigma_db: f64,
    /// Standard deviation of the fast (per advertisement) Gaussian fading.
    pub fading_sigma_db: f64,
    /// Probability that an advertisement above the sensitivity is lost anyway (collisions, channel hops).
    pub packet_loss: f64,
    /// Extra loss when a human body is between the phones (phone in a back pocket, a person in between).
    pub body_loss_db: f64,
    /// Extra loss through a train or bus seat back.
    pub seat_loss_db: f64,
    /// Extra loss through a wall between flats.
    pub wall_loss_db: f64,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            attenuation_at_1m_db: 50.0,
            path_loss_exponent: 2.5,
            max_attenuation_db: 90.0,
            shadowing_sigma_db: 4.0,
            fading_sigma_db: 2.0,
            packet_loss: 0.05,
            body_loss_db: 10.0,
            seat_loss_db: 8.0,
            wall_loss_db: 15.0,
        }
    }
}

/// Why a radio configuration was rejected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text could not be parsed into a configuration.
    Parse(String),
    /// A field has a value the model cannot work with.
    Invalid {
        /// Dotted path of the field, e.g. `scanning.window_s`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(msg) => write!(
                f,
                "radio configuration is not valid TOML for the model: {msg}"
            ),
            Self::Invalid { field, reason } => write!(f, "radio configuration: {field} {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl RadioConfig {
    /// Parses and validates a TOML document; missing fields take their defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The timing of the seeds' Figure 14 with no randomness and no signal loss: an advertisement every
    /// `advertising_interval_s`, `window_s`-second windows every `period_s` seconds, no shadowing, fading or
    /// packet loss. The path loss and the radio range stay as in the default channel.
    pub fn fixed(advertising_interval_s: f64, period_s: f64, window_s: f64) -> Self {
        let mut cfg = Self::default();
        cfg.advertising.interval_min_ms = advertising_interval_s * 1000.0;
        cfg.advertising.interval_max_ms = advertising_interval_s * 1000.0;
        cfg.scanning = ScanningConfig {
            period_min_s: period_s,
            period_max_s: period_s,
            window_s,
        };
        cfg.channel.shadowing_sigma_db = 0.0;
        cfg.channel.fading_sigma_db = 0.0;
        cfg.channel.packet_loss = 0.0;
        cfg
    }

    /// The seeds' Figure 14: a broadcast every 250 ms, 2-second listening windows 5 minutes apart.
    pub fn seed_figure() -> Self {
        Self::fixed(0.25, 300.0, 2.0)
    }

    /// True when neither the advertising interval nor the scan period is random.
    pub fn is_fixed_timing(&self) -> bool {
        self.advertising.interval_min_ms == self.advertising.interval_max_ms
            && self.scanning.period_min_s == self.scanning.period_max_s
    }

    /// Checks every field for a value the model can use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let a = &self.advertising;
        let s = &self.scanning;
        let c = &self.channel;
        let checks: [(bool, &'static str, &'static str); 13] = [
            (
                a.interval_min_ms > 0.0,
                "advertising.interval_min_ms",
                "must be positive",
            ),
            (
                a.interval_max_ms >= a.interval_min_ms,
                "advertising.interval_max_ms",
                "must be at least interval_min_ms",
            ),
            (
                a.interval_max_ms.is_finite(),
                "advertising.interval_max_ms",
                "must be finite",
            ),
            (
                a.rpi_rotation_s > 0.0 && a.rpi_rotation_s.is_finite(),
                "advertising.rpi_rotation_s",
                "must be positive",
            ),
            (s.window_s > 0.0, "scanning.window_s", "must be positive"),
            (
                s.period_min_s >= s.window_s,
                "scanning.period_min_s",
                "must be at least window_s",
            ),
            (
                s.period_max_s >= s.period_min_s,
                "scanning.period_max_s",
                "must be at least period_min_s",
            ),
            (
                s.period_max_s.is_finite(),
                "scanning.period_max_s",
                "must be finite",
            ),
            (
                c.path_loss_exponent > 0.0,
                "channel.path_loss_exponent",
                "must be positive",
            ),
            (
                c.shadowing_sigma_db >= 0.0,
                "channel.shadowing_sigma_db",
                "must not be negative",
            ),
            (
                c.fading_sigma_db >= 0.0,
                "channel.fading_sigma_db",
                "must not be negative",
            ),
            (
                (0.0..1.0).contains(&c.packet_loss),
                "channel.packet_loss",
                "must be in [0, 1)",
            ),
            (
                c.attenuation_at_1m_db.is_finite() && c.max_attenuation_db.is_finite(),
                "channel.max_attenuation_db",
                "must be finite",
            ),
        ];
        for (ok, field, reason) in checks {
            if !ok {
                return Err(ConfigError::Invalid { field, reason });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_gives_defaults() {
        assert_eq!(RadioConfig::from_toml("").unwrap(), RadioConfig::default());
    }

    #[test]
    fn partial_document_overrides_only_its_fields() {
        let cfg = RadioConfig::from_toml("[scanning]\nwindow_s = 2.0\n").unwrap();
        assert_eq!(cfg.scanning.window_s, 2.0);
        assert_eq!(cfg.scanning.period_max_s, 300.0);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        assert!(matches!(
            RadioConfig::from_toml("[scanning]\nwindw_s = 2.0\n"),
            Err(ConfigError::Parse(_))
        ));
        assert_eq!(
            RadioConfig::from_toml("[scanning]\nwindow_s = 400.0\n"),
            Err(ConfigError::Invalid {
                field: "scanning.period_min_s",
                reason: "must be at least window_s"
            })
        );
    }

    #[test]
    fn seed_figure_is_fixed_and_lossless() {
        let cfg = RadioConfig::seed_figure();
        assert!(cfg.is_fixed_timing());
        assert_eq!(cfg.channel.packet_loss, 0.0);
        assert!(!RadioConfig::default().is_fixed_timing());
    }
}
