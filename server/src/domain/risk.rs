//! The fraud-den risk score of a rental (DOMAIN.md): points per indicator, the equipment ×
//! behaviour bonus, the cap, and red/yellow/green. Pure: the caller gathers the latest
//! inspection's codes and the facts the server derives (B1, D1, D2, X1).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The inspection checklist's codes (DOMAIN.md), in checklist order.
pub const INDICATOR_CODES: &[&str] = &[
    "A1", "A2", "A3", "A4", "A5", "A6", "A7", "B1", "B2", "C1", "C2", "C3", "C4", "C5", "D1", "D2",
    "D3", "E1", "E2", "F1", "X1",
];

/// One indicator's weight and its plain-Chinese explanation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Indicator {
    /// Code, e.g. `A1`.
    pub code: String,
    /// Points it adds.
    pub points: u32,
    /// What it means, shown in reasons and on the checklist.
    pub label: String,
    /// A code this one replaces when both are present (A7 replaces A6, E2 replaces E1).
    #[serde(default)]
    pub replaces: Option<String>,
}

/// A versioned set of weights; every score keeps the version that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RiskRules {
    /// Stored with each score.
    pub version: String,
    /// The indicators.
    pub indicators: Vec<Indicator>,
    /// Added when an equipment signal (A) appears with a behaviour or tenancy signal (C/D).
    pub combination_bonus: u32,
    /// Highest score.
    pub cap: u32,
    /// Lowest red score.
    pub red_from: u32,
    /// Lowest yellow score.
    pub yellow_from: u32,
}

/// One line of an explained score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Indicator code, or `COMBO` for the bonus.
    pub code: String,
    /// Points it added.
    pub points: u32,
    /// Readable detail.
    pub detail: String,
}

/// An explained score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// 0..=cap.
    pub score: u32,
    /// `red`, `yellow` or `green`.
    pub level: &'static str,
    /// Every contribution, in indicator order.
    pub reasons: Vec<Reason>,
    /// The rules version.
    pub rule_version: String,
}

impl RiskRules {
    /// The weights of DOMAIN.md, version `2021.1`.
    pub fn builtin() -> RiskRules {
        let table: [(&str, u32, &str, Option<&str>); 21] = [
            ("A1", 40, "发现猫池/GOIP/多卡宝等多卡设备", None),
            ("A2", 40, "多部手机用音频线连接（手机口）", None),
            ("A3", 40, "发现话术本或受害人号码清单", None),
            ("A4", 25, "大量手机卡或手机卡包装", None),
            ("A5", 25, "大量银行卡、U盾或他人身份证件", None),
            ("A6", 15, "电脑、路由器等设备与居住人数明显不符", None),
            ("A7", 30, "设备与人数不符，且无日常生活迹象", Some("A6")),
            ("B1", 15, "实际居住人数多于登记人数", None),
            ("B2", 10, "多名青年聚居，无明确职业或收入来源", None),
            ("C1", 20, "租客拒绝登记身份证或出示虚假证件", None),
            ("C2", 10, "两次以上上门无人开门", None),
            ("C3", 10, "长期拉窗帘、换锁或自装门口摄像头", None),
            ("C4", 10, "昼伏夜出、频繁打电话", None),
            ("C5", 10, "频繁收到手机卡或银行卡快递", None),
            ("D1", 10, "短租、日租或租金明显高于市场价", None),
            ("D2", 10, "现金交租且无书面合同", None),
            ("D3", 5, "房东不在本地居住且无管理人", None),
            ("E1", 5, "用电量异常", None),
            ("E2", 10, "用电量严重异常", Some("E1")),
            ("F1", 15, "邻居或房东举报", None),
            ("X1", 10, "同一租客身份证同时登记在另一处出租房", None),
        ];
        RiskRules {
            version: "2021.1".into(),
            indicators: table
                .iter()
                .map(|(code, points, label, replaces)| Indicator {
                    code: (*code).into(),
                    points: *points,
                    label: (*label).into(),
                    replaces: replaces.map(str::to_owned),
                })
                .collect(),
            combination_bonus: 10,
            cap: 100,
            red_from: 40,
            yellow_from: 20,
        }
    }

    /// Checks a rules file's content: every checklist code weighted once, sane levels.
    pub fn validate(&self) -> Result<(), String> {
        if self.version.trim().is_empty() {
            return Err("rules need a version".into());
        }
        for code in INDICATOR_CODES {
            if self.indicators.iter().filter(|i| i.code == *code).count() != 1 {
                return Err(format!("indicator {code} must appear exactly once"));
            }
        }
        if self.indicators.len() != INDICATOR_CODES.len() {
            return Err("unknown indicator codes in the rules".into());
        }
        if !(self.yellow_from < self.red_from && self.red_from <= self.cap) {
            return Err("need yellow_from < red_from <= cap".into());
        }
        Ok(())
    }

    /// Scores a set of codes (ticked and derived together; each counts once).
    pub fn score(&self, codes: &BTreeSet<String>) -> Score {
        let replaced: BTreeSet<&str> = self
            .indicators
            .iter()
            .filter(|i| codes.contains(&i.code))
            .filter_map(|i| i.replaces.as_deref())
            .collect();
        let mut reasons: Vec<Reason> = self
            .indicators
            .iter()
            .filter(|i| codes.contains(&i.code) && !replaced.contains(i.code.as_str()))
            .map(|i| Reason {
                code: i.code.clone(),
                points: i.points,
                detail: i.label.clone(),
            })
            .collect();
        let has = |prefix: char| reasons.iter().any(|r| r.code.starts_with(prefix));
        if has('A') && (has('C') || has('D')) {
            reasons.push(Reason {
                code: "COMBO".into(),
                points: self.combination_bonus,
                detail: "涉诈设备迹象与异常行为或租住迹象同时出现".into(),
            });
        }
        let score = reasons.iter().map(|r| r.points).sum::<u32>().min(self.cap);
        let level = if score >= self.red_from {
            "red"
        } else if score >= self.yellow_from {
            "yellow"
        } else {
            "green"
        };
        Score {
            score,
            level,
            reasons,
            rule_version: self.version.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn table_of_cases() {
        let rules = RiskRules::builtin();
        let cases: &[(&[&str], u32, &str)] = &[
            (&[], 0, "green"),
            (&["D3"], 5, "green"),
            (&["D1", "D2"], 20, "yellow"),
            (&["A1"], 40, "red"),
            (&["A4", "C2"], 45, "red"),
            (&["A6", "A7"], 30, "yellow"),
            (&["E1", "E2"], 10, "green"),
            (&["B1", "B2", "C4"], 35, "yellow"),
            (&["A1", "A2", "A3", "C1"], 100, "red"),
        ];
        for (list, score, level) in cases {
            let s = rules.score(&codes(list));
            assert_eq!((s.score, s.level), (*score, *level), "{list:?}: {s:?}");
            assert_eq!(s.rule_version, "2021.1");
        }
    }

    #[test]
    fn each_indicator_alone_scores_its_points() {
        let rules = RiskRules::builtin();
        let expected = [
            ("A1", 40),
            ("A2", 40),
            ("A3", 40),
            ("A4", 25),
            ("A5", 25),
            ("A6", 15),
            ("A7", 30),
            ("B1", 15),
            ("B2", 10),
            ("C1", 20),
            ("C2", 10),
            ("C3", 10),
            ("C4", 10),
            ("C5", 10),
            ("D1", 10),
            ("D2", 10),
            ("D3", 5),
            ("E1", 5),
            ("E2", 10),
            ("F1", 15),
            ("X1", 10),
        ];
        assert_eq!(expected.len(), INDICATOR_CODES.len());
        for (code, points) in expected {
            let s = rules.score(&codes(&[code]));
            assert_eq!(s.score, points, "{code}");
            assert_eq!(s.reasons.len(), 1, "{code}: no bonus alone");
            let level = if points >= 40 {
                "red"
            } else if points >= 20 {
                "yellow"
            } else {
                "green"
            };
            assert_eq!(s.level, level, "{code}");
        }
    }

    #[test]
    fn level_boundaries() {
        let rules = RiskRules::builtin();
        let at = |list: &[&str]| {
            let s = rules.score(&codes(list));
            (s.score, s.level)
        };
        assert_eq!(at(&["B1"]), (15, "green"));
        assert_eq!(at(&["D3", "E1", "C2"]), (20, "yellow"));
        assert_eq!(at(&["B2", "C2", "C3", "D3"]), (35, "yellow"));
        assert_eq!(at(&["B2", "C2", "C3", "D3", "E1"]), (40, "red"));
        assert_eq!(at(&["B2", "C2", "C3", "D3", "E1", "C4"]), (50, "red"));
        // The bonus needs an equipment signal with a behaviour or tenancy one, not B.
        assert_eq!(at(&["A4", "B1"]), (40, "red"));
        assert_eq!(at(&["A4", "D3"]), (40, "red"));
        assert_eq!(at(&["A6", "B2"]), (25, "yellow"));
        assert_eq!(at(&["A6", "E1"]), (20, "yellow"));
    }

    #[test]
    fn reasons_explain_the_score() {
        let s = RiskRules::builtin().score(&codes(&["A6", "A7", "D2"]));
        let lines: Vec<(&str, u32)> = s
            .reasons
            .iter()
            .map(|r| (r.code.as_str(), r.points))
            .collect();
        assert_eq!(lines, [("A7", 30), ("D2", 10), ("COMBO", 10)]);
        assert_eq!(s.score, 50);
        assert!(s.reasons.iter().all(|r| !r.detail.is_empty()));
    }

    #[test]
    fn the_shipped_rules_file_is_the_builtin_table() {
        let text = include_str!("../../../rules/risk-2021.1.toml");
        let file: RiskRules = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        file.validate().unwrap();
        assert_eq!(
            serde_json::to_value(&file).unwrap(),
            serde_json::to_value(RiskRules::builtin()).unwrap()
        );
        let mut broken = file.clone();
        broken.indicators.pop();
        assert!(broken.validate().is_err());
    }

    #[test]
    fn every_checklist_code_has_a_weight() {
        let rules = RiskRules::builtin();
        for code in INDICATOR_CODES {
            assert!(rules.indicators.iter().any(|i| i.code == *code), "{code}");
        }
    }
}
