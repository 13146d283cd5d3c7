//! The campaign's figures for one scope, computed from its records with the flag engine's own
//! rule readers (so a dashboard and a flag never disagree about a household), and summed up
//! the area tree. Pure: records in, numbers out.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::db::records::RecordRow;
use crate::domain::campaign::Campaign;
use crate::domain::registration;
use crate::flags::{date_of, fields_of, is_vacant, latest_inspection, member_facts, visited_since};
use crate::sync::hlc::Hlc;

/// What a dashboard shows for an area.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Households that should be registered and visited (vacant ones left out).
    pub households: u64,
    /// Households marked vacant.
    pub vacant: u64,
    /// Households registered or covered (statuses `registered` and `exempt`).
    pub registered: u64,
    /// Households with someone registered but not every smartphone holder.
    pub partial: u64,
    /// Households with nobody registered or covered.
    pub unregistered: u64,
    /// Households visited door to door since the campaign start.
    pub visited: u64,
    /// Rentals not closed.
    pub rentals: u64,
    /// Rentals with at least one inspection.
    pub inspected: u64,
    /// Tenants living there (no move-out), counted up to the occupants observed per rental.
    pub tenants_registered: u64,
    /// Occupants observed: the latest inspection's count, else the rental's, else its tenants.
    pub occupants_observed: u64,
    /// Active flags: kind → level → state → count.
    pub flags: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    /// Red fraud-risk flags still `new` past the review deadline.
    pub overdue_red: u64,
    /// Fraud-risk flags police confirmed as dens.
    pub dens_confirmed: u64,
    /// Red and yellow fraud-risk flags reviewed, or past their deadline unreviewed.
    pub reviews_due: u64,
    /// Of those, reviewed within the deadline.
    pub reviews_in_time: u64,
    /// Publicity counts.
    pub publicity: Publicity,
    /// Per day (`YYYY-MM-DD`): what was recorded that day.
    pub trend: BTreeMap<String, Day>,
}

/// Publicity items counted against the targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Publicity {
    /// Banners and fixed slogans.
    pub banners: u64,
    /// Publicity vehicle runs.
    pub vehicle_runs: u64,
    /// 村村响 broadcasts.
    pub broadcasts: u64,
    /// Red-paper slogans per residential compound (`compound`; unnamed ones under "").
    pub slogans_by_compound: BTreeMap<String, u64>,
    /// Every kind's total count.
    pub by_kind: BTreeMap<String, u64>,
}

/// One day's work.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Day {
    /// Door-to-door visits.
    pub visits: u64,
    /// Members registered on 金钟罩 (by their registration date).
    pub registrations: u64,
    /// Rental inspections.
    pub inspections: u64,
    /// Publicity items (their count).
    pub publicity: u64,
}

impl Figures {
    /// Adds another area's figures to these.
    pub fn add(&mut self, o: &Figures) {
        self.households += o.households;
        self.vacant += o.vacant;
        self.registered += o.registered;
        self.partial += o.partial;
        self.unregistered += o.unregistered;
        self.visited += o.visited;
        self.rentals += o.rentals;
        self.inspected += o.inspected;
        self.tenants_registered += o.tenants_registered;
        self.occupants_observed += o.occupants_observed;
        for (kind, levels) in &o.flags {
            for (level, states) in levels {
                for (state, n) in states {
                    *self
                        .flags
                        .entry(kind.clone())
                        .or_default()
                        .entry(level.clone())
                        .or_default()
                        .entry(state.clone())
                        .or_default() += n;
                }
            }
        }
        self.overdue_red += o.overdue_red;
        self.dens_confirmed += o.dens_confirmed;
        self.reviews_due += o.reviews_due;
        self.reviews_in_time += o.reviews_in_time;
        let p = &mut self.publicity;
        p.banners += o.publicity.banners;
        p.vehicle_runs += o.publicity.vehicle_runs;
        p.broadcasts += o.publicity.broadcasts;
        for (k, n) in &o.publicity.slogans_by_compound {
            *p.slogans_by_compound.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &o.publicity.by_kind {
            *p.by_kind.entry(k.clone()).or_default() += n;
        }
        for (date, d) in &o.trend {
            let day = self.trend.entry(date.clone()).or_default();
            day.visits += d.visits;
            day.registrations += d.registrations;
            day.inspections += d.inspections;
            day.publicity += d.publicity;
        }
    }
}

/// The figures of one scope from all its records (deleted ones are skipped here).
pub fn of_scope(rows: &[RecordRow], campaign: &Campaign, now_ms: i64) -> Figures {
    let live: Vec<&RecordRow> = rows.iter().filter(|r| !r.deleted).collect();
    // entity → parent id → live children.
    let mut children: HashMap<&str, HashMap<&str, Vec<RecordRow>>> = HashMap::new();
    for r in &live {
        if let Some(parent) = &r.parent_id {
            children
                .entry(r.entity.as_str())
                .or_default()
                .entry(parent.as_str())
                .or_default()
                .push((*r).clone());
        }
    }
    let none = Vec::new();
    let kids = |entity: &str, id: &str| {
        children
            .get(entity)
            .and_then(|m| m.get(id))
            .unwrap_or(&none)
    };
    let mut f = Figures::default();
    let start = campaign.dates.start.as_str();
    for r in &live {
        let fields = fields_of(r);
        match r.entity.as_str() {
            "household" => household(
                &mut f,
                &fields,
                kids("member", &r.id),
                kids("visit", &r.id),
                start,
            ),
            "rental" => rental(
                &mut f,
                &fields,
                kids("inspection", &r.id),
                kids("tenant", &r.id),
            ),
            "flag" => flag(&mut f, &fields, r, campaign, now_ms),
            "publicity" => publicity(&mut f, &fields),
            "member" => {
                if fields.get("jzz_registered").and_then(Value::as_bool) == Some(true)
                    && let Some(day) = fields.get("jzz_registered_on").and_then(Value::as_str)
                {
                    f.trend.entry(day.to_owned()).or_default().registrations += 1;
                }
            }
            "visit" => {
                if fields.get("kind").and_then(Value::as_str) == Some("door_to_door")
                    && let Some(day) = date_of(&fields, "visited_at")
                {
                    f.trend.entry(day).or_default().visits += 1;
                }
            }
            "inspection" => {
                if let Some(day) = date_of(&fields, "inspected_at") {
                    f.trend.entry(day).or_default().inspections += 1;
                }
            }
            _ => {}
        }
    }
    f
}

fn household(
    f: &mut Figures,
    fields: &Map<String, Value>,
    members: &[RecordRow],
    visits: &[RecordRow],
    start: &str,
) {
    if is_vacant(fields) {
        f.vacant += 1;
        return;
    }
    f.households += 1;
    match registration::status(&member_facts(members)) {
        "registered" | "exempt" => f.registered += 1,
        "partial" => f.partial += 1,
        _ => f.unregistered += 1,
    }
    if visited_since(visits, start) {
        f.visited += 1;
    }
}

fn rental(
    f: &mut Figures,
    fields: &Map<String, Value>,
    inspections: &[RecordRow],
    tenants: &[RecordRow],
) {
    if fields.get("status").and_then(Value::as_str) == Some("closed") {
        return;
    }
    f.rentals += 1;
    if !inspections.is_empty() {
        f.inspected += 1;
    }
    let living = tenants
        .iter()
        .filter(|t| fields_of(t).get("move_out").is_none_or(Value::is_null))
        .count() as u64;
    let observed = latest_inspection(inspections)
        .and_then(|i| i.get("occupants_observed")?.as_u64())
        .or_else(|| fields.get("occupants_observed")?.as_u64())
        .unwrap_or(living);
    f.occupants_observed += observed;
    f.tenants_registered += living.min(observed);
}

fn flag(
    f: &mut Figures,
    fields: &Map<String, Value>,
    row: &RecordRow,
    campaign: &Campaign,
    now_ms: i64,
) {
    let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or("");
    let (kind, level, state) = (text("kind"), text("level"), text("state"));
    if kind == "fraud_risk" && state == "confirmed" {
        f.dens_confirmed += 1;
    }
    if fields.get("active").and_then(Value::as_bool) != Some(true) {
        return;
    }
    *f.flags
        .entry(kind.to_owned())
        .or_default()
        .entry(level.to_owned())
        .or_default()
        .entry(state.to_owned())
        .or_default() += 1;
    if kind != "fraud_risk" || !matches!(level, "red" | "yellow") {
        return;
    }
    // When the level was set and when the state last changed, from their HLCs' wall time.
    let hlcs: Map<String, Value> = serde_json::from_str(&row.hlcs).unwrap_or_default();
    let at = |field: &str| {
        hlcs.get(field)
            .and_then(Value::as_str)
            .and_then(Hlc::parse)
            .map_or(0, |h| h.ms as i64)
    };
    let limit_ms = if level == "red" {
        i64::from(campaign.targets.red_review_hours) * 3_600_000
    } else {
        i64::from(campaign.targets.yellow_review_days) * 86_400_000
    };
    let raised = at("level");
    if state == "new" {
        if now_ms - raised > limit_ms {
            f.reviews_due += 1;
            if level == "red" {
                f.overdue_red += 1;
            }
        }
    } else {
        f.reviews_due += 1;
        if at("state") - raised <= limit_ms {
            f.reviews_in_time += 1;
        }
    }
}

fn publicity(f: &mut Figures, fields: &Map<String, Value>) {
    let kind = fields.get("kind").and_then(Value::as_str).unwrap_or("");
    let count = fields.get("count").and_then(Value::as_u64).unwrap_or(1);
    let p = &mut f.publicity;
    *p.by_kind.entry(kind.to_owned()).or_default() += count;
    match kind {
        "banner" | "slogan" => p.banners += count,
        "vehicle_run" => p.vehicle_runs += count,
        "broadcast" => p.broadcasts += count,
        "red_paper_slogan" => {
            let compound = fields
                .get("compound")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or("");
            *p.slogans_by_compound
                .entry(compound.to_owned())
                .or_default() += count;
        }
        _ => {}
    }
    if let Some(day) = fields.get("date").and_then(Value::as_str) {
        f.trend.entry(day.to_owned()).or_default().publicity += count;
    }
}
