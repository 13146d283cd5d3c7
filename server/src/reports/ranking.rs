//! The mid-June assessment: each village's figures against the campaign's targets, the
//! points they earn, bonus and penalty lines, total and rank — every step shown, so anyone
//! can redo the arithmetic. Pure.

use serde::Serialize;

use super::figures::Figures;
use crate::db::campaign::CaseRow;
use crate::domain::campaign::Campaign;

/// One scored line of a village.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Machine code: `registration_rate`, `visit_coverage`, …
    pub code: &'static str,
    /// Chinese label.
    pub label: &'static str,
    /// The figure (a fraction for rates, a share of sub-targets met for publicity);
    /// `None` when there was nothing to count (full points).
    pub value: Option<f64>,
    /// The target it is measured against.
    pub target: f64,
    /// Points when the target is met.
    pub weight: f64,
    /// Points earned: weight × min(value ÷ target, 1), rounded to 2 decimals.
    pub points: f64,
    /// The counts behind the figure, in words.
    pub detail: String,
}

/// A bonus or penalty line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adjustment {
    pub code: &'static str,
    pub label: &'static str,
    /// How many times it applies.
    pub count: u64,
    /// Points per occurrence (negative for penalties).
    pub each: f64,
    /// count × each.
    pub points: f64,
}

/// One village's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// 1 = best; equal totals share a rank (1, 1, 3).
    pub rank: usize,
    pub village_id: String,
    pub village_name: String,
    pub lines: Vec<Line>,
    pub bonuses: Vec<Adjustment>,
    pub penalties: Vec<Adjustment>,
    /// Sum of the lines' points plus bonuses plus penalties, rounded to 2 decimals.
    pub total: f64,
}

/// Ranks villages; `villages` gives (id, name, figures) and `cases` every fraud case report.
pub fn rank(
    villages: &[(String, String, Figures)],
    cases: &[CaseRow],
    c: &Campaign,
) -> Vec<Ranked> {
    let mut out: Vec<Ranked> = villages
        .iter()
        .map(|(id, name, f)| score(id, name, f, cases, c))
        .collect();
    out.sort_by(|a, b| {
        b.total
            .total_cmp(&a.total)
            .then_with(|| a.village_name.cmp(&b.village_name))
    });
    for i in 0..out.len() {
        out[i].rank = if i > 0 && out[i].total == out[i - 1].total {
            out[i - 1].rank
        } else {
            i + 1
        };
    }
    out
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A rate line: `part ÷ whole` against `target`; nothing to count earns full points.
fn rate(
    code: &'static str,
    label: &'static str,
    part: u64,
    whole: u64,
    target: f64,
    weight: f64,
    what: &str,
) -> Line {
    if whole == 0 {
        return Line {
            code,
            label,
            value: None,
            target,
            weight,
            points: round2(weight),
            detail: format!("无{what}，按达标计"),
        };
    }
    let value = part as f64 / whole as f64;
    Line {
        code,
        label,
        value: Some(value),
        target,
        weight,
        points: round2(weight * (value / target).min(1.0)),
        detail: format!("{part} / {whole} = {}，目标 {}", pct(value), pct(target)),
    }
}

fn score(id: &str, name: &str, f: &Figures, cases: &[CaseRow], c: &Campaign) -> Ranked {
    let (t, w) = (&c.targets, &c.weights);
    let mut lines = vec![
        rate(
            "registration_rate",
            "金钟罩注册率（已注册或亲属覆盖的户数 ÷ 总户数）",
            f.registered,
            f.households,
            t.registration_rate,
            w.registration_rate,
            "应登记住户",
        ),
        rate(
            "visit_coverage",
            "入户走访覆盖率",
            f.visited,
            f.households,
            t.visit_coverage,
            w.visit_coverage,
            "应走访住户",
        ),
        rate(
            "sweep_coverage",
            "出租房排查率",
            f.inspected,
            f.rentals,
            t.sweep_coverage,
            w.sweep_coverage,
            "出租房",
        ),
        rate(
            "tenant_registration",
            "租住人员登记率（已登记 ÷ 实住人数）",
            f.tenants_registered,
            f.occupants_observed,
            t.tenant_registration,
            w.tenant_registration,
            "租住人员",
        ),
    ];

    // Publicity: four sub-targets, each met or not.
    let p = &f.publicity;
    let compounds = p.slogans_by_compound.len();
    let compounds_met = p
        .slogans_by_compound
        .values()
        .filter(|n| **n >= u64::from(t.slogans_per_compound))
        .count();
    let subs = [
        (
            p.banners >= u64::from(t.banners),
            format!("横幅/固定标语 {} 条（目标 ≥{}）", p.banners, t.banners),
        ),
        (
            compounds > 0 && compounds_met == compounds,
            format!(
                "红纸标语达标小区 {compounds_met}/{compounds}（每小区目标 ≥{} 张）",
                t.slogans_per_compound
            ),
        ),
        (
            p.vehicle_runs >= u64::from(t.vehicle_runs),
            format!("宣传车 {} 次（目标 ≥{}）", p.vehicle_runs, t.vehicle_runs),
        ),
        (
            p.broadcasts >= u64::from(t.broadcasts),
            format!("村村响广播 {} 次（目标 ≥{}）", p.broadcasts, t.broadcasts),
        ),
    ];
    let met = subs.iter().filter(|(ok, _)| *ok).count();
    let share = met as f64 / subs.len() as f64;
    lines.push(Line {
        code: "publicity",
        label: "宣传任务完成情况",
        value: Some(share),
        target: 1.0,
        weight: w.publicity,
        points: round2(w.publicity * share),
        detail: format!(
            "完成 {met}/4 项：{}",
            subs.iter()
                .map(|(ok, d)| format!("{}{d}", if *ok { "✔" } else { "✘" }))
                .collect::<Vec<_>>()
                .join("；")
        ),
    });
    lines.push(rate(
        "flags_in_time",
        "风险提示按时核查率",
        f.reviews_in_time,
        f.reviews_due,
        1.0,
        w.flags_in_time,
        "到期的风险提示",
    ));

    let case_count: i64 = cases
        .iter()
        .filter(|k| k.village_id == id)
        .map(|k| k.cases)
        .sum();
    let adjust = |code, label, count: u64, each: f64| Adjustment {
        code,
        label,
        count,
        each,
        points: round2(count as f64 * each),
    };
    let bonuses: Vec<Adjustment> = [adjust(
        "den_found",
        "查实涉诈窝点",
        f.dens_confirmed,
        c.bonus_per_den,
    )]
    .into_iter()
    .filter(|a| a.count > 0)
    .collect();
    let penalties: Vec<Adjustment> = [
        adjust(
            "overdue_red",
            "红色风险超时未核查",
            f.overdue_red,
            -c.penalty_per_overdue_red,
        ),
        adjust(
            "fraud_case",
            "本村居民被骗案件",
            case_count.max(0) as u64,
            -c.penalty_per_case,
        ),
    ]
    .into_iter()
    .filter(|a| a.count > 0)
    .collect();
    // Folded from +0.0 (an empty f64 sum is −0.0).
    let total = round2(
        lines
            .iter()
            .map(|l| l.points)
            .chain(bonuses.iter().chain(&penalties).map(|a| a.points))
            .fold(0.0, |t, p| t + p),
    );
    Ranked {
        rank: 0,
        village_id: id.to_owned(),
        village_name: name.to_owned(),
        lines,
        bonuses,
        penalties,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(village: &str, cases: i64) -> CaseRow {
        CaseRow {
            id: 1,
            village_id: village.into(),
            period: "2021-05".into(),
            cases,
            victims: cases,
            suspects: 0,
            loss_yuan: 10_000,
            notes: None,
            created_by: "u".into(),
            created_at_ms: 0,
        }
    }

    /// A village worked through by hand with the default weights (30/20/20/10/10/10).
    #[test]
    fn hand_computed_example() {
        let c = Campaign::defaults("2021-05-10");
        let mut f = Figures {
            households: 100,
            registered: 76,
            visited: 100,
            rentals: 10,
            inspected: 5,
            tenants_registered: 18,
            occupants_observed: 20,
            overdue_red: 1,
            dens_confirmed: 1,
            reviews_due: 4,
            reviews_in_time: 3,
            ..Figures::default()
        };
        f.publicity.banners = 2;
        f.publicity.vehicle_runs = 0;
        f.publicity.broadcasts = 3;
        f.publicity.slogans_by_compound.insert("幸福小区".into(), 5);
        f.publicity.slogans_by_compound.insert("和谐小区".into(), 4);
        let ranked = rank(
            &[("v1".into(), "东村".into(), f)],
            &[case("v1", 2), case("v2", 9)],
            &c,
        );
        let r = &ranked[0];
        let points: Vec<f64> = r.lines.iter().map(|l| l.points).collect();
        // 30 × 0.76/0.95 = 24; 20 × 1; 20 × 0.5; 10 × min(0.9/0.95, 1) = 9.47;
        // publicity 2 of 4 (banners, broadcasts) = 5; flags 10 × 3/4 = 7.5.
        assert_eq!(points, [24.0, 20.0, 10.0, 9.47, 5.0, 7.5]);
        assert_eq!(r.bonuses[0].points, 5.0);
        // One overdue red (−2), two cases in this village (−3 each); v2's cases not ours.
        let pen: Vec<(&str, f64)> = r.penalties.iter().map(|a| (a.code, a.points)).collect();
        assert_eq!(pen, [("overdue_red", -2.0), ("fraud_case", -6.0)]);
        assert_eq!(r.total, 72.97); // 75.97 + 5 − 2 − 6
        assert_eq!(r.rank, 1);
        assert!(
            r.lines[4].detail.contains("完成 2/4 项"),
            "{}",
            r.lines[4].detail
        );
    }

    #[test]
    fn nothing_to_count_earns_full_points_and_ties_share_a_rank() {
        let c = Campaign::defaults("2021-05-10");
        let empty = Figures::default();
        let mut better = Figures::default();
        better.publicity.banners = 2;
        let ranked = rank(
            &[
                ("a".into(), "甲村".into(), empty.clone()),
                ("b".into(), "乙村".into(), better),
                ("c".into(), "丙村".into(), empty),
            ],
            &[],
            &c,
        );
        let order: Vec<(&str, usize)> = ranked
            .iter()
            .map(|r| (r.village_id.as_str(), r.rank))
            .collect();
        assert_eq!(order, [("b", 1), ("c", 2), ("a", 2)]);
        let a = ranked.iter().find(|r| r.village_id == "a").unwrap();
        assert_eq!(a.lines[0].value, None);
        assert_eq!(a.lines[0].points, 30.0);
        assert_eq!(a.total, 30.0 + 20.0 + 20.0 + 10.0 + 0.0 + 10.0);
    }
}
