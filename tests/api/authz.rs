//! The authorization matrix: every registered route × every role × own area / other area →
//! the expected answer, from the one table [`MATRIX`]. The test runs the whole table and
//! reports every mismatch at once; a second test fails when a route registered in
//! `server/src/api/mod.rs` has no row (or a row names a route that does not exist).
//!
//! The fixture: township → 东山村 (V1, grid G1) and 西岭村 (V2, grid G2). The users of the
//! matrix hold the first side: a grid worker G1, a cadre, a police officer and a viewer V1;
//! admins hold everything. Each side has the same records (household with a member and a
//! photo, rental with a tenant, an A1 inspection and a photo) and so the same flags; "own"
//! rows use the first side's ids, "other" rows the second's. Expectations follow SYNC.md
//! and DOMAIN.md: another scope's record, photo or area answers 404 (never 403, which would
//! tell that it exists); a role that may not use an endpoint at all gets 403.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{TestApp, spawn_app_with};
use crate::sync::{Device, new_id};

/// What a request must get.
#[derive(Clone, Copy, Debug, PartialEq)]
enum E {
    /// This status (and a JSON `{error, message}` body when it is an error).
    S(u16),
    /// A push answered 200 whose one mutation was applied.
    Applied,
    /// A push answered 200 whose one mutation was rejected with this code.
    Rejected(&'static str),
    /// `POST /api/blobs/missing` answered 200 with this many digests missing.
    Missing(usize),
}

const OK: E = E::S(200);
const CREATED: E = E::S(201);
const ACCEPTED: E = E::S(202);
const NO_CONTENT: E = E::S(204);
const BAD: E = E::S(400);
const UNAUTH: E = E::S(401);
const FORBIDDEN: E = E::S(403);
const NOT_FOUND: E = E::S(404);
const SCOPE: E = E::Rejected("scope_forbidden");
const FIELD: E = E::Rejected("field_forbidden");

/// The expected answer per caller: `[own area, other area]` for each role.
#[derive(Clone, Copy, Debug)]
struct Want {
    anon: E,
    admin: [E; 2],
    cadre: [E; 2],
    grid: [E; 2],
    police: [E; 2],
    viewer: [E; 2],
}

/// Every signed-in role gets `e` on both sides; no token gets 401.
const fn signed_in(e: E) -> Want {
    Want {
        anon: UNAUTH,
        admin: [e, e],
        cadre: [e, e],
        grid: [e, e],
        police: [e, e],
        viewer: [e, e],
    }
}

/// Admins get `e`; other roles 403; no token 401.
const fn admin_only(e: E) -> Want {
    Want {
        anon: UNAUTH,
        admin: [e, e],
        cadre: [FORBIDDEN, FORBIDDEN],
        grid: [FORBIDDEN, FORBIDDEN],
        police: [FORBIDDEN, FORBIDDEN],
        viewer: [FORBIDDEN, FORBIDDEN],
    }
}

/// Everyone, with or without a token, gets `e`.
const fn public(e: E) -> Want {
    Want {
        anon: e,
        admin: [e, e],
        cadre: [e, e],
        grid: [e, e],
        police: [e, e],
        viewer: [e, e],
    }
}

/// A record of the household side: everyone holding the area reads it, police never
/// (DOMAIN.md: police see the rental side only), another area's is 404.
const HOUSEHOLD_SIDE: Want = Want {
    anon: UNAUTH,
    admin: [OK, OK],
    cadre: [OK, NOT_FOUND],
    grid: [OK, NOT_FOUND],
    police: [NOT_FOUND, NOT_FOUND],
    viewer: [OK, NOT_FOUND],
};

/// A record of the rental side: everyone holding the area reads it, police included.
const RENTAL_SIDE: Want = Want {
    anon: UNAUTH,
    admin: [OK, OK],
    cadre: [OK, NOT_FOUND],
    grid: [OK, NOT_FOUND],
    police: [OK, NOT_FOUND],
    viewer: [OK, NOT_FOUND],
};

/// Full personal values: police and admins only (others 403 whatever the record).
const REVEAL_RENTAL_SIDE: Want = Want {
    anon: UNAUTH,
    admin: [OK, OK],
    cadre: [FORBIDDEN, FORBIDDEN],
    grid: [FORBIDDEN, FORBIDDEN],
    police: [OK, NOT_FOUND],
    viewer: [FORBIDDEN, FORBIDDEN],
};

/// A request body.
#[derive(Clone, Copy, Debug)]
enum Body {
    None,
    /// JSON text; `{placeholders}` are filled in before sending.
    Json(&'static str),
    /// The side's rental photo (a JPEG whose digest is `{blob}`).
    Photo,
    /// tus creation headers for `{blob}`, no body.
    TusCreate,
    /// The first 4 bytes of an upload at offset 0.
    TusPatch,
    /// A one-line household roster CSV.
    Csv,
}

/// One row: a request and who gets what.
#[derive(Clone, Copy, Debug)]
struct Case {
    method: &'static str,
    /// The route pattern as registered (checked against `server/src/api/mod.rs`).
    route: &'static str,
    /// The request path with `{placeholders}`.
    path: &'static str,
    body: Body,
    want: Want,
}

const fn case(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Body,
    want: Want,
) -> Case {
    Case {
        method,
        route,
        path,
        body,
        want,
    }
}

const REVIEW: Body = Body::Json(r#"{"state": "in_review", "review_note": "民警已上门核查"}"#);
const PURPOSE: Body = Body::Json(r#"{"purpose": "核查租客身份"}"#);
const PUSH_HOUSEHOLD: Body = Body::Json(
    r#"{"client_id": "{client}", "schema": 1, "mutations": [{"mid": 1, "hlc": "{hlc}",
        "entity": "household", "id": "{new}", "scope": "{grid}", "op": "put",
        "fields": {"address": "幸福路 30 号"}}]}"#,
);
const PUSH_RENTAL: Body = Body::Json(
    r#"{"client_id": "{client}", "schema": 1, "mutations": [{"mid": 1, "hlc": "{hlc}",
        "entity": "rental", "id": "{new}", "scope": "{grid}", "op": "put",
        "fields": {"address": "幸福路 31 号", "rent_mode": "long"}}]}"#,
);

/// The matrix. Rows that do not depend on an area expect the same on both sides.
const MATRIX: &[Case] = &[
    // --- operations ---
    case("GET", "/healthz", "/healthz", Body::None, public(OK)),
    case("GET", "/metrics", "/metrics", Body::None, public(OK)),
    // --- sign-in ---
    case(
        "POST",
        "/api/auth/login",
        "/api/auth/login",
        Body::Json(r#"{"username": "spare1", "password": "spare-password-1"}"#),
        public(OK),
    ),
    case(
        "POST",
        "/api/auth/refresh",
        "/api/auth/refresh",
        Body::Json(r#"{"refresh_token": "not-a-token"}"#),
        public(UNAUTH),
    ),
    case(
        "POST",
        "/api/auth/logout",
        "/api/auth/logout",
        Body::Json(r#"{"refresh_token": "not-a-token"}"#),
        public(NO_CONTENT),
    ),
    case("GET", "/api/me", "/api/me", Body::None, signed_in(OK)),
    // --- sync ---
    case(
        "POST",
        "/api/sync/push",
        "/api/sync/push",
        PUSH_HOUSEHOLD,
        Want {
            anon: UNAUTH,
            admin: [E::Applied, E::Applied],
            cadre: [E::Applied, SCOPE],
            grid: [E::Applied, SCOPE],
            police: [FIELD, SCOPE],
            viewer: [FIELD, SCOPE],
        },
    ),
    case(
        "POST",
        "/api/sync/push",
        "/api/sync/push",
        PUSH_RENTAL,
        Want {
            anon: UNAUTH,
            admin: [E::Applied, E::Applied],
            cadre: [E::Applied, SCOPE],
            grid: [E::Applied, SCOPE],
            police: [E::Applied, SCOPE],
            viewer: [FIELD, SCOPE],
        },
    ),
    case(
        "POST",
        "/api/sync/pull",
        "/api/sync/pull",
        Body::Json(r#"{"client_id": "{client}", "schema": 1, "cursors": {"{grid}": 0}}"#),
        signed_in(OK),
    ),
    // --- one record: history and reveal ---
    case(
        "GET",
        "/api/records/{entity}/{id}/history",
        "/api/records/household/{household}/history",
        Body::None,
        HOUSEHOLD_SIDE,
    ),
    case(
        "GET",
        "/api/records/{entity}/{id}/history",
        "/api/records/member/{member}/history",
        Body::None,
        HOUSEHOLD_SIDE,
    ),
    case(
        "GET",
        "/api/records/{entity}/{id}/history",
        "/api/records/rental/{rental}/history",
        Body::None,
        RENTAL_SIDE,
    ),
    case(
        "GET",
        "/api/records/{entity}/{id}/history",
        "/api/records/flag/{flag}/history",
        Body::None,
        RENTAL_SIDE,
    ),
    case(
        "POST",
        "/api/records/{entity}/{id}/reveal",
        "/api/records/tenant/{tenant}/reveal",
        PURPOSE,
        REVEAL_RENTAL_SIDE,
    ),
    case(
        "POST",
        "/api/records/{entity}/{id}/reveal",
        "/api/records/rental/{rental}/reveal",
        PURPOSE,
        REVEAL_RENTAL_SIDE,
    ),
    case(
        "POST",
        "/api/records/{entity}/{id}/reveal",
        "/api/records/member/{member}/reveal",
        PURPOSE,
        Want {
            police: [NOT_FOUND, NOT_FOUND],
            ..REVEAL_RENTAL_SIDE
        },
    ),
    // --- flags: police and admins review; police only the rental side's ---
    case(
        "POST",
        "/api/flags/{id}/review",
        "/api/flags/{flag}/review",
        REVIEW,
        REVEAL_RENTAL_SIDE,
    ),
    case(
        "POST",
        "/api/flags/{id}/review",
        "/api/flags/{household_flag}/review",
        REVIEW,
        Want {
            police: [NOT_FOUND, NOT_FOUND],
            ..REVEAL_RENTAL_SIDE
        },
    ),
    // --- photos ---
    case(
        "POST",
        "/api/blobs/missing",
        "/api/blobs/missing",
        Body::Json(r#"{"hashes": ["{blob}"]}"#),
        Want {
            anon: UNAUTH,
            admin: [E::Missing(0), E::Missing(0)],
            cadre: [E::Missing(0), E::Missing(1)],
            grid: [E::Missing(0), E::Missing(1)],
            police: [E::Missing(0), E::Missing(1)],
            viewer: [E::Missing(0), E::Missing(1)],
        },
    ),
    case(
        "POST",
        "/api/blobs/missing",
        "/api/blobs/missing",
        Body::Json(r#"{"hashes": ["{household_blob}"]}"#),
        Want {
            anon: UNAUTH,
            admin: [E::Missing(0), E::Missing(0)],
            cadre: [E::Missing(0), E::Missing(1)],
            grid: [E::Missing(0), E::Missing(1)],
            police: [E::Missing(1), E::Missing(1)],
            viewer: [E::Missing(0), E::Missing(1)],
        },
    ),
    case(
        "GET",
        "/api/blobs/{sha256}",
        "/api/blobs/{blob}",
        Body::None,
        RENTAL_SIDE,
    ),
    case(
        "GET",
        "/api/blobs/{sha256}",
        "/api/blobs/{blob}?variant=thumb",
        Body::None,
        RENTAL_SIDE,
    ),
    case(
        "GET",
        "/api/blobs/{sha256}",
        "/api/blobs/{household_blob}?variant=display",
        Body::None,
        HOUSEHOLD_SIDE,
    ),
    // Uploading a photo already stored elsewhere succeeds (no second copy, no leak).
    case(
        "PUT",
        "/api/blobs/{sha256}",
        "/api/blobs/{blob}",
        Body::Photo,
        Want {
            viewer: [FORBIDDEN, FORBIDDEN],
            ..signed_in(OK)
        },
    ),
    // tus clients probe the options before they sign in.
    case(
        "OPTIONS",
        "/api/blobs/tus",
        "/api/blobs/tus",
        Body::None,
        public(NO_CONTENT),
    ),
    case(
        "POST",
        "/api/blobs/tus",
        "/api/blobs/tus",
        Body::TusCreate,
        Want {
            viewer: [FORBIDDEN, FORBIDDEN],
            ..signed_in(CREATED)
        },
    ),
    // `{upload}`: the caller's own upload on the "own" side (the viewer has none), another
    // user's on the other side: 404, as if it did not exist.
    case(
        "HEAD",
        "/api/blobs/tus/{id}",
        "/api/blobs/tus/{upload}",
        Body::None,
        Want {
            anon: UNAUTH,
            admin: [OK, NOT_FOUND],
            cadre: [OK, NOT_FOUND],
            grid: [OK, NOT_FOUND],
            police: [OK, NOT_FOUND],
            viewer: [NOT_FOUND, NOT_FOUND],
        },
    ),
    case(
        "PATCH",
        "/api/blobs/tus/{id}",
        "/api/blobs/tus/{upload}",
        Body::TusPatch,
        Want {
            anon: UNAUTH,
            admin: [NO_CONTENT, NOT_FOUND],
            cadre: [NO_CONTENT, NOT_FOUND],
            grid: [NO_CONTENT, NOT_FOUND],
            police: [NO_CONTENT, NOT_FOUND],
            viewer: [NOT_FOUND, NOT_FOUND],
        },
    ),
    case(
        "DELETE",
        "/api/blobs/tus/{id}",
        "/api/blobs/tus/{upload}",
        Body::None,
        Want {
            anon: UNAUTH,
            admin: [NO_CONTENT, NOT_FOUND],
            cadre: [NO_CONTENT, NOT_FOUND],
            grid: [NO_CONTENT, NOT_FOUND],
            police: [NO_CONTENT, NOT_FOUND],
            viewer: [NOT_FOUND, NOT_FOUND],
        },
    ),
    // --- figures and desk pages ---
    case(
        "GET",
        "/api/campaign",
        "/api/campaign",
        Body::None,
        signed_in(OK),
    ),
    case(
        "PUT",
        "/api/admin/campaign",
        "/api/admin/campaign",
        Body::Json("{campaign}"),
        admin_only(OK),
    ),
    case(
        "GET",
        "/api/admin/campaign/versions",
        "/api/admin/campaign/versions",
        Body::None,
        admin_only(OK),
    ),
    case(
        "GET",
        "/api/reports/dashboard",
        "/api/reports/dashboard?area={village}",
        Body::None,
        Want {
            // A grid worker holds a grid, not its village.
            grid: [NOT_FOUND, NOT_FOUND],
            ..RENTAL_SIDE
        },
    ),
    case(
        "GET",
        "/api/reports/dashboard",
        "/api/reports/dashboard?area={grid}",
        Body::None,
        RENTAL_SIDE,
    ),
    case(
        "GET",
        "/api/reports/ranking",
        "/api/reports/ranking",
        Body::None,
        signed_in(OK),
    ),
    case(
        "GET",
        "/api/reports/model-villages",
        "/api/reports/model-villages",
        Body::None,
        signed_in(OK),
    ),
    case(
        "GET",
        "/api/cases",
        "/api/cases?village={village}",
        Body::None,
        signed_in(OK),
    ),
    case(
        "POST",
        "/api/cases",
        "/api/cases",
        Body::Json(r#"{"village_id": "{village}", "period": "2021-05", "cases": 1}"#),
        Want {
            anon: UNAUTH,
            admin: [CREATED, CREATED],
            cadre: [FORBIDDEN, FORBIDDEN],
            grid: [FORBIDDEN, FORBIDDEN],
            // Another village is refused as unknown (400 naming the field), as a missing one.
            police: [CREATED, BAD],
            viewer: [FORBIDDEN, FORBIDDEN],
        },
    ),
    case(
        "PUT",
        "/api/admin/model-villages/{id}",
        "/api/admin/model-villages/{village}",
        Body::None,
        admin_only(NO_CONTENT),
    ),
    case(
        "DELETE",
        "/api/admin/model-villages/{id}",
        "/api/admin/model-villages/{village}",
        Body::None,
        admin_only(NO_CONTENT),
    ),
    case("GET", "/api/areas", "/api/areas", Body::None, signed_in(OK)),
    case(
        "GET",
        "/api/areas/{id}/poster.svg",
        "/api/areas/{grid}/poster.svg",
        Body::None,
        RENTAL_SIDE,
    ),
    case(
        "GET",
        "/api/exports/{file}",
        "/api/exports/households.csv",
        Body::None,
        Want {
            police: [FORBIDDEN, FORBIDDEN],
            ..signed_in(OK)
        },
    ),
    case(
        "GET",
        "/api/exports/{file}",
        "/api/exports/tenants.xlsx",
        Body::None,
        signed_in(OK),
    ),
    case(
        "GET",
        "/api/exports/{file}",
        "/api/exports/rentals.geojson",
        Body::None,
        signed_in(OK),
    ),
    // --- administration ---
    case(
        "GET",
        "/api/audit",
        "/api/audit",
        Body::None,
        admin_only(OK),
    ),
    case(
        "GET",
        "/api/admin/areas",
        "/api/admin/areas",
        Body::None,
        admin_only(OK),
    ),
    case(
        "POST",
        "/api/admin/areas",
        "/api/admin/areas",
        Body::Json(r#"{"name": "新网格{uniq}", "level": "grid", "parent_id": "{village}"}"#),
        admin_only(CREATED),
    ),
    case(
        "GET",
        "/api/admin/areas/{id}",
        "/api/admin/areas/{grid}",
        Body::None,
        admin_only(OK),
    ),
    case(
        "PATCH",
        "/api/admin/areas/{id}",
        "/api/admin/areas/{grid}",
        Body::Json(r#"{"wechat_group": "防诈群{uniq}"}"#),
        admin_only(OK),
    ),
    case(
        "GET",
        "/api/admin/users",
        "/api/admin/users",
        Body::None,
        admin_only(OK),
    ),
    case(
        "POST",
        "/api/admin/users",
        "/api/admin/users",
        Body::Json(
            r#"{"username": "user{uniq}", "password": "password-{uniq}", "role": "grid_worker", "areas": ["{grid}"]}"#,
        ),
        admin_only(CREATED),
    ),
    case(
        "GET",
        "/api/admin/users/{id}",
        "/api/admin/users/{user}",
        Body::None,
        admin_only(OK),
    ),
    case(
        "PUT",
        "/api/admin/users/{id}/areas",
        "/api/admin/users/{user}/areas",
        Body::Json(r#"{"areas": ["{grid}"]}"#),
        admin_only(OK),
    ),
    case(
        "POST",
        "/api/admin/imports/{key}",
        "/api/admin/imports/households?dry_run=true",
        Body::Csv,
        admin_only(ACCEPTED),
    ),
    case(
        "GET",
        "/api/admin/imports/{key}",
        "/api/admin/imports/{job}",
        Body::None,
        admin_only(OK),
    ),
];

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anon,
    Admin,
    Cadre,
    Grid,
    Police,
    Viewer,
}

impl Who {
    const ROLES: [Who; 5] = [Who::Admin, Who::Cadre, Who::Grid, Who::Police, Who::Viewer];

    fn want(self, w: &Want, side: usize) -> E {
        match self {
            Who::Anon => w.anon,
            Who::Admin => w.admin[side],
            Who::Cadre => w.cadre[side],
            Who::Grid => w.grid[side],
            Who::Police => w.police[side],
            Who::Viewer => w.viewer[side],
        }
    }
}

/// The ids of one side (area and its records).
struct Side {
    village: String,
    grid: String,
    household: String,
    member: String,
    rental: String,
    tenant: String,
    flag: String,
    household_flag: String,
    blob: String,
    household_blob: String,
    photo: Vec<u8>,
}

/// Everything the matrix needs.
struct Fixture {
    sides: [Side; 2],
    tokens: BTreeMap<Who, String>,
    /// Each role's own open tus upload (none for the viewer).
    own_uploads: BTreeMap<Who, String>,
    /// An upload of a user outside the matrix.
    other_upload: String,
    spare_user: String,
    job: String,
    campaign: String,
}

/// A small JPEG, distinct per `seed`.
fn jpeg(seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(64, 48, |x, y| Rgb([seed, (x * 3) as u8, (y * 5) as u8]));
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .unwrap();
    out
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn token(app: &TestApp, username: &str, password: &str) -> String {
    app.login(username, password).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn put_photo(app: &TestApp, token: &str, bytes: &[u8]) {
    let resp = app
        .client
        .put(app.url(&format!("/api/blobs/{}", sha(bytes))))
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "photo upload");
}

async fn tus_upload(app: &TestApp, token: &str, digest: &str) -> Option<String> {
    let meta = base64::engine::general_purpose::STANDARD.encode(digest);
    let resp = app
        .client
        .post(app.url("/api/blobs/tus"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "100")
        .header("Upload-Metadata", format!("sha256 {meta}"))
        .send()
        .await
        .unwrap();
    if resp.status() != 201 {
        return None;
    }
    let location = resp.headers()["location"].to_str().unwrap();
    Some(location.rsplit('/').next().unwrap().to_owned())
}

/// A side's records, written by its grid worker's device, with their photos.
async fn fill_side(app: &TestApp, dev: &mut Device, village: &str, grid: &str, seed: u8) -> Side {
    let photo = jpeg(seed);
    let household_photo = jpeg(seed + 100);
    let (blob, household_blob) = (sha(&photo), sha(&household_photo));
    let (household, member, rental, tenant, inspection) =
        (new_id(), new_id(), new_id(), new_id(), new_id());
    let mutations = vec![
        dev.put(
            "household",
            &household,
            grid,
            json!({"address": "幸福路 1 号", "kind": "registered", "photos": [household_blob]}),
        ),
        dev.put(
            "member",
            &member,
            grid,
            json!({"household_id": household, "name": "李四", "id_number": crate::sync::ID,
                   "phone": "13812345678", "has_smartphone": true}),
        ),
        dev.put(
            "rental",
            &rental,
            grid,
            json!({"address": "幸福路 2 号", "landlord_phone": "13912345678", "photos": [blob]}),
        ),
        dev.put(
            "tenant",
            &tenant,
            grid,
            json!({"rental_id": rental, "name": "王五", "id_number": crate::sync::ID,
                   "phone": "13712345678", "move_in": "2021-05-01"}),
        ),
        dev.put(
            "inspection",
            &inspection,
            grid,
            json!({"rental_id": rental, "indicators": ["A1"], "occupants_observed": 1}),
        ),
    ];
    let resp = dev.pushed(app, mutations).await;
    for r in resp["results"].as_array().unwrap() {
        assert_eq!(r["status"], "applied", "{resp}");
    }
    put_photo(app, &dev.token, &photo).await;
    put_photo(app, &dev.token, &household_photo).await;
    Side {
        village: village.into(),
        grid: grid.into(),
        household,
        member,
        rental,
        tenant,
        flag: String::new(),
        household_flag: String::new(),
        blob,
        household_blob,
        photo,
    }
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let (township, v1, g1) = app.area_tree(&admin).await;
    let resp = app
        .post(
            "/api/admin/areas",
            &json!({"name": "西岭村", "level": "village", "parent_id": township}),
            Some(&admin),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let v2 = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g2 = app.add_grid(&admin, &v2, "西岭一网格").await;
    for g in [&g1, &g2] {
        let resp = app
            .client
            .patch(app.url(&format!("/api/admin/areas/{g}")))
            .bearer_auth(&admin)
            .json(&json!({"qr_link": "https://example.cn/jzz?g=1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    app.add_user("cadre1", "cadre-password-1", "cadre", &[&v1])
        .await;
    app.add_user("grid1", "grid-password-1", "grid_worker", &[&g1])
        .await;
    app.add_user("police1", "police-password-1", "police", &[&v1])
        .await;
    app.add_user("viewer1", "viewer-password-1", "viewer", &[&v1])
        .await;
    app.add_user("grid2", "grid-password-2", "grid_worker", &[&g2])
        .await;
    let spare_user = app
        .add_user("spare1", "spare-password-1", "grid_worker", &[&g1])
        .await;
    let mut dev1 = Device::new(app, "grid1", "grid-password-1").await;
    let mut dev2 = Device::new(app, "grid2", "grid-password-2").await;
    let mut sides = [
        fill_side(app, &mut dev1, &v1, &g1, 1).await,
        fill_side(app, &mut dev2, &v2, &g2, 2).await,
    ];
    // The server's flags: the A1 inspection's fraud risk, and the household's own.
    let admin_dev = Device::new(app, "admin", "admin-password-1").await;
    let page = admin_dev.pull(app, json!({})).await;
    for side in &mut sides {
        for c in crate::sync::flags(&page) {
            let subject = c["fields"]["subject_id"].as_str().unwrap_or_default();
            let id = c["id"].as_str().unwrap().to_owned();
            if subject == side.rental && c["fields"]["kind"] == "fraud_risk" {
                side.flag = id;
            } else if subject == side.household {
                side.household_flag = id;
            }
        }
        assert!(!side.flag.is_empty() && !side.household_flag.is_empty());
    }
    let mut tokens = BTreeMap::new();
    tokens.insert(Who::Admin, admin.clone());
    tokens.insert(Who::Cadre, token(app, "cadre1", "cadre-password-1").await);
    tokens.insert(Who::Grid, dev1.token.clone());
    tokens.insert(
        Who::Police,
        token(app, "police1", "police-password-1").await,
    );
    tokens.insert(
        Who::Viewer,
        token(app, "viewer1", "viewer-password-1").await,
    );
    let mut own_uploads = BTreeMap::new();
    for who in Who::ROLES {
        if let Some(id) = tus_upload(app, &tokens[&who], &sides[0].blob).await {
            own_uploads.insert(who, id);
        }
    }
    assert!(!own_uploads.contains_key(&Who::Viewer));
    let other_upload = tus_upload(app, &dev2.token, &sides[1].blob).await.unwrap();
    let resp = app
        .client
        .post(app.url("/api/admin/imports/households?dry_run=true"))
        .bearer_auth(&admin)
        .header("Content-Type", "text/csv")
        .body(ROSTER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let job = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let campaign = app.get_json("/api/campaign", Some(&admin)).await["config"].to_string();
    Fixture {
        sides,
        tokens,
        own_uploads,
        other_upload,
        spare_user,
        job,
        campaign,
    }
}

const ROSTER: &str = "村,网格,门牌,户主\n东山村,第一网格,幸福路 9 号,赵六\n";

/// Fills the placeholders of a template for a caller and side.
fn fill(template: &str, fx: &Fixture, who: Who, side: usize, uniq: u32) -> String {
    let s = &fx.sides[side];
    let client = uuid::Uuid::now_v7().to_string();
    let hlc = format!("{:015}-00000-{client}", fangzha::db::now_ms() as u64 - 1000);
    let upload = if side == 0 {
        fx.own_uploads
            .get(&who)
            .cloned()
            // No upload of their own: an id nobody has.
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
    } else {
        fx.other_upload.clone()
    };
    template
        .replace("{campaign}", &fx.campaign)
        .replace("{client}", &client)
        .replace("{hlc}", &hlc)
        .replace("{new}", &new_id())
        .replace("{uniq}", &uniq.to_string())
        .replace("{village}", &s.village)
        .replace("{grid}", &s.grid)
        .replace("{household_flag}", &s.household_flag)
        .replace("{household_blob}", &s.household_blob)
        .replace("{household}", &s.household)
        .replace("{member}", &s.member)
        .replace("{rental}", &s.rental)
        .replace("{tenant}", &s.tenant)
        .replace("{flag}", &s.flag)
        .replace("{blob}", &s.blob)
        .replace("{upload}", &upload)
        .replace("{user}", &fx.spare_user)
        .replace("{job}", &fx.job)
}

/// Sends one row's request; returns (status, parsed JSON body if any, body as text).
async fn send(
    app: &TestApp,
    fx: &Fixture,
    c: &Case,
    who: Who,
    side: usize,
    uniq: u32,
) -> (u16, Option<Value>, String) {
    let path = fill(c.path, fx, who, side, uniq);
    let method = Method::from_bytes(c.method.as_bytes()).unwrap();
    let mut req = app.client.request(method, app.url(&path));
    if let Some(t) = fx.tokens.get(&who) {
        req = req.bearer_auth(t);
    }
    if path.starts_with("/api/blobs/tus") {
        req = req.header("Tus-Resumable", "1.0.0");
    }
    req = match c.body {
        Body::None => req,
        Body::Json(t) => req
            .header("Content-Type", "application/json")
            .body(fill(t, fx, who, side, uniq)),
        Body::Photo => req.body(fx.sides[side].photo.clone()),
        Body::TusCreate => req.header("Upload-Length", "100").header(
            "Upload-Metadata",
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(&fx.sides[side].blob)
            ),
        ),
        Body::TusPatch => req
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .body(vec![0xFF, 0xD8, 0xFF, 0xE0]),
        Body::Csv => req.header("Content-Type", "text/csv").body(ROSTER),
    };
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    (status, serde_json::from_slice(&body).ok(), text)
}

/// What a caller must never receive, whatever the endpoint: full ID numbers and phones
/// unless police or admin (SYNC.md: masked for the others), and the records of the other
/// side unless admin.
fn leak(fx: &Fixture, who: Who, text: &str) -> Option<String> {
    let full = [crate::sync::ID, "13812345678", "13712345678", "13912345678"];
    if matches!(who, Who::Anon | Who::Cadre | Who::Grid | Who::Viewer)
        && let Some(v) = full.iter().find(|v| text.contains(*v))
    {
        return Some(format!("full personal value {v} delivered"));
    }
    let other = &fx.sides[1];
    let ids = [
        &other.household,
        &other.member,
        &other.rental,
        &other.tenant,
        &other.flag,
        &other.household_flag,
    ];
    if who != Who::Admin
        && let Some(id) = ids.iter().find(|id| text.contains(id.as_str()))
    {
        return Some(format!("a record of the other area ({id}) delivered"));
    }
    None
}

/// Police receive no record of the household side (DOMAIN.md: rentals, tenants,
/// inspections and their flags only).
fn police_leak(fx: &Fixture, who: Who, text: &str) -> Option<String> {
    let own = &fx.sides[0];
    let household_side = [&own.household, &own.member, &own.household_flag];
    (who == Who::Police)
        .then(|| {
            household_side
                .into_iter()
                .find(|id| text.contains(id.as_str()))
        })
        .flatten()
        .map(|id| format!("a household-side record ({id}) delivered to police"))
}

/// Why an answer is not what the row wants, if it is not.
fn mismatch(want: E, status: u16, body: &Option<Value>, method: &str) -> Option<String> {
    let push_result = |b: &Option<Value>| -> Option<(String, String)> {
        let r = &b.as_ref()?["results"][0];
        Some((
            r["status"].as_str()?.to_owned(),
            r["error"]["code"].as_str().unwrap_or_default().to_owned(),
        ))
    };
    let got = match want {
        E::S(s) if s == status => {
            if status >= 400 && method != "HEAD" {
                return json_error_problem(body);
            }
            return None;
        }
        E::Applied if status == 200 => match push_result(body) {
            Some((s, _)) if s == "applied" => return None,
            other => format!("200 with {other:?}"),
        },
        E::Rejected(code) if status == 200 => match push_result(body) {
            Some((s, c)) if s == "rejected" && c == code => return None,
            other => format!("200 with {other:?}"),
        },
        E::Missing(n) if status == 200 => {
            let missing = body.as_ref().and_then(|b| b["missing"].as_array().cloned());
            match missing {
                Some(m) if m.len() == n => return None,
                other => format!("200 with missing {other:?}"),
            }
        }
        _ => {
            let text = body.as_ref().map(Value::to_string).unwrap_or_default();
            format!("{status} {}", text.chars().take(200).collect::<String>())
        }
    };
    Some(format!("want {want:?}, got {got}"))
}

/// Every error is JSON `{error, message}` with a machine code and a Chinese message.
fn json_error_problem(body: &Option<Value>) -> Option<String> {
    let Some(b) = body else {
        return Some("error without a JSON body".into());
    };
    let code_ok = b["error"]
        .as_str()
        .is_some_and(|c| !c.is_empty() && c.bytes().all(|x| x.is_ascii_lowercase() || x == b'_'));
    let message_ok = b["message"]
        .as_str()
        .is_some_and(|m| m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
    (!code_ok || !message_ok).then(|| format!("error body lacks a code or a Chinese message: {b}"))
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_matrix_says() {
    // Every role logs in many times here; login limits have their own tests (security.rs).
    let app = spawn_app_with(|s| {
        s.login.max_attempts_per_user = 0;
        s.login.max_attempts_per_ip = 0;
    })
    .await;
    let fx = fixture(&app).await;
    let mut problems = Vec::new();
    let mut uniq = 0;
    let mut callers = vec![(Who::Anon, 0)];
    for who in Who::ROLES {
        callers.push((who, 0));
        callers.push((who, 1));
    }
    for c in MATRIX {
        for &(who, side) in &callers {
            uniq += 1;
            let (status, body, text) = send(&app, &fx, c, who, side, uniq).await;
            let why = mismatch(who.want(&c.want, side), status, &body, c.method)
                .or_else(|| leak(&fx, who, &text))
                .or_else(|| police_leak(&fx, who, &text));
            if let Some(why) = why {
                let area = ["own", "other"][side];
                problems.push(format!(
                    "{} {} as {who:?} ({area}): {why}",
                    c.method, c.path
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} answers differ from the matrix:\n{}",
        problems.len(),
        MATRIX.len() * callers.len(),
        problems.join("\n")
    );
}

/// (method, pattern) of every route `server/src/api/mod.rs` registers, read from its source:
/// `web::scope("…")` prefixes, `resource("…")` patterns and the `.route(web::get()…)` calls
/// after each.
fn registered_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/server/src/api/mod.rs"
    ))
    .unwrap();
    let mut routes = BTreeSet::new();
    // Open scopes: (prefix, paren depth at which the scope's enclosing call closes).
    let mut scopes: Vec<(String, usize)> = Vec::new();
    let mut resource = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    let b = src.as_bytes();
    let literal = |at: usize| -> (String, usize) {
        let start = at + 1;
        let end = start + src[start..].find('"').unwrap();
        (src[start..end].to_owned(), end + 1)
    };
    let prefix = |scopes: &Vec<(String, usize)>| -> String {
        scopes.iter().map(|(p, _)| p.as_str()).collect()
    };
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("web::scope(\"") {
            let (p, next) = literal(i + "web::scope(".len());
            scopes.push((p, depth));
            depth += 1;
            i = next;
        } else if rest.starts_with("resource(\"") {
            let (p, next) = literal(i + "resource(".len());
            resource = format!("{}{p}", prefix(&scopes));
            depth += 1;
            i = next;
        } else if let Some(method) = [
            ("web::get()", "GET"),
            ("web::post()", "POST"),
            ("web::put()", "PUT"),
            ("web::patch()", "PATCH"),
            ("web::delete()", "DELETE"),
            ("web::head()", "HEAD"),
            ("web::method(Method::OPTIONS)", "OPTIONS"),
        ]
        .iter()
        .find(|(token, _)| rest.starts_with(token))
        {
            routes.insert((method.1.to_owned(), resource.clone()));
            i += method.0.len();
        } else if rest.starts_with('"') {
            i = literal(i).1;
        } else {
            match b[i] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    while scopes.last().is_some_and(|(_, d)| *d > depth) {
                        scopes.pop();
                    }
                }
                _ => {}
            }
            i += rest.chars().next().unwrap().len_utf8();
        }
    }
    routes
}

#[test]
fn the_matrix_covers_every_registered_route() {
    let registered = registered_routes();
    assert!(
        registered.len() > 30 && registered.contains(&("GET".into(), "/api/blobs/{sha256}".into())),
        "the route reader found too little: {registered:?}"
    );
    let covered: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|c| (c.method.to_owned(), c.route.to_owned()))
        .collect();
    let missing: Vec<_> = registered.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&registered).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "routes without a matrix row: {missing:?}; matrix rows of no registered route: {unknown:?}"
    );
    // Routes are registered in `api/mod.rs` only, so reading it finds them all.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/server/src/api");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "mod.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("web::resource(") && !text.contains(".route("),
            "{} registers routes; the matrix test reads only api/mod.rs",
            path.display()
        );
    }
}
