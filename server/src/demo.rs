//! `fangzha demo`: a demo township modelled on the user's notice, so a newcomer sees a
//! living system at once. Runs once per database; a second run changes nothing.

use rand::Rng;

use crate::db::{self, Pool};
use crate::services::accounts::{self, NewUser};
use crate::services::areas::{self, NewArea};

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
pub async fn load(pool: &Pool) -> anyhow::Result<()> {
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
        "演示镇「清溪镇」已创建：{} 个村(居)。账号与密码（只显示这一次，请妥善保存）：",
        VILLAGES.len()
    );
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
