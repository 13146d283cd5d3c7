//! Security headers sent with every response (the app page, its assets and the API).
//!
//! The Content-Security-Policy fits what the built app does: its scripts and styles come
//! from its own origin (Vite emits no inline script; Svelte sets some inline `style`
//! attributes, hence `'unsafe-inline'` for styles only); photo previews and downloads are
//! `blob:` URLs; the desk map may draw raster tiles from the configured `map_tile_url`
//! origin; all API calls and the service worker are same-origin.

use actix_web::middleware::DefaultHeaders;

/// The Content-Security-Policy for this configuration.
pub fn content_security_policy(map_tile_url: Option<&str>) -> String {
    let mut img = "'self' blob: data:".to_owned();
    if let Some(origin) = map_tile_url.and_then(tile_origin) {
        img.push(' ');
        img.push_str(&origin);
    }
    [
        "default-src 'self'".to_owned(),
        "script-src 'self'".to_owned(),
        "style-src 'self' 'unsafe-inline'".to_owned(),
        format!("img-src {img}"),
        "font-src 'self' data:".to_owned(),
        "connect-src 'self'".to_owned(),
        "worker-src 'self'".to_owned(),
        "manifest-src 'self'".to_owned(),
        "object-src 'none'".to_owned(),
        "base-uri 'none'".to_owned(),
        "form-action 'self'".to_owned(),
        "frame-ancestors 'none'".to_owned(),
    ]
    .join("; ")
}

/// `scheme://host[:port]` of an absolute http(s) tile template; `None` for a same-origin
/// path (already covered by `'self'`) or anything that cannot be a CSP source safely.
fn tile_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.trim().split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let valid = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    valid.then(|| format!("{scheme}://{authority}"))
}

/// Every security header, for `App::wrap`; `tls` adds HSTS (only meaningful over HTTPS).
pub fn default_headers(map_tile_url: Option<&str>, tls: bool) -> DefaultHeaders {
    let mut headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add((
            "Content-Security-Policy",
            content_security_policy(map_tile_url),
        ))
        .add((
            "Permissions-Policy",
            "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()",
        ))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if tls {
        headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_origins_are_added_only_when_they_are_plain_origins() {
        let csp = content_security_policy(Some(
            "https://t0.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}&l={z}",
        ));
        assert!(csp.contains("img-src 'self' blob: data: https://t0.tianditu.gov.cn;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("script-src 'self';"));

        let local = content_security_policy(Some("/tiles/{z}/{x}/{y}.png"));
        assert!(local.contains("img-src 'self' blob: data:;"));
        // A value that would smuggle another directive is left out.
        let hostile = content_security_policy(Some("https://a.example; script-src *"));
        assert!(hostile.contains("img-src 'self' blob: data:;"));
        assert!(!hostile.contains("script-src *"));
    }
}
