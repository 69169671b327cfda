//! Overrides of the scan timing on top of a radio configuration: a different scan period or window,
//! or the seeds' fixed timing without shadowing, fading or packet loss.

use crate::config::{ConfigError, RadioConfig};

/// Changes to the scan timing of a radio configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimingOverrides {
    /// Longest start-to-start period of scan windows in seconds; the shortest becomes 70 % of it
    /// (Google's 300 s − 90 s), or exactly it with fixed timing.
    pub window_period_s: Option<f64>,
    /// Length of a scan window in seconds.
    pub window_length_s: Option<f64>,
    /// The seeds' timing: an advertisement exactly every 250 ms, windows exactly every period, no
    /// shadowing, fading or packet loss.
    pub fixed: bool,
}

impl TimingOverrides {
    /// `base` with these overrides, validated.
    pub fn apply(&self, base: RadioConfig) -> Result<RadioConfig, ConfigError> {
        let mut cfg = base;
        if let Some(w) = self.window_length_s {
            cfg.scanning.window_s = w;
        }
        if self.fixed {
            let period = self.window_period_s.unwrap_or(cfg.scanning.period_max_s);
            cfg = RadioConfig {
                channel: cfg.channel,
                ..RadioConfig::fixed(0.25, period, cfg.scanning.window_s)
            };
            cfg.channel.shadowing_sigma_db = 0.0;
            cfg.channel.fading_sigma_db = 0.0;
            cfg.channel.packet_loss = 0.0;
        } else if let Some(p) = self.window_period_s {
            cfg.scanning.period_max_s = p;
            cfg.scanning.period_min_s = (0.7 * p).max(cfg.scanning.window_s);
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_overrides_keep_the_configuration() {
        let base = RadioConfig::default();
        assert_eq!(TimingOverrides::default().apply(base.clone()), Ok(base));
    }

    #[test]
    fn a_period_sets_the_shortest_to_seventy_percent_but_never_below_the_window() {
        let cfg = TimingOverrides {
            window_period_s: Some(100.0),
            ..TimingOverrides::default()
        }
        .apply(RadioConfig::default())
        .unwrap();
        assert_eq!(cfg.scanning.period_max_s, 100.0);
        assert!((cfg.scanning.period_min_s - 70.0).abs() < 1e-9);
        let short = TimingOverrides {
            window_period_s: Some(10.0),
            window_length_s: Some(8.0),
            fixed: false,
        }
        .apply(RadioConfig::default())
        .unwrap();
        assert_eq!(short.scanning.period_min_s, 8.0);
    }

    #[test]
    fn fixed_timing_is_exact_and_lossless() {
        let cfg = TimingOverrides {
            window_period_s: Some(300.0),
            window_length_s: Some(2.0),
            fixed: true,
        }
        .apply(RadioConfig::default())
        .unwrap();
        assert_eq!(cfg.scanning.period_min_s, 300.0);
        assert_eq!(cfg.scanning.period_max_s, 300.0);
        assert_eq!(cfg.scanning.window_s, 2.0);
        assert_eq!(cfg.channel.packet_loss, 0.0);
        assert_eq!(cfg.channel.shadowing_sigma_db, 0.0);
        assert_eq!(cfg.channel.fading_sigma_db, 0.0);
    }

    #[test]
    fn an_invalid_result_is_refused() {
        let bad = TimingOverrides {
            window_length_s: Some(-1.0),
            ..TimingOverrides::default()
        };
        assert!(bad.apply(RadioConfig::default()).is_err());
    }
}
