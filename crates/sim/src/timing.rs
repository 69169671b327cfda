//! Overrides of the scan timing on top of a radio configuration: a different scan period or window,
//! or the seeds' fixed timing without shadowing, fading or packet loss.

use crate::config::{ConfigError, RadioConfig};

/// Changes to the scan timing of a radio configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimingOverrides {
    /// Longest start-to-start period of scan windows in seconds; the shortest becomes 70 % of it
    /// (Google's 300 s − 90 s), or exactly it with fixed timing (default there: the figure's 300 s).
    pub window_period_s: Option<f64>,
    /// Length of a scan window in seconds (default with fixed timing: the figure's 2 s).
    pub window_length_s: Option<f64>,
    /// The seeds' Figure 14 timing ([`RadioConfig::seed_figure`]): an advertisement exactly every
    /// 250 ms, 2-second windows exactly every 300 s unless the period or window is given, no
    /// shadowing, fading or packet loss.
    pub fixed: bool,
}

impl TimingOverrides {
    /// `base` with these overrides, validated.
    pub fn apply(&self, base: RadioConfig) -> Result<RadioConfig, ConfigError> {
        let mut cfg = base;
        if self.fixed {
            // The figure's timing, not the base's: its outcome depends on the 2-second windows.
            let figure = RadioConfig::seed_figure().scanning;
            let period = self.window_period_s.unwrap_or(figure.period_max_s);
            let window = self.window_length_s.unwrap_or(figure.window_s);
            cfg = RadioConfig {
                channel: cfg.channel,
                ..RadioConfig::fixed(0.25, period, window)
            };
            cfg.channel.shadowing_sigma_db = 0.0;
            cfg.channel.fading_sigma_db = 0.0;
            cfg.channel.packet_loss = 0.0;
            cfg.validate()?;
            return Ok(cfg);
        }
        if let Some(w) = self.window_length_s {
            cfg.scanning.window_s = w;
        }
        if let Some(p) = self.window_period_s {
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
    fn fixed_timing_alone_is_the_figures_whatever_the_base() {
        let mut base = RadioConfig::default();
        base.scanning.window_s = 6.0;
        base.scanning.period_max_s = 240.0;
        let fixed = TimingOverrides {
            fixed: true,
            ..TimingOverrides::default()
        };
        let figure = RadioConfig::seed_figure();
        assert_eq!(fixed.apply(base.clone()).unwrap(), figure);
        let longer = TimingOverrides {
            window_length_s: Some(4.0),
            ..fixed
        }
        .apply(base)
        .unwrap();
        assert_eq!(longer.scanning.window_s, 4.0);
        assert_eq!(longer.scanning.period_max_s, 300.0);
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
