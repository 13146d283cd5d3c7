//! Exports read back: XLSX with calamine (and its XML for the frozen header), CSV, GeoJSON;
//! masking by role, the access log of full values, scopes, and police's rental side only.

use std::io::{Cursor, Read};

use calamine::Reader;
use fangzha::db::personal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};
use crate::imports::{id_number, import, setup};
use crate::sync::{Device, new_id};

struct World {
    admin: String,
    cadre: String,
    grid_worker: String,
    police: String,
}

async fn token(app: &TestApp, username: &str, password: &str) -> String {
    app.login(username, password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Two households in 第一网格 (one located), one in 第二网格; a rental with a tenant in
/// 第一网格; a cadre of the village, a grid worker of 第一网格, police of the village.
async fn world(app: &TestApp) -> World {
    let (admin, village, grid, _) = setup(app).await;
    let csv = format!(
        "户主姓名,姓名,身份证号,联系电话,住址,网格,智能手机,金钟罩,经度,纬度\n\
         张三,张三,{},13812345678,幸福路 12 号,第一网格,是,否,112.01,28.02\n\
         张三,李梅,{},13912345678,幸福路 12 号,第一网格,是,否,,\n\
         赵四,赵四,,13612345678,幸福路 14 号,第一网格,否,否,,\n\
         王五,王五,{},13712345678,和平街 3 号,第二网格,是,是,,\n",
        id_number("11010519800101123"),
        id_number("11010519820202124"),
        id_number("11010519900303125"),
    );
    let job = import(app, &admin, "households", "", "text/csv", csv.into_bytes()).await;
    assert_eq!(job["state"], "done", "{job}");
    app.add_user("chener", "cadre-password-1", "cadre", &[&village])
        .await;
    app.add_user("wangli", "grid-password-1", "grid_worker", &[&grid])
        .await;
    app.add_user("zhaojing", "police-password-1", "police", &[&village])
        .await;
    let mut dev = Device::new(app, "wangli", "grid-password-1").await;
    let rental = new_id();
    let m = vec![
        dev.put(
            "rental",
            &rental,
            &grid,
            json!({"address": "幸福路 20 号", "landlord_name": "孙房东", "landlord_phone": "13500001111",
                   "rent_mode": "daily", "payment": "cash", "lat": 28.03, "lng": 112.02}),
        ),
        dev.put(
            "tenant",
            &new_id(),
            &grid,
            json!({"rental_id": rental, "name": "周租客", "id_number": id_number("43012419950505001"), "phone": "13700002222"}),
        ),
    ];
    dev.pushed(app, m).await;
    World {
        admin,
        cadre: token(app, "chener", "cadre-password-1").await,
        grid_worker: dev.token.clone(),
        police: token(app, "zhaojing", "police-password-1").await,
    }
}

async fn download(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.get(path, Some(token)).await
}

async fn bytes(app: &TestApp, path: &str, token: &str) -> Vec<u8> {
    let resp = download(app, path, token).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.bytes().await.unwrap().to_vec()
}

/// The first sheet as rows of text.
fn sheet(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// CSV rows (BOM checked and removed).
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("CSV starts with a UTF-8 BOM");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(|c| c.trim().to_owned()).collect())
        .collect()
}

fn column(rows: &[Vec<String>], header: &str) -> Vec<String> {
    let i = rows[0]
        .iter()
        .position(|h| h == header)
        .unwrap_or_else(|| panic!("no column {header} in {:?}", rows[0]));
    rows[1..].iter().map(|r| r[i].clone()).collect()
}

fn export_log(app: &TestApp) -> Vec<personal::AccessRow> {
    let mut conn = app.pool.get().unwrap();
    personal::recent_access(&mut conn, 1000)
        .unwrap()
        .into_iter()
        .filter(|a| a.purpose == "export")
        .collect()
}

#[tokio::test]
async fn an_admin_xlsx_has_chinese_headers_a_frozen_bold_header_full_values_and_logged_deliveries()
{
    let app = spawn_app().await;
    let w = world(&app).await;
    let resp = download(&app, "/api/exports/members.xlsx", &w.admin).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    // 住户成员-YYYY-MM-DD.xlsx
    assert!(
        disposition.contains("filename*=UTF-8''%E4%BD%8F%E6%88%B7%E6%88%90%E5%91%98-20"),
        "{disposition}"
    );
    assert!(disposition.starts_with("attachment;"));
    let body = resp.bytes().await.unwrap().to_vec();
    let rows = sheet(&body);
    for header in [
        "村(居)",
        "网格",
        "住址",
        "姓名",
        "身份证号",
        "手机号",
        "已注册金钟罩",
    ] {
        assert!(
            rows[0].contains(&header.to_owned()),
            "{header} in {:?}",
            rows[0]
        );
    }
    assert_eq!(rows.len(), 1 + 4);
    let ids = column(&rows, "身份证号");
    assert!(
        ids.contains(&id_number("11010519800101123")),
        "full for admin: {ids:?}"
    );
    assert!(column(&rows, "手机号").contains(&"13812345678".to_owned()));
    assert!(column(&rows, "住址").contains(&"幸福路 12 号".to_owned()));
    assert_eq!(
        column(&rows, "智能手机")
            .iter()
            .filter(|v| *v == "是")
            .count(),
        3
    );

    // The header row is frozen and bold: read the sheet's XML.
    let mut zip = zip::ZipArchive::new(Cursor::new(body)).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    assert!(
        xml.contains("state=\"frozen\"") && xml.contains("ySplit=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<col "), "column widths set");
    let mut styles = String::new();
    zip.by_name("xl/styles.xml")
        .unwrap()
        .read_to_string(&mut styles)
        .unwrap();
    assert!(styles.contains("<b/>"));

    // One access-log row per member delivered in full, purpose export, by the admin.
    let log = export_log(&app);
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log.iter().all(|a| a.entity == "member"));
    assert!(log.iter().any(|a| a.fields == "id_number,phone"));
    let admin_id = app.login("admin", "admin-password-1").await["user"]["id"].clone();
    assert!(log.iter().all(|a| a.user_id == admin_id.as_str().unwrap()));
}

#[tokio::test]
async fn cadres_and_grid_workers_get_masked_values_and_only_their_scopes() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let rows = csv_rows(&bytes(&app, "/api/exports/members.csv", &w.cadre).await);
    assert_eq!(rows.len(), 1 + 4, "the cadre's village holds both grids");
    let ids = column(&rows, "身份证号");
    assert!(
        ids.iter()
            .filter(|v| !v.is_empty())
            .all(|v| v.contains('*')),
        "{ids:?}"
    );
    assert!(column(&rows, "手机号").contains(&"138****5678".to_owned()));
    assert!(export_log(&app).is_empty(), "masked values are not logged");

    let rows = csv_rows(&bytes(&app, "/api/exports/households.csv", &w.grid_worker).await);
    assert_eq!(column(&rows, "网格"), vec!["第一网格", "第一网格"]);
    let all = csv_rows(&bytes(&app, "/api/exports/households.csv", &w.admin).await);
    assert_eq!(all.len(), 1 + 3);
    let tenants = csv_rows(&bytes(&app, "/api/exports/tenants.csv", &w.grid_worker).await);
    assert_eq!(column(&tenants, "出租房地址"), vec!["幸福路 20 号"]);
    assert!(column(&tenants, "证件号码")[0].contains('*'));

    // Admin's CSV keeps a full ID number as text for Excel (leading tab).
    let resp = download(&app, "/api/exports/members.csv", &w.admin).await;
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let raw = String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap();
    assert!(raw.contains(&format!("\t{}", id_number("11010519800101123"))));
}

#[tokio::test]
async fn police_export_the_rental_side_only() {
    let app = spawn_app().await;
    let w = world(&app).await;
    for path in ["/api/exports/households.xlsx", "/api/exports/members.csv"] {
        let body = assert_error(download(&app, path, &w.police).await, 403, "forbidden").await;
        assert!(body["message"].as_str().unwrap().contains("出租房"));
    }
    let rows = sheet(&bytes(&app, "/api/exports/rentals.xlsx", &w.police).await);
    assert_eq!(
        column(&rows, "房东电话"),
        vec!["13500001111"],
        "police see full values"
    );
    assert_eq!(column(&rows, "租赁方式"), vec!["日租"]);
    let flags = sheet(&bytes(&app, "/api/exports/flags.xlsx", &w.police).await);
    let subjects = column(&flags, "对象类型");
    assert!(!subjects.is_empty());
    assert!(
        subjects.iter().all(|s| s == "出租房" || s == "租客"),
        "{subjects:?}"
    );
    assert!(export_log(&app).iter().any(|a| a.entity == "rental"));

    let admin_flags = sheet(&bytes(&app, "/api/exports/flags.xlsx", &w.admin).await);
    assert!(column(&admin_flags, "提示类型").contains(&"未注册金钟罩".to_owned()));
    assert!(column(&admin_flags, "对象").contains(&"幸福路 12 号".to_owned()));
}

#[tokio::test]
async fn geojson_exports_points_and_unknown_exports_are_404() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let resp = download(&app, "/api/exports/households.geojson", &w.cadre).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let doc: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(doc["type"], "FeatureCollection");
    let features = doc["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    let located: Vec<&Value> = features
        .iter()
        .filter(|f| !f["geometry"].is_null())
        .collect();
    assert_eq!(located.len(), 1);
    assert_eq!(located[0]["geometry"]["type"], "Point");
    assert_eq!(
        located[0]["geometry"]["coordinates"],
        json!([112.01, 28.02])
    );
    assert_eq!(located[0]["properties"]["住址"], "幸福路 12 号");

    let rentals: Value =
        serde_json::from_slice(&bytes(&app, "/api/exports/rentals.geojson", &w.police).await)
            .unwrap();
    assert_eq!(
        rentals["features"][0]["geometry"]["coordinates"],
        json!([112.02, 28.03])
    );

    for path in [
        "/api/exports/members.geojson",
        "/api/exports/cats.xlsx",
        "/api/exports/households.pdf",
    ] {
        assert_error(download(&app, path, &w.admin).await, 404, "not_found").await;
    }
    assert_eq!(
        app.get("/api/exports/households.csv", None).await.status(),
        401
    );
}
