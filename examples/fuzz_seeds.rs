//! Writes the fuzz targets' seed corpus (`fuzz/seeds/<target>/`): a few valid push bodies,
//! HLCs, ID numbers, and tiny JPEG, PNG and WebP files. Checked in; rerun after a format
//! change with `cargo run --example fuzz_seeds -- fuzz/seeds`.

use std::fs;
use std::io::Cursor;
use std::path::Path;

use fangzha::domain::identity::id_check_char;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::json;

const CLIENT: &str = "0190f0a0-0000-7000-8000-000000000001";
const HOUSEHOLD: &str = "0190f0a0-0000-7000-8000-0000000000a1";
const RENTAL: &str = "0190f0a0-0000-7000-8000-0000000000b1";

fn main() -> anyhow::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".into());
    let root = Path::new(&root);
    write_push(&root.join("push_payload"))?;
    write_hlc(&root.join("hlc"))?;
    write_ids(&root.join("id_number"))?;
    write_images(&root.join("image_decode"))?;
    println!("seeds written under {}", root.display());
    Ok(())
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn hlc(ms: u64, counter: u32) -> String {
    format!("{ms:015}-{counter:05}-{CLIENT}")
}

fn id(first17: &str) -> String {
    format!("{first17}{}", id_check_char(first17))
}

fn write_push(dir: &Path) -> anyhow::Result<()> {
    let t = 1_796_000_000_000u64;
    let bodies = [
        json!({"client_id": CLIENT, "schema": 1, "mutations": [
            {"mid": 1, "hlc": hlc(t, 0), "entity": "household", "id": HOUSEHOLD, "scope": "grid-1",
             "op": "put", "fields": {"address": "幸福路 12 号", "lat": 30.25, "lng": 120.16,
             "kind": "registered", "leaflet_delivered": true, "notes": null,
             "photos": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}},
            {"mid": 2, "hlc": hlc(t, 1), "entity": "member", "id": "0190f0a0-0000-7000-8000-0000000000a2",
             "scope": "grid-1", "op": "put", "fields": {"household_id": HOUSEHOLD, "name": "张三",
             "id_type": "resident_id", "id_number": id("11010519491231002"), "phone": "13812345678",
             "jzz_registered": true, "jzz_registered_on": "2021-05-18", "jzz_verified_by": "seen_on_phone"}}
        ]}),
        json!({"client_id": CLIENT, "schema": 1, "mutations": [
            {"mid": 7, "hlc": hlc(t, 2), "entity": "rental", "id": RENTAL, "scope": "grid-2", "op": "put",
             "fields": {"address": "工业路 3 号", "rooms": 6, "rent_mode": "short", "payment": "cash",
             "landlord_id_number": id("43122419900101123"), "landlord_phone": "13900001111"}},
            {"mid": 8, "hlc": hlc(t, 3), "entity": "tenant", "id": "0190f0a0-0000-7000-8000-0000000000b2",
             "scope": "grid-2", "op": "put", "fields": {"rental_id": RENTAL, "id_type": "passport",
             "id_number": "E12345678", "move_in": "2021-06-01", "id_checked_by": "seen_card"}},
            {"mid": 9, "hlc": hlc(t, 4), "entity": "inspection", "id": "0190f0a0-0000-7000-8000-0000000000b3",
             "scope": "grid-2", "op": "put", "fields": {"rental_id": RENTAL,
             "indicators": ["A1", "B2"], "inspected_at": "2021-06-02T21:30:00+08:00",
             "police_present": false, "occupants_observed": 9}}
        ]}),
        json!({"client_id": CLIENT, "schema": 1, "mutations": [
            {"mid": 3, "hlc": hlc(t, 5), "entity": "visit", "id": "0190f0a0-0000-7000-8000-0000000000c1",
             "scope": "grid-1", "op": "put", "fields": {"target_entity": "household", "target_id": HOUSEHOLD,
             "kind": "door_to_door", "outcome": "met", "visited_at": 1_796_000_000_000u64}},
            {"mid": 4, "hlc": hlc(t, 6), "entity": "household", "id": HOUSEHOLD, "scope": "grid-1", "op": "delete"},
            {"mid": 5, "hlc": hlc(t, 7), "entity": "household", "id": HOUSEHOLD, "scope": "grid-1", "op": "restore"},
            {"mid": 6, "hlc": hlc(t, 8), "entity": "publicity", "id": "0190f0a0-0000-7000-8000-0000000000c2",
             "scope": "grid-1", "op": "put", "fields": {"kind": "banner", "count": 2, "date": "2021-05-20"}}
        ]}),
        json!({"client_id": CLIENT, "schema": 1, "mutations": [
            {"mid": 1, "hlc": hlc(t, 9), "entity": "flag", "id": "0190f0a0-0000-7000-8000-0000000000d1",
             "scope": "grid-2", "op": "put", "fields": {"state": "in_review", "review_note": "已核查"}}
        ]}),
    ];
    for (i, body) in bodies.iter().enumerate() {
        put(dir, &format!("push-{i}.json"), &serde_json::to_vec(body)?)?;
    }
    Ok(())
}

fn write_hlc(dir: &Path) -> anyhow::Result<()> {
    for (i, s) in [
        hlc(1_733_040_000_123, 7),
        format!("{:015}-{:05}-server", 1_796_000_000_000u64, 0),
        format!("{:015}-{:05}-a_b-C9", 0, 99_999),
    ]
    .iter()
    .enumerate()
    {
        put(dir, &format!("hlc-{i}"), s.as_bytes())?;
    }
    Ok(())
}

fn write_ids(dir: &Path) -> anyhow::Result<()> {
    for (i, s) in [
        id("11010519491231002"),
        id("43122420000229001"),
        id("44030019991231123"),
        "11010519491231002x".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        put(dir, &format!("id-{i}"), s.as_bytes())?;
    }
    Ok(())
}

fn encode(image: &DynamicImage, format: ImageFormat) -> anyhow::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format)?;
    Ok(out.into_inner())
}

fn write_images(dir: &Path) -> anyhow::Result<()> {
    let rgb = DynamicImage::ImageRgb8(RgbImage::from_fn(12, 8, |x, y| {
        Rgb([(x * 20) as u8, (y * 30) as u8, 128])
    }));
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(6, 10, |x, y| {
        Rgba([200, (x * 40) as u8, (y * 25) as u8, (x * y * 5) as u8])
    }));
    put(dir, "tiny.jpg", &encode(&rgb, ImageFormat::Jpeg)?)?;
    put(dir, "tiny.png", &encode(&rgb, ImageFormat::Png)?)?;
    put(dir, "alpha.png", &encode(&rgba, ImageFormat::Png)?)?;
    put(dir, "tiny.webp", &encode(&rgb, ImageFormat::WebP)?)?;
    put(dir, "alpha.webp", &encode(&rgba, ImageFormat::WebP)?)?;
    Ok(())
}
