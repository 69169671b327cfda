//! How a diagnosis key's transmission risk level reaches an ENF v2 app.
//!
//! ENF v2 drops a key's transmission risk level before risk calculation and keeps only its report
//! type and, through the app's data mapping, an infectiousness derived from its days since onset of
//! symptoms. So the server writes each level into those two fields when it publishes the key
//! ([`KeyEncoding`]), the app configuration tells the framework how days since onset become
//! infectiousness ([`DataMapping`]), and the risk calculation adds the offsets of
//! [`TrlEncoding`](super::TrlEncoding) to get the level back ([`super::transmission_risk_level`]).
//! The three must agree; [`KeyEncoding::check_round_trip`] proves they do.

use serde::{Deserialize, Serialize};

use super::{Infectiousness, ReportType, RiskCalculationParameters, TrlEncoding};

/// Lowest transmission risk level.
pub const MIN_TRL: u8 = 1;
/// Highest transmission risk level.
pub const MAX_TRL: u8 = 8;

/// The server side: report type and days since onset published for each transmission risk level
/// 1..=8 (index 0 is level 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEncoding {
    /// Report type number published for levels 1..=8.
    pub report_type_by_trl: [u8; 8],
    /// Days since onset of symptoms published for levels 1..=8.
    pub days_since_onset_by_trl: [i32; 8],
}

impl Default for KeyEncoding {
    /// The original's encoding: the report type carries the level's upper bits (RECURSIVE for 1–2 up
    /// to CONFIRMED_TEST for 7–8), days since onset 1 or 2 its lowest bit.
    fn default() -> Self {
        Self {
            report_type_by_trl: [4, 4, 3, 3, 2, 2, 1, 1],
            days_since_onset_by_trl: [1, 2, 1, 2, 1, 2, 1, 2],
        }
    }
}

impl KeyEncoding {
    /// The report type and days since onset to publish for `trl`; `None` outside 1..=8.
    pub fn encode(&self, trl: u8) -> Option<(i32, i32)> {
        let i = usize::from(trl.checked_sub(MIN_TRL)?);
        Some((
            i32::from(*self.report_type_by_trl.get(i)?),
            self.days_since_onset_by_trl[i],
        ))
    }

    /// Checks that an app decoding with `mapping` and `params` gets every level in `levels` back,
    /// naming the first level that does not survive.
    pub fn check_round_trip(
        &self,
        mapping: &DataMapping,
        params: &RiskCalculationParameters,
        levels: std::ops::RangeInclusive<u8>,
    ) -> Result<(), String> {
        for trl in levels {
            let (report_type, dsos) = self
                .encode(trl)
                .ok_or_else(|| format!("no encoding for transmission risk level {trl}"))?;
            let decoded = decode(&params.trl_encoding, mapping, Some(report_type), Some(dsos));
            if decoded != Some(i32::from(trl)) {
                return Err(format!(
                    "transmission risk level {trl} is published as report type {report_type} and \
                     {dsos} days since onset, which the app reads as level {}",
                    decoded.map_or("none".to_owned(), |d| d.to_string())
                ));
            }
        }
        Ok(())
    }
}

/// The app side of the framework's `DiagnosisKeysDataMapping`: how a key's days since onset become
/// infectiousness, and what stands in for missing values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataMapping {
    /// `[days since onset, infectiousness number]` pairs; days not listed mean no infectiousness.
    pub infectiousness_by_days_since_onset: Vec<[i32; 2]>,
    /// Infectiousness number of a key without days since onset.
    pub infectiousness_when_days_since_onset_missing: u8,
    /// Report type number of a key without one.
    pub report_type_when_missing: u8,
}

impl Default for DataMapping {
    /// The original's mapping: day 1 standard, day 2 high; missing days none; missing report type
    /// CONFIRMED_TEST.
    fn default() -> Self {
        Self {
            infectiousness_by_days_since_onset: vec![[1, 1], [2, 2]],
            infectiousness_when_days_since_onset_missing: 0,
            report_type_when_missing: 1,
        }
    }
}

impl DataMapping {
    /// The infectiousness the framework gives a key with `days_since_onset`.
    pub fn infectiousness(&self, days_since_onset: Option<i32>) -> Option<Infectiousness> {
        let number = match days_since_onset {
            None => i64::from(self.infectiousness_when_days_since_onset_missing),
            Some(d) => self
                .infectiousness_by_days_since_onset
                .iter()
                .find(|[day, _]| *day == d)
                .map_or(0, |[_, inf]| i64::from(*inf)),
        };
        Infectiousness::try_from(number).ok()
    }

    /// The report type the framework gives a key that carries `report_type` (0 or absent: missing).
    pub fn report_type(&self, report_type: Option<i32>) -> Option<ReportType> {
        let number = match report_type {
            None | Some(0) => i64::from(self.report_type_when_missing),
            Some(r) => i64::from(r),
        };
        ReportType::try_from(number).ok()
    }

    /// Checks the numbers are known infectiousness and report-type values.
    pub fn validate(&self) -> Result<(), String> {
        for [day, inf] in &self.infectiousness_by_days_since_onset {
            Infectiousness::try_from(i64::from(*inf))
                .map_err(|e| format!("days since onset {day}: {e}"))?;
        }
        Infectiousness::try_from(i64::from(self.infectiousness_when_days_since_onset_missing))
            .map_err(|e| e.to_string())?;
        ReportType::try_from(i64::from(self.report_type_when_missing))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The transmission risk level an ENF v2 app computes for a key published with `report_type` and
/// `days_since_onset`; `None` when the framework would drop the key (no infectiousness) or the
/// report type has no offset.
pub fn decode(
    encoding: &TrlEncoding,
    mapping: &DataMapping,
    report_type: Option<i32>,
    days_since_onset: Option<i32>,
) -> Option<i32> {
    let infectiousness = mapping.infectiousness(days_since_onset)?;
    if infectiousness == Infectiousness::None {
        return None;
    }
    let report_type_offset = match mapping.report_type(report_type)? {
        ReportType::ConfirmedTest => encoding.report_type_offset_confirmed_test,
        ReportType::ConfirmedClinicalDiagnosis => {
            encoding.report_type_offset_confirmed_clinical_diagnosis
        }
        ReportType::SelfReport => encoding.report_type_offset_self_report,
        ReportType::Recursive => encoding.report_type_offset_recursive,
        ReportType::Unknown | ReportType::Revoked => return None,
    };
    let infectiousness_offset = match infectiousness {
        Infectiousness::High => encoding.infectiousness_offset_high,
        _ => encoding.infectiousness_offset_standard,
    };
    Some(report_type_offset + infectiousness_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_encoding_round_trips_every_level() {
        let params = RiskCalculationParameters::cwa_default();
        KeyEncoding::default()
            .check_round_trip(&DataMapping::default(), &params, MIN_TRL..=MAX_TRL)
            .unwrap();
    }

    #[test]
    fn a_disagreeing_encoding_is_named() {
        let mut encoding = KeyEncoding::default();
        encoding.days_since_onset_by_trl[6] = 5; // level 7 on a day the mapping does not know
        let err = encoding
            .check_round_trip(
                &DataMapping::default(),
                &RiskCalculationParameters::cwa_default(),
                MIN_TRL..=MAX_TRL,
            )
            .unwrap_err();
        assert!(err.contains("level 7"), "{err}");
        assert!(err.contains("level none"), "{err}");
    }

    #[test]
    fn missing_values_follow_the_mapping() {
        let m = DataMapping::default();
        assert_eq!(m.infectiousness(None), Some(Infectiousness::None));
        assert_eq!(m.infectiousness(Some(2)), Some(Infectiousness::High));
        assert_eq!(m.infectiousness(Some(9)), Some(Infectiousness::None));
        assert_eq!(m.report_type(Some(0)), Some(ReportType::ConfirmedTest));
        assert_eq!(m.report_type(Some(3)), Some(ReportType::SelfReport));
        assert_eq!(m.report_type(Some(17)), None);
        assert_eq!(KeyEncoding::default().encode(0), None);
        assert_eq!(KeyEncoding::default().encode(9), None);
        assert_eq!(KeyEncoding::default().encode(8), Some((1, 2)));
    }
}
