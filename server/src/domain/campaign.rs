//! The campaign's configuration: dates, targets and the assessment weights (DOMAIN.md, "How
//! the campaign is scored"). Admins change it; every change is a new version, so a ranking can
//! always say which configuration made it.

use serde::{Deserialize, Serialize};

use super::calendar::parse_date;

/// One version of the campaign configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Shown on dashboards and exports.
    pub name: String,
    /// Key dates, `YYYY-MM-DD`.
    pub dates: Dates,
    /// What each village should reach.
    pub targets: Targets,
    /// Points of each figure in the ranking (they need not add up to 100).
    pub weights: Weights,
    /// Extra points for a fraud den found (a flag confirmed by police).
    pub bonus_per_den: f64,
    /// Points taken for each red flag left unreviewed past its deadline.
    pub penalty_per_overdue_red: f64,
    /// Points taken for each fraud case against a resident of the village.
    pub penalty_per_case: f64,
}

/// The campaign's dates (the 2021 notice's, by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dates {
    /// Campaign start: visits before it do not count.
    pub start: String,
    /// Mobilisation meetings held by.
    pub mobilisation: String,
    /// Banners and slogans up by.
    pub publicity: String,
    /// The mid-June assessment and ranking.
    pub assessment: String,
    /// Registration done by.
    pub registration: String,
    /// End of the two-month rental sweep.
    pub sweep_end: String,
}

/// Targets per village. Rates are fractions (0.95 = 95 %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Households registered or covered ÷ households.
    pub registration_rate: f64,
    /// Households visited door to door ÷ households.
    pub visit_coverage: f64,
    /// Rentals inspected ÷ rentals.
    pub sweep_coverage: f64,
    /// Tenants registered ÷ occupants observed.
    pub tenant_registration: f64,
    /// Banners or fixed slogans in busy places, per village.
    pub banners: u32,
    /// Red-paper slogans per residential compound.
    pub slogans_per_compound: u32,
    /// Publicity vehicle runs, per village.
    pub vehicle_runs: u32,
    /// 村村响 loudspeaker broadcasts, per village.
    pub broadcasts: u32,
    /// Hours police have to review a red flag.
    pub red_review_hours: u32,
    /// Days for a yellow flag's revisit and screening.
    pub yellow_review_days: u32,
}

/// Ranking weights: the points a figure earns when its target is met in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub registration_rate: f64,
    pub visit_coverage: f64,
    pub sweep_coverage: f64,
    pub tenant_registration: f64,
    pub publicity: f64,
    pub flags_in_time: f64,
}

impl Campaign {
    /// The defaults, from the township's 2021 notice, starting on `start`.
    pub fn defaults(start: &str) -> Campaign {
        Campaign {
            name: "打击治理电信网络诈骗专项行动".into(),
            dates: Dates {
                start: start.into(),
                mobilisation: "2021-05-18".into(),
                publicity: "2021-05-31".into(),
                assessment: "2021-06-15".into(),
                registration: "2021-06-30".into(),
                sweep_end: "2021-07-10".into(),
            },
            targets: Targets {
                registration_rate: 0.95,
                visit_coverage: 1.0,
                sweep_coverage: 1.0,
                tenant_registration: 0.95,
                banners: 2,
                slogans_per_compound: 5,
                vehicle_runs: 1,
                broadcasts: 1,
                red_review_hours: 24,
                yellow_review_days: 7,
            },
            weights: Weights {
                registration_rate: 30.0,
                visit_coverage: 20.0,
                sweep_coverage: 20.0,
                tenant_registration: 10.0,
                publicity: 10.0,
                flags_in_time: 10.0,
            },
            bonus_per_den: 5.0,
            penalty_per_overdue_red: 2.0,
            penalty_per_case: 3.0,
        }
    }

    /// Checks a configuration an admin sent; the error names the field, in Chinese.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |field: &str, msg: &str| Err((field.to_owned(), msg.to_owned()));
        if self.name.trim().is_empty()
            || self.name.chars().count() > 100
            || self.name.chars().any(char::is_control)
        {
            return err("name", "名称不能为空，最多 100 字");
        }
        let d = &self.dates;
        for (field, value) in [
            ("dates.start", &d.start),
            ("dates.mobilisation", &d.mobilisation),
            ("dates.publicity", &d.publicity),
            ("dates.assessment", &d.assessment),
            ("dates.registration", &d.registration),
            ("dates.sweep_end", &d.sweep_end),
        ] {
            if parse_date(value).is_none() {
                return err(field, "日期格式应为 YYYY-MM-DD，且日期存在");
            }
            if field != "dates.start" && value.as_str() < d.start.as_str() {
                return err(field, "该日期不能早于专项行动开始日期");
            }
        }
        let t = &self.targets;
        for (field, rate) in [
            ("targets.registration_rate", t.registration_rate),
            ("targets.visit_coverage", t.visit_coverage),
            ("targets.sweep_coverage", t.sweep_coverage),
            ("targets.tenant_registration", t.tenant_registration),
        ] {
            if !(rate > 0.0 && rate <= 1.0) {
                return err(field, "目标比例应大于 0 且不超过 1（如 0.95 表示 95%）");
            }
        }
        if t.red_review_hours == 0 || t.yellow_review_days == 0 {
            return err("targets.red_review_hours", "复核时限必须大于 0");
        }
        let w = &self.weights;
        for (field, value) in [
            ("weights.registration_rate", w.registration_rate),
            ("weights.visit_coverage", w.visit_coverage),
            ("weights.sweep_coverage", w.sweep_coverage),
            ("weights.tenant_registration", w.tenant_registration),
            ("weights.publicity", w.publicity),
            ("weights.flags_in_time", w.flags_in_time),
            ("bonus_per_den", self.bonus_per_den),
            ("penalty_per_overdue_red", self.penalty_per_overdue_red),
            ("penalty_per_case", self.penalty_per_case),
        ] {
            if !(value.is_finite() && (0.0..=1000.0).contains(&value)) {
                return err(field, "分值应在 0 到 1000 之间");
            }
        }
        Ok(())
    }

    /// The deadlines to show on dashboards, in date order, with Chinese labels.
    pub fn deadlines(&self) -> Vec<(&'static str, &str)> {
        let d = &self.dates;
        let mut list = vec![
            ("动员部署会议", d.mobilisation.as_str()),
            ("横幅标语上墙", d.publicity.as_str()),
            ("中期考核排名", d.assessment.as_str()),
            ("金钟罩注册完成", d.registration.as_str()),
            ("出租房扫楼结束", d.sweep_end.as_str()),
        ];
        list.sort_by_key(|(_, date)| *date);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Campaign::defaults("2021-05-10").validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut c = Campaign::defaults("2021-05-10");
        c.dates.assessment = "2021-02-30".into();
        assert_eq!(c.validate().unwrap_err().0, "dates.assessment");
        let mut c = Campaign::defaults("2021-05-10");
        c.dates.registration = "2021-05-01".into();
        assert_eq!(c.validate().unwrap_err().0, "dates.registration");
        let mut c = Campaign::defaults("2021-05-10");
        c.targets.visit_coverage = 1.5;
        assert_eq!(c.validate().unwrap_err().0, "targets.visit_coverage");
        let mut c = Campaign::defaults("2021-05-10");
        c.weights.publicity = f64::NAN;
        assert_eq!(c.validate().unwrap_err().0, "weights.publicity");
    }

    #[test]
    fn deadlines_come_in_date_order() {
        let mut c = Campaign::defaults("2021-05-10");
        c.dates.publicity = "2021-07-30".into();
        let dates: Vec<&str> = c.deadlines().iter().map(|(_, d)| *d).collect();
        let mut sorted = dates.clone();
        sorted.sort();
        assert_eq!(dates, sorted);
    }
}
