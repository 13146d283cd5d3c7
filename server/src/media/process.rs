//! Turning uploaded bytes into the two stored variants: sniff the type from the bytes, check
//! that the image is complete, decode under strict limits, turn it upright by its EXIF
//! orientation, and re-encode `display` and `thumb` JPEGs from the pixels alone — so no EXIF,
//! GPS, XMP or ICC data of the upload survives. Pure and blocking: callers run it on the
//! bounded processing pool ([`super::Media::process`]).

use std::io::Cursor;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// Most memory a decode may allocate for its pixels.
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;
/// Long edge of the `display` variant.
pub const DISPLAY_EDGE: u32 = 1600;
/// Long edge of the `thumb` variant.
pub const THUMB_EDGE: u32 = 320;
/// JPEG quality of both variants.
pub const JPEG_QUALITY: u8 = 80;

/// An uploaded type the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG.
    Png,
    /// WebP (RIFF container).
    Webp,
}

impl SourceType {
    /// The MIME type recorded for the upload.
    pub fn mime(self) -> &'static str {
        match self {
            SourceType::Jpeg => "image/jpeg",
            SourceType::Png => "image/png",
            SourceType::Webp => "image/webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            SourceType::Jpeg => ImageFormat::Jpeg,
            SourceType::Png => ImageFormat::Png,
            SourceType::Webp => ImageFormat::WebP,
        }
    }
}

/// Why an upload cannot become a photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError {
    /// Not JPEG, PNG or WebP; `heif` when it is an HEIC/HEIF (iPhone default) file, which
    /// gets a message telling the user how to switch the camera to JPEG.
    Unsupported {
        /// The bytes are an ISO-BMFF (`ftyp`) image such as HEIC.
        heif: bool,
    },
    /// Truncated, corrupt, or beyond the decode limits.
    Invalid(String),
}

impl std::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessError::Unsupported { heif: true } => write!(f, "HEIC/HEIF is not supported"),
            ProcessError::Unsupported { heif: false } => write!(f, "unsupported image type"),
            ProcessError::Invalid(why) => write!(f, "invalid image: {why}"),
        }
    }
}

impl std::error::Error for ProcessError {}

/// The stored result of one upload.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The sniffed upload type.
    pub source: SourceType,
    /// Upright width of the upload.
    pub width: u32,
    /// Upright height of the upload.
    pub height: u32,
    /// JPEG, long edge at most [`DISPLAY_EDGE`].
    pub display: Vec<u8>,
    /// JPEG, long edge at most [`THUMB_EDGE`].
    pub thumb: Vec<u8>,
    /// (latitude, longitude) in degrees, when asked for and present.
    pub gps: Option<(f64, f64)>,
}

/// Tells the type from the first bytes; the file name and `Content-Type` are not trusted.
pub fn sniff(bytes: &[u8]) -> Result<SourceType, ProcessError> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(SourceType::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(SourceType::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Ok(SourceType::Webp)
    } else {
        let heif = bytes.len() >= 12 && &bytes[4..8] == b"ftyp";
        Err(ProcessError::Unsupported { heif })
    }
}

/// Processes an upload into its variants. Decoder panics are caught here and become
/// [`ProcessError::Invalid`], so a hostile file cannot take a worker thread down.
pub fn process(bytes: &[u8], read_gps: bool) -> Result<Processed, ProcessError> {
    let source = sniff(bytes)?;
    match std::panic::catch_unwind(|| process_inner(bytes, source, read_gps)) {
        Ok(result) => result,
        Err(_) => Err(ProcessError::Invalid("decoder panicked".into())),
    }
}

fn process_inner(
    bytes: &[u8],
    source: SourceType,
    read_gps: bool,
) -> Result<Processed, ProcessError> {
    // The JPEG decoder pads a truncated scan with grey instead of failing; a photo cut off by
    // a dropped upload must not be stored as if it were whole.
    if source == SourceType::Jpeg && !jpeg_is_complete(bytes) {
        return Err(ProcessError::Invalid(
            "JPEG ends before its EOI marker".into(),
        ));
    }
    let image = decode_upright(bytes, source)?;
    let rgb = flatten(image);
    let (width, height) = rgb.dimensions();
    let display = fit(&rgb, DISPLAY_EDGE)?;
    // From the display variant, not the original: a quarter of the work, same result.
    let thumb = fit(display.as_ref().unwrap_or(&rgb), THUMB_EDGE)?;
    let display = encode_jpeg(display.as_ref().unwrap_or(&rgb))?;
    let thumb = encode_jpeg(thumb.as_ref().unwrap_or(&rgb))?;
    let gps = if read_gps { read_exif_gps(bytes) } else { None };
    Ok(Processed {
        source,
        width,
        height,
        display,
        thumb,
        gps,
    })
}

/// Decodes with the size and allocation limits and applies the EXIF orientation.
fn decode_upright(bytes: &[u8], source: SourceType) -> Result<DynamicImage, ProcessError> {
    let invalid = |e: image::ImageError| ProcessError::Invalid(e.to_string());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), source.format());
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    // Some decoders treat `max_alloc` as advisory; the output buffer alone is checked here.
    let (w, h) = decoder.dimensions();
    let needed = u64::from(w) * u64::from(h) * u64::from(decoder.color_type().bytes_per_pixel());
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || needed > MAX_ALLOC {
        return Err(ProcessError::Invalid(format!("{w}×{h} beyond the limits")));
    }
    let orientation = decoder.orientation().map_err(invalid)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(invalid)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// RGB8 pixels; transparent areas (PNG, WebP) are laid over white, as a viewer shows them.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u16::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// The image scaled so its long edge is `edge`, or `None` when it is already that small.
fn fit(src: &RgbImage, edge: u32) -> Result<Option<RgbImage>, ProcessError> {
    let (w, h) = src.dimensions();
    let long = w.max(h);
    if long <= edge {
        return Ok(None);
    }
    let scale = f64::from(edge) / f64::from(long);
    let dw = ((f64::from(w) * scale).round() as u32).max(1);
    let dh = ((f64::from(h) * scale).round() as u32).max(1);
    let mut dst = RgbImage::new(dw, dh);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(src, &mut dst, &options)
        .map_err(|e| ProcessError::Invalid(format!("resize: {e}")))?;
    Ok(Some(dst))
}

fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, ProcessError> {
    let mut out = Vec::with_capacity(image.as_raw().len() / 8);
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(image)
        .map_err(|e| ProcessError::Invalid(format!("encode: {e}")))?;
    Ok(out)
}

/// Whether a JPEG's segments and entropy-coded scans run through to an EOI marker. Walks the
/// marker structure (so bytes after EOI, as some phones append, do not matter) and skips the
/// scan data, where `FF 00` is a stuffed byte and `FF D0`–`FF D7` are restart markers.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        if b.get(i) != Some(&0xFF) {
            return false;
        }
        while b.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = b.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return false;
        };
        if len < 2 || i + len > b.len() {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data up to the next real marker.
            loop {
                let Some(pos) = b[i..].iter().position(|&x| x == 0xFF) else {
                    return false;
                };
                let j = i + pos;
                match b.get(j + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7) => i = j + 2,
                    Some(0xFF) => i = j + 1,
                    Some(_) => {
                        i = j;
                        break;
                    }
                }
            }
        }
    }
}

/// The GPS position in the upload's EXIF, if it has a usable one.
fn read_exif_gps(bytes: &[u8]) -> Option<(f64, f64)> {
    use exif::{In, Tag, Value};
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()?;
    let coord = |tag: Tag, ref_tag: Tag, negative: u8| -> Option<f64> {
        let field = exif.get_field(tag, In::PRIMARY)?;
        let Value::Rational(parts) = &field.value else {
            return None;
        };
        let [d, m, s] = parts.as_slice() else {
            return None;
        };
        if d.denom == 0 || m.denom == 0 || s.denom == 0 {
            return None;
        }
        let deg = d.to_f64() + m.to_f64() / 60.0 + s.to_f64() / 3600.0;
        let sign = match &exif.get_field(ref_tag, In::PRIMARY)?.value {
            Value::Ascii(v) if v.first().and_then(|s| s.first()) == Some(&negative) => -1.0,
            _ => 1.0,
        };
        Some(sign * deg)
    };
    let lat = coord(Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S')?;
    let lng = coord(Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W')?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)).then_some((lat, lng))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    #[test]
    fn sniffing_goes_by_bytes_and_names_heic() {
        assert_eq!(sniff(&jpeg(4, 4)), Ok(SourceType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Ok(SourceType::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(SourceType::Webp));
        assert_eq!(
            sniff(b"\0\0\0\x18ftypheic\0\0\0\0"),
            Err(ProcessError::Unsupported { heif: true })
        );
        assert_eq!(
            sniff(b"GIF89a......"),
            Err(ProcessError::Unsupported { heif: false })
        );
    }

    #[test]
    fn a_jpeg_is_complete_only_through_its_eoi() {
        let whole = jpeg(64, 48);
        assert!(jpeg_is_complete(&whole));
        let mut trailer = whole.clone();
        trailer.extend_from_slice(b"vendor trailer after EOI");
        assert!(jpeg_is_complete(&trailer));
        for cut in [3, 20, whole.len() / 2, whole.len() - 2, whole.len() - 1] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn variants_fit_their_long_edges_and_small_images_are_not_enlarged() {
        let p = process(&jpeg(2000, 1000), false).unwrap();
        assert_eq!((p.width, p.height), (2000, 1000));
        let d = image::load_from_memory(&p.display).unwrap();
        let t = image::load_from_memory(&p.thumb).unwrap();
        assert_eq!((d.width(), d.height()), (1600, 800));
        assert_eq!((t.width(), t.height()), (320, 160));
        let small = process(&jpeg(100, 60), false).unwrap();
        let t = image::load_from_memory(&small.thumb).unwrap();
        assert_eq!((t.width(), t.height()), (100, 60));
    }

    #[test]
    fn corrupt_scan_data_is_answered_never_a_panic() {
        // Whether the decoder refuses the noise or paints it, the caller gets an answer.
        let mut bytes = jpeg(32, 32);
        let n = bytes.len();
        for b in &mut bytes[200..n - 2] {
            *b = 0xA5;
        }
        assert!(matches!(
            process(&bytes, false),
            Err(ProcessError::Invalid(_)) | Ok(_)
        ));
    }
}
