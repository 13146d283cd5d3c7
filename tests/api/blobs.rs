//! Photos over HTTP (SYNC.md "Photos and other blobs"): uploads by PUT and tus, processing
//! (orientation, EXIF stripped, limits), scope-checked serving and gc — against a real
//! server, real files under its data dir and the test database.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use fangzha::config::Settings;
use fangzha::db::DbConn;
use fangzha::startup::Application;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::sync::{Device, new_id, setup};

// --- fixtures ---

const RED: Rgb<u8> = Rgb([220, 20, 30]);

/// A 640×400 landscape JPEG as a phone held upright stores it: a red block in the stored
/// top-left corner, and EXIF saying "rotate 90° clockwise to view" (orientation 6) plus GPS.
/// `seed` varies the picture so each call can make a distinct photo.
pub(crate) fn phone_jpeg(seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(640, 400, |x, y| {
        if x < 160 && y < 100 {
            RED
        } else {
            Rgb([40, 90u8.wrapping_add(seed), (x / 3 + y / 5) as u8])
        }
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    with_app1(&jpeg, &exif_orientation_6_with_gps())
}

/// Inserts an APP1 segment after SOI and the encoder's JFIF APP0.
fn with_app1(jpeg: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut at = 2;
    if jpeg[2..4] == [0xFF, 0xE0] {
        at = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    let mut out = jpeg[..at].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// `Exif\0\0` + a big-endian TIFF: IFD0 with Orientation = 6 and a GPS IFD pointer; the GPS
/// IFD with 30°15'30" N, 120°10'0" E.
fn exif_orientation_6_with_gps() -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, tag: u16, ty: u16, count: u32, value: [u8; 4]) {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&value);
    }
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;
    // Offsets from the TIFF header: IFD0 at 8 (2 entries: 30 bytes), GPS IFD at 38
    // (4 entries: 54 bytes), latitude at 92, longitude at 116.
    let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
    t.extend_from_slice(&2u16.to_be_bytes());
    entry(&mut t, 0x0112, SHORT, 1, [0, 6, 0, 0]);
    entry(&mut t, 0x8825, LONG, 1, 38u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len(), 38);
    t.extend_from_slice(&4u16.to_be_bytes());
    entry(&mut t, 0x0001, ASCII, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, RATIONAL, 3, 92u32.to_be_bytes());
    entry(&mut t, 0x0003, ASCII, 2, *b"E\0\0\0");
    entry(&mut t, 0x0004, RATIONAL, 3, 116u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(t.len(), 92);
    for (num, den) in [(30, 1), (15, 1), (30, 1), (120, 1), (10, 1), (0, 1)] {
        t.extend_from_slice(&(num as u32).to_be_bytes());
        t.extend_from_slice(&(den as u32).to_be_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&t);
    app1
}

/// A PNG whose header claims 100,000 × 100,000 RGB pixels (a decompression bomb's opening).
fn png_bomb() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    // A valid zlib stream of a few zero bytes: the rows the header promises never come.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The first bytes of an iPhone HEIC.
fn heic() -> Vec<u8> {
    let mut b = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    b.extend(std::iter::repeat_n(0x42, 4000));
    b
}

pub(crate) fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// --- helpers over the server ---

async fn put_blob(app: &TestApp, token: &str, digest: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/blobs/{digest}")))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get_blob(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn missing(app: &TestApp, token: &str, hashes: &[&String]) -> Vec<String> {
    let resp = app
        .post(
            "/api/blobs/missing",
            &json!({ "hashes": hashes }),
            Some(token),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Pushes a record of `entity` in `scope` whose photos are `digests`; returns its id.
async fn refer(
    app: &TestApp,
    dev: &mut Device,
    entity: &str,
    scope: &str,
    digests: &[&String],
) -> String {
    let id = new_id();
    let fields = match entity {
        "rental" => json!({"address": "幸福路 14 号", "photos": digests}),
        _ => json!({"address": "幸福路 12 号", "photos": digests}),
    };
    let m = dev.put(entity, &id, scope, fields);
    let resp = dev.pushed(app, vec![m]).await;
    assert_eq!(resp["results"][0]["status"], "applied", "{resp}");
    id
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.pool.get().unwrap();
    let rows: Vec<Count> = match &mut *conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
        DbConn::Pg(c) => diesel::sql_query(sql).load(c),
    }
    .unwrap();
    rows[0].n
}

fn execute(app: &TestApp, sql: &str) {
    let mut conn = app.pool.get().unwrap();
    match &mut *conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).execute(c),
        DbConn::Pg(c) => diesel::sql_query(sql).execute(c),
    }
    .unwrap();
}

fn blob_rows(app: &TestApp) -> i64 {
    count(app, "SELECT COUNT(*) AS n FROM blobs")
}

/// Every file under `<data_dir>/blobs`.
fn stored_files(app: &TestApp) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.data_dir.path().join("blobs"), &mut out);
    out.sort();
    out
}

fn tus(req: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    req.bearer_auth(token).header("Tus-Resumable", "1.0.0")
}

/// Creates a tus upload; returns its absolute URL.
async fn tus_create(app: &TestApp, token: &str, digest: &str, length: usize) -> String {
    let meta = base64::engine::general_purpose::STANDARD.encode(digest);
    let resp = tus(app.client.post(app.url("/api/blobs/tus")), token)
        .header("Upload-Length", length.to_string())
        .header(
            "Upload-Metadata",
            format!("sha256 {meta},filename cGhvdG8uanBn"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    app.url(&location)
}

async fn tus_patch(
    app: &TestApp,
    token: &str,
    url: &str,
    offset: usize,
    body: Vec<u8>,
) -> reqwest::Response {
    tus(app.client.patch(url), token)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn tus_offset(app: &TestApp, token: &str, url: &str) -> u64 {
    let resp = tus(app.client.head(url), token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A grid worker on a second grid of the same village: another scope.
async fn other_grid_worker(app: &TestApp, admin: &str, village: &str) -> (String, Device) {
    let grid2 = app.add_grid(admin, village, "第二网格").await;
    app.add_user("zhaoqiang", "grid-password-2", "grid_worker", &[&grid2])
        .await;
    (
        grid2,
        Device::new(app, "zhaoqiang", "grid-password-2").await,
    )
}

fn has_exif(jpeg: &[u8]) -> bool {
    // Entropy-coded data stuffs every FF with 00, so FF E1 anywhere is an APP1 marker.
    jpeg.windows(2).any(|w| w == [0xFF, 0xE1]) || jpeg.windows(4).any(|w| w == b"Exif")
}

// --- tests ---

#[tokio::test]
async fn a_phone_photo_is_stored_upright_without_exif_and_served_to_its_scope() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let photo = phone_jpeg(0);
    assert!(has_exif(&photo), "the fixture carries EXIF");
    let digest = sha(&photo);
    refer(&app, &mut dev, "household", &grid, &[&digest]).await;

    let resp = put_blob(&app, &dev.token, &digest, photo).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    // The stored variants, straight from the data dir.
    let files = stored_files(&app);
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(!has_exif(&bytes), "{} carries EXIF", f.display());
    }

    // Served: upright (640×400 stored → 400×640 shown), red corner moved to the top right.
    let display = get_blob(&app, &dev.token, &format!("/api/blobs/{digest}")).await;
    assert_eq!(display.status(), 200);
    assert_eq!(display.headers()["content-type"], "image/jpeg");
    let display = display.bytes().await.unwrap();
    assert!(!has_exif(&display));
    let img = image::load_from_memory(&display).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (400, 640));
    let thumb = get_blob(
        &app,
        &dev.token,
        &format!("/api/blobs/{digest}?variant=thumb"),
    )
    .await;
    assert_eq!(thumb.status(), 200);
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap())
        .unwrap()
        .to_rgb8();
    assert_eq!(thumb.dimensions(), (200, 320));
    let red = |p: &Rgb<u8>| p[0] > 170 && p[1] < 80 && p[2] < 80;
    assert!(
        red(img.get_pixel(380, 20)),
        "top right {:?}",
        img.get_pixel(380, 20)
    );
    assert!(
        !red(img.get_pixel(20, 20)),
        "top left {:?}",
        img.get_pixel(20, 20)
    );
    assert!(!red(img.get_pixel(380, 620)), "bottom right");
    assert!(red(thumb.get_pixel(190, 10)) && !red(thumb.get_pixel(10, 10)));

    // GPS is not kept unless configured.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM blobs WHERE gps_lat_e7 IS NULL AND width = 400 AND height = 640"
        ),
        1
    );

    // Another scope: 404, exactly as for a photo that does not exist.
    let (_, other) = other_grid_worker(&app, &admin, &village).await;
    let resp = get_blob(&app, &other.token, &format!("/api/blobs/{digest}")).await;
    let not_found = assert_error(resp, 404, "not_found").await;
    let resp = get_blob(&app, &other.token, &format!("/api/blobs/{}", sha(b"never"))).await;
    assert_eq!(assert_error(resp, 404, "not_found").await, not_found);
}

#[tokio::test]
async fn serving_has_strong_etags_immutable_caching_and_ranges() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let photo = phone_jpeg(1);
    let digest = sha(&photo);
    refer(&app, &mut dev, "household", &grid, &[&digest]).await;
    assert_eq!(
        put_blob(&app, &dev.token, &digest, photo).await.status(),
        200
    );
    let path = format!("/api/blobs/{digest}?variant=display");

    let full = get_blob(&app, &dev.token, &path).await;
    assert_eq!(full.status(), 200);
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{digest}-display\""));
    assert_eq!(
        full.headers()["cache-control"],
        "private, max-age=31536000, immutable"
    );
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    let whole = full.bytes().await.unwrap();

    let again = app
        .client
        .get(app.url(&path))
        .bearer_auth(&dev.token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    let part = app
        .client
        .get(app.url(&path))
        .bearer_auth(&dev.token)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{}", whole.len())
    );
    assert_eq!(part.bytes().await.unwrap(), whole.slice(100..200));

    let tail = app
        .client
        .get(app.url(&path))
        .bearer_auth(&dev.token)
        .header("Range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap(), whole.slice(whole.len() - 10..));

    let beyond = app
        .client
        .get(app.url(&path))
        .bearer_auth(&dev.token)
        .header("Range", format!("bytes={}-", whole.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        beyond.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{}", whole.len())
    );
    assert_error(beyond, 416, "range_not_satisfiable").await;

    // Unvalidated path segments never reach the store.
    for bad in ["..%2F..%2Fetc%2Fpasswd", &digest.to_uppercase(), "abc"] {
        let resp = get_blob(&app, &dev.token, &format!("/api/blobs/{bad}")).await;
        assert_error(resp, 400, "invalid_digest").await;
    }
    let resp = get_blob(
        &app,
        &dev.token,
        &format!("/api/blobs/{digest}?variant=raw"),
    )
    .await;
    assert_error(resp, 400, "invalid_query").await;
    let resp = app.get(&format!("/api/blobs/{digest}"), None).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn gps_is_kept_in_columns_only_when_configured() {
    let app = spawn_app_with(|s: &mut Settings| s.photos.keep_gps = true).await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let photo = phone_jpeg(2);
    let digest = sha(&photo);
    refer(&app, &mut dev, "household", &grid, &[&digest]).await;
    assert_eq!(
        put_blob(&app, &dev.token, &digest, photo).await.status(),
        200
    );
    // 30°15'30" = 30.2583333°, 120°10' = 120.1666667°.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM blobs WHERE gps_lat_e7 = 302583333 AND gps_lng_e7 = 1201666667"
        ),
        1
    );
    let served = get_blob(&app, &dev.token, &format!("/api/blobs/{digest}")).await;
    assert!(!has_exif(&served.bytes().await.unwrap()));
}

#[tokio::test]
async fn broken_bombs_wrong_digests_heic_and_oversize_are_refused_and_nothing_is_stored() {
    let app = spawn_app_with(|s: &mut Settings| s.photos.max_bytes = 60_000).await;
    let (_, _, _) = setup(&app).await;
    let dev = Device::new(&app, "wangli", "grid-password-1").await;

    let photo = phone_jpeg(3);
    assert!(
        photo.len() < 60_000,
        "fixture fits the limit: {}",
        photo.len()
    );
    let truncated = photo[..photo.len() * 2 / 3].to_vec();
    let resp = put_blob(&app, &dev.token, &sha(&truncated), truncated).await;
    assert_error(resp, 422, "image_invalid").await;

    let bomb = png_bomb();
    let resp = put_blob(&app, &dev.token, &sha(&bomb), bomb).await;
    assert_error(resp, 422, "image_invalid").await;

    let resp = put_blob(&app, &dev.token, &sha(b"other bytes"), photo.clone()).await;
    assert_error(resp, 400, "checksum_mismatch").await;

    let heic = heic();
    let resp = put_blob(&app, &dev.token, &sha(&heic), heic.clone()).await;
    let body = assert_error(resp, 415, "unsupported_media_type").await;
    assert!(
        body["message"].as_str().unwrap().contains("兼容性最佳"),
        "{body}"
    );

    let big = vec![0u8; 70_000];
    let resp = put_blob(&app, &dev.token, &sha(&big), big).await;
    assert_error(resp, 413, "payload_too_large").await;

    // tus: too long at creation, wrong digest at the last byte (460), HEIC at the first.
    let meta = base64::engine::general_purpose::STANDARD.encode(sha(b"x"));
    let resp = tus(app.client.post(app.url("/api/blobs/tus")), &dev.token)
        .header("Upload-Length", "70000")
        .header("Upload-Metadata", format!("sha256 {meta}"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 413, "payload_too_large").await;

    let url = tus_create(&app, &dev.token, &sha(b"not this photo"), photo.len()).await;
    let resp = tus_patch(&app, &dev.token, &url, 0, photo.clone()).await;
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    assert_error(resp, 460, "checksum_mismatch").await;
    let resp = tus(app.client.head(&url), &dev.token).send().await.unwrap();
    assert_eq!(resp.status(), 404, "a refused upload is gone");

    let url = tus_create(&app, &dev.token, &sha(&heic), heic.len()).await;
    let resp = tus_patch(&app, &dev.token, &url, 0, heic).await;
    assert_error(resp, 415, "unsupported_media_type").await;

    assert_eq!(blob_rows(&app), 0);
    assert!(stored_files(&app).is_empty(), "{:?}", stored_files(&app));
    let leftovers: Vec<_> = std::fs::read_dir(app.data_dir.path().join("uploads"))
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The server is still fine.
    let resp = put_blob(&app, &dev.token, &sha(&photo), photo).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(blob_rows(&app), 1);
}

#[tokio::test]
async fn tus_discovery_and_protocol_checks() {
    let app = spawn_app().await;
    setup(&app).await;
    let dev = Device::new(&app, "wangli", "grid-password-1").await;
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/blobs/tus"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["tus-version"], "1.0.0");
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    assert_eq!(
        resp.headers()["tus-max-size"],
        (20 * 1024 * 1024).to_string()
    );
    assert!(
        resp.headers()["tus-extension"]
            .to_str()
            .unwrap()
            .contains("creation")
    );

    let photo = phone_jpeg(4);
    let url = tus_create(&app, &dev.token, &sha(&photo), photo.len()).await;
    let resp = app
        .client
        .head(&url)
        .bearer_auth(&dev.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 412, "no Tus-Resumable");
    assert_eq!(resp.headers()["tus-version"], "1.0.0");
    let resp = tus(app.client.patch(&url), &dev.token)
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", "0")
        .body(photo.clone())
        .send()
        .await
        .unwrap();
    assert_error(resp, 415, "unsupported_media_type").await;
    let resp = tus_patch(&app, &dev.token, &url, 7, photo.clone()).await;
    let body = assert_error(resp, 409, "offset_mismatch").await;
    assert_eq!(body["offset"], 0);

    // Another user cannot see or continue it.
    app.add_user("lisi", "grid-password-3", "grid_worker", &[])
        .await;
    let other = Device::new(&app, "lisi", "grid-password-3").await;
    let resp = tus(app.client.head(&url), &other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = tus_patch(&app, &other.token, &url, 0, photo.clone()).await;
    assert_error(resp, 404, "not_found").await;

    // Termination.
    let resp = tus(app.client.delete(&url), &dev.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = tus(app.client.head(&url), &dev.token).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = tus(
        app.client.head(app.url("/api/blobs/tus/..%2F..%2Fx")),
        &dev.token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 404);
}

/// Sends PATCH headers announcing the whole photo, then only the first half, and drops the
/// connection — a phone losing signal mid-upload.
fn patch_and_drop(address: &str, path: &str, token: &str, total: usize, half: &[u8]) {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "PATCH {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n\
         Upload-Offset: 0\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    stream.write_all(half).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
}

#[tokio::test]
async fn an_interrupted_tus_upload_resumes_at_the_reported_offset_even_after_a_restart() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let photo = phone_jpeg(5);
    let digest = sha(&photo);
    refer(&app, &mut dev, "household", &grid, &[&digest]).await;
    let url = tus_create(&app, &dev.token, &digest, photo.len()).await;
    let path = url.trim_start_matches(&app.address).to_owned();
    let half = photo.len() / 2;
    let (address, token, head) = (
        app.address.clone(),
        dev.token.clone(),
        photo[..half].to_vec(),
    );
    let p = path.clone();
    let total = photo.len();
    tokio::task::spawn_blocking(move || patch_and_drop(&address, &p, &token, total, &head))
        .await
        .unwrap();

    // The server notices the drop on its own time; the offset then stays at what arrived.
    let mut offset = 0;
    for _ in 0..50 {
        offset = tus_offset(&app, &dev.token, &url).await;
        if offset == half as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(offset, half as u64);
    assert_eq!(blob_rows(&app), 0);

    // A second server on the same data dir and database (a restart) continues the upload.
    let restarted = Application::build(Settings {
        bind: "127.0.0.1:0".into(),
        database_url: Some(app.database_url.clone()),
        data_dir: app.data_dir.path().to_path_buf(),
        db_pool_size: 2,
        ..Settings::default()
    })
    .await
    .unwrap();
    let url2 = format!("http://127.0.0.1:{}{path}", restarted.port());
    tokio::spawn(restarted.run_until_stopped());
    let offset = tus_offset(&app, &dev.token, &url2).await as usize;
    assert_eq!(offset, half);
    let resp = tus_patch(&app, &dev.token, &url2, offset, photo[offset..].to_vec()).await;
    assert_eq!(resp.status(), 204, "{:?}", resp.text().await);
    assert_eq!(resp.headers()["upload-offset"], photo.len().to_string());
    assert_eq!(blob_rows(&app), 1);
    assert!(missing(&app, &dev.token, &[&digest]).await.is_empty());
    let served = get_blob(&app, &dev.token, &format!("/api/blobs/{digest}")).await;
    assert_eq!(served.status(), 200);
}

#[tokio::test]
async fn missing_reports_other_scopes_photos_as_missing_and_a_second_upload_stores_nothing() {
    let app = spawn_app().await;
    let (admin, village, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (grid2, mut other) = other_grid_worker(&app, &admin, &village).await;
    let (p1, p2) = (phone_jpeg(6), phone_jpeg(7));
    let (d1, d2, d3) = (sha(&p1), sha(&p2), sha(b"never uploaded"));
    refer(&app, &mut dev, "household", &grid, &[&d1, &d2]).await;

    assert_eq!(
        missing(&app, &dev.token, &[&d1, &d2, &d3, &d1]).await,
        vec![d1.clone(), d2.clone(), d3.clone()]
    );
    assert_eq!(
        put_blob(&app, &dev.token, &d1, p1.clone()).await.status(),
        200
    );
    assert_eq!(
        missing(&app, &dev.token, &[&d1, &d2, &d3]).await,
        vec![d2.clone(), d3.clone()]
    );

    // Stored, but only for grid 1: grid 2 is told to upload it, like any unknown photo.
    assert_eq!(
        missing(&app, &other.token, &[&d1, &d3]).await,
        vec![d1.clone(), d3.clone()]
    );
    // The same photo from a second device: accepted, stored once.
    let files = stored_files(&app);
    let resp = put_blob(&app, &other.token, &d1, p1.clone()).await;
    assert_eq!(resp.status(), 200);
    let url = tus_create(&app, &other.token, &d1, p1.len()).await;
    assert_eq!(
        tus_patch(&app, &other.token, &url, 0, p1).await.status(),
        204
    );
    assert_eq!(blob_rows(&app), 1);
    assert_eq!(stored_files(&app), files);
    assert_eq!(files.len(), 2);
    // Uploading gave no access: that needs a record in grid 2 referring to it.
    let resp = get_blob(&app, &other.token, &format!("/api/blobs/{d1}")).await;
    assert_eq!(resp.status(), 404);
    refer(&app, &mut other, "household", &grid2, &[&d1]).await;
    assert!(missing(&app, &other.token, &[&d1]).await.is_empty());
    let resp = get_blob(&app, &other.token, &format!("/api/blobs/{d1}")).await;
    assert_eq!(resp.status(), 200);

    // A record that drops the photo no longer grants it.
    let h2 = new_id();
    let m = dev.put(
        "household",
        &h2,
        &grid,
        json!({"address": "x", "photos": [d2]}),
    );
    dev.pushed(&app, vec![m]).await;
    assert_eq!(put_blob(&app, &dev.token, &d2, p2).await.status(), 200);
    let m = dev.put("household", &h2, &grid, json!({"photos": []}));
    dev.pushed(&app, vec![m]).await;
    // The first household still refers to d2.
    assert_eq!(
        get_blob(&app, &dev.token, &format!("/api/blobs/{d2}"))
            .await
            .status(),
        200
    );

    let resp = app
        .post(
            "/api/blobs/missing",
            &json!({"hashes": ["nope"]}),
            Some(&dev.token),
        )
        .await;
    assert_error(resp, 400, "invalid_digest").await;
}

#[tokio::test]
async fn police_see_photos_of_the_rental_side_only() {
    let app = spawn_app().await;
    let (_, village, grid) = setup(&app).await;
    app.add_user("liuyang", "police-password", "police", &[&village])
        .await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let police = Device::new(&app, "liuyang", "police-password").await;
    let (ph, pr) = (phone_jpeg(8), phone_jpeg(9));
    let (dh, dr) = (sha(&ph), sha(&pr));
    refer(&app, &mut dev, "household", &grid, &[&dh]).await;
    refer(&app, &mut dev, "rental", &grid, &[&dr]).await;
    assert_eq!(put_blob(&app, &dev.token, &dh, ph).await.status(), 200);
    assert_eq!(put_blob(&app, &dev.token, &dr, pr).await.status(), 200);
    let resp = get_blob(&app, &police.token, &format!("/api/blobs/{dh}")).await;
    assert_eq!(resp.status(), 404);
    let resp = get_blob(&app, &police.token, &format!("/api/blobs/{dr}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        missing(&app, &police.token, &[&dh, &dr]).await,
        vec![dh.clone()]
    );
}

fn fangzha(app: &TestApp, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fangzha"))
        .arg("--database")
        .arg(&app.database_url)
        .arg("--data-dir")
        .arg(app.data_dir.path())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run fangzha");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn gc_lists_photos_unreferred_for_n_days_and_deletes_them_only_with_apply() {
    let app = spawn_app().await;
    let (_, _, grid) = setup(&app).await;
    let mut dev = Device::new(&app, "wangli", "grid-password-1").await;
    let (kept, dropped, orphan) = (phone_jpeg(10), phone_jpeg(11), phone_jpeg(12));
    let (dk, dd, dor) = (sha(&kept), sha(&dropped), sha(&orphan));
    refer(&app, &mut dev, "household", &grid, &[&dk]).await;
    let h = new_id();
    let m = dev.put(
        "household",
        &h,
        &grid,
        json!({"address": "x", "photos": [dd]}),
    );
    dev.pushed(&app, vec![m]).await;
    for (d, p) in [(&dk, kept), (&dd, dropped), (&dor, orphan)] {
        assert_eq!(put_blob(&app, &dev.token, d, p).await.status(), 200);
    }
    let m = dev.put("household", &h, &grid, json!({"photos": []}));
    dev.pushed(&app, vec![m]).await;
    let stale = tus_create(&app, &dev.token, &sha(b"abandoned"), 10).await;

    // Nothing is 2 days old yet.
    let out = fangzha(&app, &["gc", "--older-than-days", "2"]);
    assert!(!out.contains(&dd) && !out.contains(&dor), "{out}");

    // Age everything by 3 days: the photo a record still refers to stays.
    let three_days = 3 * 86_400_000i64;
    execute(
        &app,
        &format!("UPDATE blobs SET created_at_ms = created_at_ms - {three_days}"),
    );
    execute(
        &app,
        &format!("UPDATE blob_refs SET referred_at_ms = referred_at_ms - {three_days}"),
    );
    let dir = app.data_dir.path().join("uploads");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "json") {
            let mut info: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            info["created_at_ms"] = json!(info["created_at_ms"].as_i64().unwrap() - three_days);
            std::fs::write(&p, serde_json::to_vec(&info).unwrap()).unwrap();
        }
    }
    let out = fangzha(&app, &["gc", "--older-than-days", "2"]);
    assert!(
        out.contains(&dd) && out.contains(&dor) && !out.contains(&dk),
        "{out}"
    );
    assert!(out.contains("--apply"), "{out}");
    assert_eq!(blob_rows(&app), 3, "a dry run deletes nothing");
    assert_eq!(stored_files(&app).len(), 6);

    let out = fangzha(&app, &["gc", "--older-than-days", "2", "--apply"]);
    assert!(out.contains(&dd) && out.contains(&dor), "{out}");
    assert_eq!(blob_rows(&app), 1);
    assert_eq!(stored_files(&app).len(), 2);
    assert!(
        stored_files(&app)
            .iter()
            .all(|f| f.to_string_lossy().contains(&dk))
    );
    assert_eq!(
        get_blob(&app, &dev.token, &format!("/api/blobs/{dk}"))
            .await
            .status(),
        200
    );
    let resp = tus(app.client.head(&stale), &dev.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "the abandoned upload is gone too");
}
