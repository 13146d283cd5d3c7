//! Imports: household rosters (CSV, XLSX, GBK), grid boundaries (GeoJSON), accounts (CSV),
//! all or nothing, as background jobs polled over HTTP; and `fangzha import`.

use std::time::Duration;

use fangzha::db::records;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

/// A valid resident ID number from 17 digits.
pub(crate) fn id_number(first17: &str) -> String {
    format!(
        "{first17}{}",
        fangzha::domain::identity::id_check_char(first17)
    )
}

/// Uploads a file for an import; returns the response.
pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    kind: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/admin/imports/{kind}{query}")))
        .bearer_auth(token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("request")
}

/// Uploads a file and waits for its job to end; returns the finished job.
pub(crate) async fn import(
    app: &TestApp,
    token: &str,
    kind: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Value {
    let resp = upload(app, token, kind, query, content_type, body).await;
    assert_eq!(resp.status(), 202, "upload accepted");
    let job: Value = resp.json().await.unwrap();
    assert_eq!(job["state"], "running");
    wait(app, token, job["id"].as_str().unwrap()).await
}

/// Polls a job until it is no longer running.
pub(crate) async fn wait(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..2400 {
        let job = app
            .get_json(&format!("/api/admin/imports/{id}"), Some(token))
            .await;
        if job["state"] != "running" {
            return job;
        }
        assert!(job["processed"].as_u64().unwrap() <= job["total"].as_u64().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("import {id} did not finish in 2 minutes");
}

/// Live records of an entity in a scope.
pub(crate) fn live(app: &TestApp, entity: &str, scope: &str) -> Vec<records::RecordRow> {
    let mut conn = app.pool.get().unwrap();
    records::live_of_entity(&mut conn, entity, scope).unwrap()
}

fn fields(row: &records::RecordRow) -> Value {
    serde_json::from_str(&row.fields).unwrap()
}

/// Admin token, (village, grid) of 东山村/第一网格, and a second grid 第二网格.
pub(crate) async fn setup(app: &TestApp) -> (String, String, String, String) {
    let admin = app.admin_token().await;
    let (_, village, grid) = app.area_tree(&admin).await;
    let grid2 = app.add_grid(&admin, &village, "第二网格").await;
    (admin, village, grid, grid2)
}

const CSV_TYPE: &str = "text/csv";
const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A roster in Chinese headers: two households in two grids, the first unregistered.
pub(crate) fn roster_csv() -> String {
    let a = id_number("11010519800101123");
    let b = id_number("11010519820202124");
    let c = id_number("11010519900303125");
    format!(
        "户主姓名,姓名,身份证号,联系电话,住址,村,组,网格,与户主关系,智能手机,金钟罩\n\
         张三,张三,{a},13812345678,幸福路 12 号,东山村,一组,第一网格,本人,是,否\n\
         张三,李梅,{b},13912345678,幸福路 12 号,东山村,一组,第一网格,妻子,是,否\n\
         王五,王五,{c},13712345678,和平街 3 号,东山村,二组,第二网格,本人,是,是\n"
    )
}

#[tokio::test]
async fn a_good_csv_creates_households_members_and_their_flags() {
    let app = spawn_app().await;
    let (admin, _, grid, grid2) = setup(&app).await;
    let job = import(
        &app,
        &admin,
        "households",
        "",
        CSV_TYPE,
        roster_csv().into_bytes(),
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["created"], json!({"households": 2, "members": 3}));
    assert_eq!(job["processed"], 3);
    assert_eq!(job["total"], 3);
    assert_eq!(job["errors"], json!([]));

    let households = live(&app, "household", &grid);
    assert_eq!(households.len(), 1);
    let h = fields(&households[0]);
    assert_eq!(h["address"], "幸福路 12 号");
    assert_eq!(h["head_name"], "张三");
    assert_eq!(h["group_name"], "一组");
    assert_eq!(live(&app, "member", &grid).len(), 2);
    assert_eq!(live(&app, "household", &grid2).len(), 1);

    // Flags computed in the same transaction: the first household is unregistered.
    let flags = live(&app, "flag", &grid);
    let unregistered = flags
        .iter()
        .map(fields)
        .find(|f| f["kind"] == "unregistered_household")
        .expect("unregistered_household flag");
    assert_eq!(unregistered["subject_id"], households[0].id.as_str());
    assert_eq!(unregistered["status"], "unregistered");
    assert_eq!(unregistered["active"], true);
    // The registered household raises none (a flag is created only when its rule fires).
    assert!(
        !live(&app, "flag", &grid2)
            .iter()
            .map(fields)
            .any(|f| f["kind"] == "unregistered_household")
    );

    // The history names the admin who imported; ID numbers are stored encrypted.
    let admin_id = app.login("admin", "admin-password-1").await["user"]["id"].clone();
    let mut conn = app.pool.get().unwrap();
    let history = records::history(&mut conn, &households[0].id).unwrap();
    assert!(!history.is_empty());
    assert!(
        history
            .iter()
            .all(|h| h.user_id.as_deref() == admin_id.as_str())
    );
    let member = &live(&app, "member", &grid)[0];
    assert!(!member.fields.contains("11010519"), "ID stored encrypted");
}

#[tokio::test]
async fn a_good_xlsx_with_chinese_headers_imports_and_locates_rows_by_boundary() {
    let app = spawn_app().await;
    let (admin, village, grid, _) = setup(&app).await;
    // A grid with a boundary: rows without a 网格 cell are placed by their coordinates.
    let resp = app
        .post(
            "/api/admin/areas",
            &json!({"name": "第三网格", "level": "grid", "parent_id": village,
                    "boundary": {"type": "Polygon", "coordinates": [[[112.0, 28.0], [112.1, 28.0], [112.1, 28.1], [112.0, 28.1], [112.0, 28.0]]]}}),
            Some(&admin),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let grid3 = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let headers = [
        "户主",
        "姓名",
        "身份证号码",
        "手机号",
        "地址",
        "村(居)",
        "村民小组",
        "网格",
        "与户主关系",
        "智能手机",
        "已注册金钟罩",
        "经度",
        "纬度",
    ];
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let id = id_number("43012419750505001");
    let rows: Vec<Vec<&str>> = vec![
        vec![
            "赵六",
            "赵六",
            &id,
            "",
            "东山村 8 号",
            "东山村",
            "三组",
            "第一网格",
            "本人",
            "是",
            "是",
        ],
        vec![
            "钱七",
            "钱七",
            "",
            "",
            "东山村 9 号",
            "东山村",
            "三组",
            "",
            "本人",
            "否",
            "否",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
    // Phone typed as a number, coordinates as numbers.
    sheet.write_number(1, 3, 13600001111.0).unwrap();
    sheet.write_number(2, 11, 112.05).unwrap();
    sheet.write_number(2, 12, 28.05).unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let job = import(&app, &admin, "households", "", XLSX_TYPE, bytes).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["created"], json!({"households": 2, "members": 2}));
    let first = live(&app, "member", &grid);
    assert_eq!(fields(&first[0])["has_smartphone"], true);
    assert_eq!(fields(&first[0])["jzz_registered"], true);
    let located = live(&app, "household", &grid3);
    assert_eq!(located.len(), 1, "placed by its coordinates");
    assert_eq!(fields(&located[0])["lng"], 112.05);
}

#[tokio::test]
async fn bad_rows_are_reported_by_row_and_column_and_nothing_is_written() {
    let app = spawn_app().await;
    let (admin, _, grid, _) = setup(&app).await;
    let good = import(
        &app,
        &admin,
        "households",
        "",
        CSV_TYPE,
        roster_csv().into_bytes(),
    )
    .await;
    assert_eq!(good["state"], "done");
    let before = (
        live(&app, "household", &grid).len(),
        live(&app, "member", &grid).len(),
        live(&app, "flag", &grid).len(),
    );

    let ok = id_number("11010519700707777");
    let csv = format!(
        "户主姓名,姓名,身份证号,联系电话,住址,网格,智能手机\n\
         孙八,孙八,{ok},13812340000,新村 1 号,第一网格,是\n\
         孙八,孙九,110105194912310021,13812340001,新村 1 号,第一网格,是\n\
         周十,周十,,1381234,新村 2 号,第一网格,也许\n\
         吴一,吴一,,,新村 3 号,,是\n\
         郑二,郑二,,,新村 4 号,第九网格,是\n"
    );
    let job = import(&app, &admin, "households", "", CSV_TYPE, csv.into_bytes()).await;
    assert_eq!(job["state"], "rejected", "{job}");
    let errors = job["errors"].as_array().unwrap();
    let at = |row: u64, column: &str| {
        errors
            .iter()
            .find(|e| e["row"] == row && e["column"] == column)
            .unwrap_or_else(|| panic!("no error at row {row} column {column}: {errors:?}"))
    };
    let id_err = at(3, "身份证号");
    assert_eq!(id_err["code"], "invalid_value");
    assert!(
        id_err["message"]
            .as_str()
            .unwrap()
            .starts_with("第 3 行「身份证号」")
    );
    at(4, "联系电话");
    at(4, "智能手机");
    assert_eq!(at(5, "网格")["code"], "missing_grid");
    assert_eq!(at(6, "网格")["code"], "unknown_area");
    assert_eq!(errors.len(), 5, "{errors:?}");

    let after = (
        live(&app, "household", &grid).len(),
        live(&app, "member", &grid).len(),
        live(&app, "flag", &grid).len(),
    );
    assert_eq!(before, after, "nothing of the rejected file was written");
}

#[tokio::test]
async fn a_gbk_csv_imports_and_a_reimport_does_not_duplicate() {
    let app = spawn_app().await;
    let (admin, _, grid, grid2) = setup(&app).await;
    let text = roster_csv();
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    let job = import(&app, &admin, "households", "", CSV_TYPE, gbk.to_vec()).await;
    assert_eq!(job["state"], "done", "{job}");
    let ids: Vec<String> = live(&app, "household", &grid)
        .into_iter()
        .map(|r| r.id)
        .collect();
    let seq = live(&app, "household", &grid)[0].seq;

    // The same file again, as UTF-8 with a BOM this time: nothing new, nothing rewritten.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(roster_csv().as_bytes());
    let again = import(
        &app,
        &admin,
        "households",
        "?format=csv",
        "application/octet-stream",
        bom,
    )
    .await;
    assert_eq!(again["state"], "done", "{again}");
    assert_eq!(again["created"], json!({"households": 0, "members": 0}));
    assert_eq!(again["unchanged"], json!({"households": 2, "members": 3}));
    let rows = live(&app, "household", &grid);
    assert_eq!(rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(rows[0].seq, seq, "an unchanged household is not rewritten");
    assert_eq!(live(&app, "member", &grid).len(), 2);
    assert_eq!(live(&app, "member", &grid2).len(), 1);

    // A changed phone updates the member in place.
    let changed = roster_csv().replace("13912345678", "13900000000");
    let third = import(
        &app,
        &admin,
        "households",
        "",
        CSV_TYPE,
        changed.into_bytes(),
    )
    .await;
    assert_eq!(third["updated"], json!({"households": 0, "members": 1}));
    assert_eq!(live(&app, "member", &grid).len(), 2);
}

#[tokio::test]
async fn a_ten_thousand_row_xlsx_completes() {
    let app = spawn_app().await;
    let (admin, _, _, _) = setup(&app).await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in [
        "户主姓名",
        "姓名",
        "身份证号",
        "联系电话",
        "住址",
        "网格",
        "智能手机",
        "金钟罩",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let n = 10_000u32;
    for i in 0..n {
        let r = i + 1;
        let household = i / 4;
        let day = 1 + (i % 28);
        let first17 = format!(
            "4301241980{:02}{:02}{:03}",
            1 + (i / 1000) % 12,
            day,
            i % 1000
        );
        let grid = if household % 2 == 0 {
            "第一网格"
        } else {
            "第二网格"
        };
        sheet
            .write_string(r, 0, format!("户主{household}"))
            .unwrap();
        sheet.write_string(r, 1, format!("成员{i}")).unwrap();
        sheet.write_string(r, 2, id_number(&first17)).unwrap();
        sheet.write_string(r, 3, format!("138{:08}", i)).unwrap();
        sheet
            .write_string(r, 4, format!("长寿路 {household} 号"))
            .unwrap();
        sheet.write_string(r, 5, grid).unwrap();
        sheet.write_string(r, 6, "是").unwrap();
        sheet
            .write_string(r, 7, if i % 3 == 0 { "是" } else { "否" })
            .unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let job = import(&app, &admin, "households", "", XLSX_TYPE, bytes).await;
    assert_eq!(
        job["state"],
        "done",
        "{}",
        &job.to_string()[..job.to_string().len().min(2000)]
    );
    assert_eq!(
        job["created"],
        json!({"households": 2500, "members": 10_000})
    );
    assert_eq!(job["total"], 10_000);

    // And the whole roster exports back, every full-value delivery logged.
    let resp = app.get("/api/exports/members.csv", Some(&admin)).await;
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    let lines = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, 1 + 10_000);
    let mut conn = app.pool.get().unwrap();
    let logged = fangzha::db::personal::recent_access(&mut conn, 20_000)
        .unwrap()
        .into_iter()
        .filter(|a| a.purpose == "export")
        .count();
    assert_eq!(logged, 10_000);
}

#[tokio::test]
async fn boundaries_from_geojson_create_and_then_update_grids() {
    let app = spawn_app().await;
    let (admin, village, grid, _) = setup(&app).await;
    // A household with a location, filed in 第一网格, inside the new grid's polygon.
    let csv = "姓名,住址,网格,经度,纬度\n陈一,南街 1 号,第一网格,112.02,28.02\n";
    let job = import(&app, &admin, "households", "", CSV_TYPE, csv.into()).await;
    assert_eq!(job["state"], "done", "{job}");

    let square = |d: f64| json!({"type": "Polygon", "coordinates": [[[112.0, 28.0], [112.0 + d, 28.0], [112.0 + d, 28.0 + d], [112.0, 28.0 + d], [112.0, 28.0]]]});
    let doc = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "南片网格", "village": "东山村"}, "geometry": square(0.1)},
        {"type": "Feature", "properties": {"name": "第一网格", "village": village}, "geometry": square(0.05)},
    ]});
    let job = import(
        &app,
        &admin,
        "boundaries",
        "",
        "application/geo+json",
        doc.to_string().into_bytes(),
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["created"], json!({"grids": 1}));
    assert_eq!(job["updated"], json!({"grids": 1}));
    let grids = job["grids"].as_array().unwrap();
    let south = grids.iter().find(|g| g["name"] == "南片网格").unwrap();
    assert_eq!(south["action"], "created");
    assert_eq!(south["households_inside"], 1);
    assert_eq!(south["households_inside_filed_elsewhere"], 1, "not moved");
    let first = grids.iter().find(|g| g["name"] == "第一网格").unwrap();
    assert_eq!(first["id"], grid.as_str());
    assert_eq!(first["households_inside_filed_elsewhere"], 0);

    let areas = app.get_json("/api/admin/areas", Some(&admin)).await;
    let created = areas
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "南片网格")
        .unwrap();
    assert_eq!(created["level"], "grid");
    assert_eq!(created["parent_id"], village.as_str());
    assert_eq!(created["boundary"]["type"], "Polygon");

    // Bad geometry is reported per feature, nothing created.
    let bad = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "北片网格", "village": "东山村"}, "geometry": {"type": "Point", "coordinates": [112.0, 28.0]}},
    ]});
    let job = import(
        &app,
        &admin,
        "boundaries",
        "?format=geojson",
        "application/octet-stream",
        bad.to_string().into_bytes(),
    )
    .await;
    assert_eq!(job["state"], "rejected");
    assert_eq!(job["errors"][0]["row"], 1);
    assert_eq!(job["errors"][0]["column"], "geometry");
    let areas = app.get_json("/api/admin/areas", Some(&admin)).await;
    assert!(
        !areas
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "北片网格")
    );
}

#[tokio::test]
async fn users_from_csv_get_generated_passwords_once_and_can_log_in() {
    let app = spawn_app().await;
    let (admin, village, grid, _) = setup(&app).await;
    let csv = format!(
        "用户名,姓名,角色,区域,密码\n\
         liuyi,刘一,网格员,第一网格；第二网格,\n\
         chener,陈二,村干部,{village},\n\
         zhangsan,张三,民警,东山村,a-given-password\n"
    );
    let job = import(&app, &admin, "users", "", CSV_TYPE, csv.into_bytes()).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["created"], json!({"users": 3}));
    let passwords = job["passwords"].as_array().unwrap();
    assert_eq!(passwords.len(), 2, "only generated passwords are returned");
    let liuyi = passwords.iter().find(|p| p["username"] == "liuyi").unwrap();
    let login = app
        .login("liuyi", liuyi["password"].as_str().unwrap())
        .await;
    assert_eq!(login["user"]["role"], "grid_worker");
    assert_eq!(login["user"]["areas"].as_array().unwrap().len(), 2);
    assert!(
        login["user"]["areas"]
            .as_array()
            .unwrap()
            .contains(&json!(grid))
    );
    app.login("zhangsan", "a-given-password").await;

    // Handed out once: a second read has none.
    let again = app
        .get_json(
            &format!("/api/admin/imports/{}", job["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    assert!(again.get("passwords").is_none(), "{again}");

    // An existing username and an unknown role reject the whole file.
    let csv = "用户名,姓名,角色,区域\nnewone,新人,网格员,第一网格\nliuyi,刘一,网格员,第一网格\nother,某人,村长,\n";
    let job = import(&app, &admin, "users", "", CSV_TYPE, csv.into()).await;
    assert_eq!(job["state"], "rejected");
    let errors = job["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["row"] == 3 && e["code"] == "username_taken")
    );
    assert!(
        errors
            .iter()
            .any(|e| e["row"] == 4 && e["column"] == "角色")
    );
    let users = app.get_json("/api/admin/users", Some(&admin)).await;
    assert!(
        !users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "newone")
    );
}

#[tokio::test]
async fn imports_are_for_admins_only() {
    let app = spawn_app().await;
    let (admin, _, grid, _) = setup(&app).await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[&grid])
        .await;
    let token = app.login("wangli", "grid-password-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = upload(
        &app,
        &token,
        "households",
        "",
        CSV_TYPE,
        roster_csv().into_bytes(),
    )
    .await;
    assert_error(resp, 403, "forbidden").await;
    let job = import(
        &app,
        &admin,
        "households",
        "?dry_run=true",
        CSV_TYPE,
        roster_csv().into_bytes(),
    )
    .await;
    assert_eq!(job["state"], "done");
    assert_eq!(job["dry_run"], true);
    assert_eq!(job["created"], json!({"households": 2, "members": 3}));
    assert!(
        live(&app, "household", &grid).is_empty(),
        "a dry run writes nothing"
    );
    let resp = app
        .get(
            &format!("/api/admin/imports/{}", job["id"].as_str().unwrap()),
            Some(&token),
        )
        .await;
    assert_error(resp, 403, "forbidden").await;
    let resp = upload(&app, &admin, "cats", "", CSV_TYPE, b"a".to_vec()).await;
    assert_error(resp, 404, "not_found").await;
    let resp = app
        .get(
            &format!("/api/admin/imports/{}", uuid::Uuid::now_v7()),
            Some(&admin),
        )
        .await;
    assert_error(resp, 404, "not_found").await;
    let resp = upload(&app, &admin, "households", "", CSV_TYPE, Vec::new()).await;
    assert_error(resp, 400, "empty_file").await;
}

#[tokio::test]
async fn files_over_the_import_limit_are_refused_with_413() {
    let app = crate::helpers::spawn_app_with(|s| s.import_max_bytes = 10_000).await;
    let admin = app.admin_token().await;
    let resp = upload(&app, &admin, "households", "", CSV_TYPE, vec![b'a'; 20_000]).await;
    assert_error(resp, 413, "payload_too_large").await;
}

#[tokio::test]
async fn the_command_line_imports_a_roster_as_an_admin() {
    let app = spawn_app().await;
    let (_, village, grid, _) = setup(&app).await;
    let file = app.data_dir.path().join("roster.csv");
    std::fs::write(&file, roster_csv().replace(",东山村,", ",,")).unwrap();
    let out = crate::cli::fangzha(
        &app,
        &[
            "import",
            "households",
            file.to_str().unwrap(),
            "--village",
            &village,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"households\": 2"));
    assert_eq!(live(&app, "household", &grid).len(), 1);

    std::fs::write(&file, "姓名,住址\n某人,某处\n").unwrap();
    let out = crate::cli::fangzha(
        &app,
        &["import", "households", file.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("第 2 行"));
}
