//! `fangzha demo`: a demo township modelled on the user's notice, so a newcomer sees a
//! living system at once. Runs once per database; a second run changes nothing.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::db::records::SeqAllocator;
use crate::db::{self, DbConn, Pool, now_ms};
use crate::domain::identity::id_check_char;
use crate::error::ApiResult;
use crate::services::accounts::{self, NewUser};
use crate::services::areas::{self, NewArea};
use crate::sync::SyncContext;
use crate::sync::merge::Op;
use crate::sync::write::{self, Target, Writer};

/// The demo township's area id.
pub const TOWNSHIP_ID: &str = "demo-town";

/// Villages (村/社区) and how many grids each has.
const VILLAGES: [(&str, &str, usize); 4] = [
    ("demo-dongshan", "东山村", 3),
    ("demo-xiling", "西岭村", 2),
    ("demo-nantang", "南塘社区", 4),
    ("demo-beiping", "北坪村", 2),
];

const GRID_NAMES: [&str; 4] = ["第一网格", "第二网格", "第三网格", "第四网格"];

/// Creates the demo areas and accounts and prints the accounts' passwords.
pub async fn load(pool: &Pool, sync: Arc<SyncContext>) -> anyhow::Result<()> {
    let exists = db::run(pool, |conn| Ok(db::areas::get(conn, TOWNSHIP_ID)?))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if exists.is_some() {
        println!("演示数据已存在，未做改动 (demo data already loaded; nothing changed)");
        return Ok(());
    }
    db::run_tx(pool, |conn| {
        areas::create(conn, area(TOWNSHIP_ID, "清溪镇", "township", None), None)?;
        for (vid, vname, grids) in VILLAGES {
            areas::create(conn, area(vid, vname, "village", Some(TOWNSHIP_ID)), None)?;
            for (i, gname) in GRID_NAMES.iter().take(grids).enumerate() {
                // Grid names repeat across villages; the village prefix keeps lists unambiguous.
                let mut grid = area(
                    &grid_id(vid, i),
                    &format!("{vname}{gname}"),
                    "grid",
                    Some(vid),
                );
                grid.wechat_group = Some(format!("{vname}{gname}反诈群"));
                areas::create(conn, grid, None)?;
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let counts = db::run_tx(pool, move |conn| generate_records(conn, &sync))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let village_ids: Vec<String> = VILLAGES.iter().map(|v| v.0.to_owned()).collect();
    let accounts: [(&str, &str, &str, Vec<String>); 5] = [
        (
            "admin",
            "镇综治办 李明",
            "admin",
            vec![TOWNSHIP_ID.to_owned()],
        ),
        (
            "cadre",
            "东山村 王秀英",
            "cadre",
            vec![VILLAGES[0].0.to_owned()],
        ),
        (
            "grid",
            "网格员 张伟",
            "grid_worker",
            vec![grid_id(VILLAGES[0].0, 0), grid_id(VILLAGES[0].0, 1)],
        ),
        ("police", "辖区民警 刘洋", "police", village_ids),
        (
            "viewer",
            "领导小组 陈静",
            "viewer",
            vec![TOWNSHIP_ID.to_owned()],
        ),
    ];
    println!(
        "演示镇「清溪镇」已创建：{} 个村(居)，{} 户、{} 名成员、{} 处出租房、{} 名租客、{} 次排查，{} 条提示。",
        VILLAGES.len(),
        counts.households,
        counts.members,
        counts.rentals,
        counts.tenants,
        counts.inspections,
        counts.flags
    );
    println!("账号与密码（只显示这一次，请妥善保存）：");
    println!("{:<10} {:<16} {:<12} 密码", "用户名", "姓名", "角色");
    for (username, name, role, area_ids) in accounts {
        let password = random_password();
        accounts::create(
            pool,
            NewUser {
                username: username.to_owned(),
                password: password.clone(),
                name: Some(name.to_owned()),
                role: role.to_owned(),
                areas: area_ids,
            },
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("{username:<10} {name:<16} {role:<12} {password}");
    }
    Ok(())
}

fn grid_id(village_id: &str, index: usize) -> String {
    format!("{village_id}-g{}", index + 1)
}

fn area(id: &str, name: &str, level: &str, parent: Option<&str>) -> NewArea {
    NewArea {
        id: Some(id.to_owned()),
        name: name.to_owned(),
        level: level.to_owned(),
        parent_id: parent.map(str::to_owned),
        boundary: None,
        qr_link: None,
        wechat_group: None,
    }
}

/// 12 characters without look-alikes (no 0/O, 1/l/I), easy to read out over the phone.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// How many records the demo generated.
#[derive(Default)]
struct Counts {
    households: usize,
    members: usize,
    rentals: usize,
    tenants: usize,
    inspections: usize,
    flags: usize,
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "谢", "唐", "邓", "彭", "曾",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "志强", "玉兰", "海燕", "红梅",
    "晓东", "文",
];
const OCCUPATIONS: &[&str] = &[
    "务工",
    "快递员",
    "个体经营",
    "厨师",
    "学生",
    "无业",
    "销售",
    "司机",
];
const RELATIONS: &[&str] = &["配偶", "子女", "父母", "孙子女", "兄弟姐妹"];

/// Households with members, rentals with tenants and a few inspections in every grid,
/// written through the sync engine as server changes (node `server`), as the flag engine
/// and imports will write.
fn generate_records(conn: &mut DbConn, sync: &SyncContext) -> ApiResult<Counts> {
    let mut rng = StdRng::seed_from_u64(20_210_518);
    let mut seqs = SeqAllocator::default();
    let mut counts = Counts::default();
    let now = now_ms();
    let writer = Writer {
        user_id: None,
        client_id: "server",
        mid: None,
    };
    let put = |conn: &mut DbConn,
               seqs: &mut SeqAllocator,
               entity: &'static str,
               scope: &str,
               fields: Value|
     -> ApiResult<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let fields: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
        let hlc = sync.tick(now);
        write::apply(
            conn,
            seqs,
            &sync.cipher,
            None,
            Target {
                entity,
                id: &id,
                scope,
            },
            &Op::Put(fields),
            &hlc,
            writer,
            now,
        )?;
        Ok(id)
    };
    for (vid, vname, grids) in VILLAGES {
        for g in 0..grids {
            let scope = grid_id(vid, g);
            for door in 1..=25 {
                let group = rng.random_range(1..=6);
                let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
                let head = format!("{surname}{}", GIVEN[rng.random_range(0..GIVEN.len())]);
                let kind = [
                    "registered",
                    "registered",
                    "registered",
                    "resident",
                    "rental",
                    "vacant",
                ][rng.random_range(0..6)];
                let household = put(
                    conn,
                    &mut seqs,
                    "household",
                    &scope,
                    json!({
                        "address": format!("{vname}{group}组{}号", g * 100 + door),
                        "group_name": format!("{group}组"),
                        "head_name": head,
                        "kind": kind,
                        "lat": 27.9 + rng.random_range(0.0..0.1),
                        "lng": 110.6 + rng.random_range(0.0..0.1),
                        "leaflet_delivered": rng.random_bool(0.6),
                    }),
                )?;
                counts.households += 1;
                if kind == "vacant" {
                    continue;
                }
                let mut first_member: Option<String> = None;
                for i in 0..rng.random_range(1..=5) {
                    let name = if i == 0 {
                        head.clone()
                    } else {
                        format!("{surname}{}", GIVEN[rng.random_range(0..GIVEN.len())])
                    };
                    let year = if i == 0 {
                        rng.random_range(1945..1985)
                    } else {
                        rng.random_range(1940..2016)
                    };
                    let smartphone = year > 1950 && year < 2012 && rng.random_bool(0.8);
                    let registered = smartphone && rng.random_bool(0.55);
                    let mut fields = json!({
                        "household_id": household,
                        "name": name,
                        "id_type": "resident_id",
                        "id_number": id_number(&mut rng, year),
                        "relation": if i == 0 { "户主" } else { RELATIONS[rng.random_range(0..RELATIONS.len())] },
                        "living_at_home": rng.random_bool(0.75),
                        "has_smartphone": smartphone,
                        "jzz_registered": registered,
                        "wechat_group_joined": smartphone && rng.random_bool(0.5),
                        "vulnerable": year < 1956 && rng.random_bool(0.4),
                    });
                    if smartphone {
                        fields["phone"] = json!(phone(&mut rng));
                    }
                    if registered {
                        fields["jzz_verified_by"] = json!(
                            ["self_report", "seen_on_phone", "police_list"][rng.random_range(0..3)]
                        );
                        fields["jzz_registered_on"] =
                            json!(format!("2021-05-{:02}", rng.random_range(10..29)));
                    }
                    if !smartphone
                        && let Some(first) = &first_member
                        && rng.random_bool(0.5)
                    {
                        fields["covered_by"] = json!(first);
                    }
                    let member = put(conn, &mut seqs, "member", &scope, fields)?;
                    first_member.get_or_insert(member);
                    counts.members += 1;
                }
            }
            for n in 1..=5 {
                let daily = rng.random_bool(0.2);
                let rooms = rng.random_range(1..=8);
                let observed = rng.random_range(1..=rooms + 3);
                let landlord = format!(
                    "{}{}",
                    SURNAMES[rng.random_range(0..SURNAMES.len())],
                    GIVEN[rng.random_range(0..GIVEN.len())]
                );
                let rental = put(
                    conn,
                    &mut seqs,
                    "rental",
                    &scope,
                    json!({
                        "address": format!("{vname}新街{}号", g * 10 + n),
                        "landlord_name": landlord,
                        "landlord_phone": phone(&mut rng),
                        "landlord_on_site": rng.random_bool(0.5),
                        "rooms": rooms,
                        "rent_mode": if daily { "daily" } else if rng.random_bool(0.2) { "short" } else { "long" },
                        "payment": if rng.random_bool(0.4) { "cash" } else { "transfer" },
                        "written_contract": rng.random_bool(0.6),
                        "occupants_observed": observed,
                        "status": "let",
                    }),
                )?;
                counts.rentals += 1;
                for _ in 0..rng.random_range(1..=observed.min(4)) {
                    let year = rng.random_range(1975..2004);
                    put(
                        conn,
                        &mut seqs,
                        "tenant",
                        &scope,
                        json!({
                            "rental_id": rental,
                            "name": format!("{}{}", SURNAMES[rng.random_range(0..SURNAMES.len())], GIVEN[rng.random_range(0..GIVEN.len())]),
                            "id_type": "resident_id",
                            "id_number": id_number(&mut rng, year),
                            "phone": phone(&mut rng),
                            "move_in": format!("202{}-{:02}-{:02}", rng.random_range(0..2), rng.random_range(1..13), rng.random_range(1..29)),
                            "occupation": OCCUPATIONS[rng.random_range(0..OCCUPATIONS.len())],
                        }),
                    )?;
                    counts.tenants += 1;
                }
                if rng.random_bool(0.5) {
                    let pool = ["A4", "A6", "B2", "C2", "C3", "C4", "D3", "E1"];
                    let indicators: Vec<&str> = pool
                        .iter()
                        .copied()
                        .filter(|_| rng.random_bool(0.15))
                        .collect();
                    put(
                        conn,
                        &mut seqs,
                        "inspection",
                        &scope,
                        json!({
                            "rental_id": rental,
                            "indicators": indicators,
                            "occupants_observed": observed,
                            "inspected_at": format!("2021-06-{:02}T10:00:00+08:00", rng.random_range(1..15)),
                            "notes": "扫楼排查",
                        }),
                    )?;
                    counts.inspections += 1;
                }
            }
        }
    }
    seqs.finish(conn)?;
    counts.flags = crate::flags::recompute_all(conn, sync, now)?;
    Ok(counts)
}

/// A valid resident ID number from a Hunan county code, born in `year`.
fn id_number(rng: &mut StdRng, year: i32) -> String {
    let first17 = format!(
        "431224{year:04}{:02}{:02}{:03}",
        rng.random_range(1..=12),
        rng.random_range(1..=28),
        rng.random_range(1..1000)
    );
    format!("{first17}{}", id_check_char(&first17))
}

/// A mainland mobile number.
fn phone(rng: &mut StdRng) -> String {
    format!(
        "1{}{:09}",
        rng.random_range(3..=9),
        rng.random_range(0..1_000_000_000u32)
    )
}
