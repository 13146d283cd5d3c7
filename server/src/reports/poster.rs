//! A grid's printable QR poster (A4, SVG): its 金钟罩 registration QR code, the grid's WeChat
//! group and its grid workers, for the wall of the village committee and the shop doors.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// What a poster shows.
pub struct Poster<'a> {
    /// e.g. 清溪镇 东山村 第一网格
    pub place: &'a str,
    /// The grid's 金钟罩 registration link (the QR code's content).
    pub qr_link: &'a str,
    /// The grid's WeChat group name.
    pub wechat_group: Option<&'a str>,
    /// Grid workers' names.
    pub workers: &'a [String],
}

/// Escapes text for SVG (XML) content.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The poster as an SVG document (units: millimetres of an A4 page); `None` when the link
/// is too long for a QR code.
pub fn svg(p: &Poster<'_>) -> Option<String> {
    // Level M survives a crease or a bit of dirt on a printed poster.
    let code = QrCode::with_error_correction_level(p.qr_link.as_bytes(), EcLevel::M).ok()?;
    let qr = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let qr = nest(&qr, 45, 80, 120)?;
    let group = p
        .wechat_group
        .filter(|g| !g.trim().is_empty())
        .map(|g| format!("网格微信群：{}", esc(g)))
        .unwrap_or_else(|| "网格微信群：请向网格员咨询".into());
    let workers = if p.workers.is_empty() {
        "网格员：—".to_owned()
    } else {
        format!("网格员：{}", esc(&p.workers.join("、")))
    };
    Some(format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297" font-family="'WenQuanYi Micro Hei','Noto Sans CJK SC','Microsoft YaHei',sans-serif">
<rect width="210" height="297" fill="#ffffff"/>
<rect x="0" y="0" width="210" height="38" fill="#c62828"/>
<text x="105" y="18" font-size="11" fill="#ffffff" text-anchor="middle" font-weight="bold">扫码注册「金钟罩」</text>
<text x="105" y="30" font-size="6.5" fill="#ffffff" text-anchor="middle">守护您和家人的钱袋子 · 一户不漏，人人注册</text>
<text x="105" y="58" font-size="8" fill="#212121" text-anchor="middle" font-weight="bold">{place}</text>
<text x="105" y="70" font-size="5" fill="#424242" text-anchor="middle">用微信扫描下方二维码，按提示完成注册</text>
{qr}
<text x="105" y="218" font-size="6" fill="#212121" text-anchor="middle">{group}</text>
<text x="105" y="230" font-size="6" fill="#212121" text-anchor="middle">{workers}</text>
<text x="105" y="252" font-size="5" fill="#c62828" text-anchor="middle">不听、不信、不转账 · 陌生来电多核实</text>
<text x="105" y="262" font-size="5" fill="#424242" text-anchor="middle">遇到诈骗请拨打 110，或咨询 96110 反诈专线</text>
</svg>
"##,
        place = esc(p.place),
    ))
}

/// Re-roots the renderer's SVG document as an element placed at (x, y), `size` wide and
/// high on the page: its viewBox and drawing kept, its pixel size and XML header dropped.
fn nest(doc: &str, x: u32, y: u32, size: u32) -> Option<String> {
    let start = doc.find("<svg")?;
    let tag_end = start + doc[start..].find('>')?;
    let tag = &doc[start..tag_end];
    let view_box = tag.split("viewBox=\"").nth(1)?.split('"').next()?;
    let body_end = doc.rfind("</svg>")?;
    let body = &doc[tag_end + 1..body_end];
    Some(format!(
        r#"<svg x="{x}" y="{y}" width="{size}" height="{size}" viewBox="{view_box}" shape-rendering="crispEdges">{body}</svg>"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poster_holds_the_code_and_escaped_names() {
        let workers = ["王丽".to_owned(), "<李四>".to_owned()];
        let out = svg(&Poster {
            place: "清溪镇 东山村 第一网格",
            qr_link: "https://example.gov.cn/jzz?grid=g1",
            wechat_group: Some("东山村一网格反诈群"),
            workers: &workers,
        })
        .unwrap();
        assert!(out.starts_with("<?xml"));
        assert!(out.contains("清溪镇 东山村 第一网格"));
        assert!(out.contains("东山村一网格反诈群"));
        assert!(out.contains("王丽、&lt;李四&gt;"));
        assert!(!out.contains("<李四>"));
        // The QR code's modules are drawn as a path inside the nested, resized <svg>.
        assert!(out.contains(r#"<svg x="45" y="80" width="120" height="120" viewBox="0 0 "#));
        assert!(out.matches("<svg").count() == 2);
        assert!(out.contains("<path"), "{out}");
    }
}
