//! Turning uploaded bytes into the two stored variants: sniff the type from the bytes, check
//! that the image is complete, decode under strict limits, turn it upright by its EXIF
//! orientation, and re-encode `display` and `thumb` JPEGs from the pixels alone — so no EXIF,
//! GPS, XMP or ICC data of the upload survives. Pure and blocking: callers run it on the
//! bounded processing pool ([`super::Media::process`]).
//!
//! Speed (docs/PHOTOS.md, "Processing cost"): a JPEG is decoded at the smallest of the
//! IDCT scales 1/1, 1/2, 1/4, 1/8 that still covers the largest variant wanted
//! (`jpeg-decoder`'s `scale`, libjpeg's shrink-on-load), so a 12 MP photo is decoded at
//! 2000×1500 for the 1600 px display, then resized (Lanczos3) and only then turned upright;
//! the thumb is made from the display. JPEGs are written with `jpeg-encoder`. PNG, WebP and the
//! JPEG kinds `jpeg-decoder` cannot scale (lossless, 16-bit, CMYK) go through `image` whole.

use std::io::Cursor;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use jpeg_decoder::{CodingProcess, PixelFormat};

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
    guarded(|| process_inner(bytes, source, read_gps))
}

/// The `thumb` variant alone, with the same checks, limits and panic guard as [`process`]:
/// the work `vipsthumbnail -s 320` does, so the photo bench can compare like with like.
pub fn thumbnail(bytes: &[u8]) -> Result<Vec<u8>, ProcessError> {
    let source = sniff(bytes)?;
    guarded(|| {
        let decoded = decode(bytes, source, THUMB_EDGE)?;
        let (w, h) = decoded.upright_size();
        let thumb = decoded.render(fit_size(w, h, THUMB_EDGE))?;
        encode_jpeg(&thumb)
    })
}

fn guarded<T>(work: impl FnOnce() -> Result<T, ProcessError>) -> Result<T, ProcessError> {
    // The closures only read the caller's bytes, so nothing half-changed is seen after a panic.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(_) => Err(ProcessError::Invalid("decoder panicked".into())),
    }
}

fn process_inner(
    bytes: &[u8],
    source: SourceType,
    read_gps: bool,
) -> Result<Processed, ProcessError> {
    let decoded = decode(bytes, source, DISPLAY_EDGE)?;
    let (width, height) = decoded.upright_size();
    let display = decoded.render(fit_size(width, height, DISPLAY_EDGE))?;
    // From the display variant, not the decoded pixels: far less to read, same result.
    let thumb = resize(&display, fit_size(width, height, THUMB_EDGE))?;
    let display_jpeg = encode_jpeg(&display)?;
    let thumb_jpeg = encode_jpeg(&thumb)?;
    let gps = if read_gps { read_exif_gps(bytes) } else { None };
    Ok(Processed {
        source,
        width,
        height,
        display: display_jpeg,
        thumb: thumb_jpeg,
        gps,
    })
}

/// Pixels as stored in the file (not yet upright), possibly at a reduced scale, with the
/// file's full size and the orientation that makes them upright.
struct Decoded {
    pixels: RgbImage,
    full: (u32, u32),
    orientation: Orientation,
}

impl Decoded {
    /// The upload's size once turned upright.
    fn upright_size(&self) -> (u32, u32) {
        let (w, h) = self.full;
        if swaps_sides(self.orientation) {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// The pixels resized to `size` (upright width × height), then turned upright: turning
    /// the small result is cheaper than turning the decoded image.
    fn render(self, size: (u32, u32)) -> Result<RgbImage, ProcessError> {
        let stored = if swaps_sides(self.orientation) {
            (size.1, size.0)
        } else {
            size
        };
        let resized = if self.pixels.dimensions() == stored {
            self.pixels
        } else {
            resize(&self.pixels, stored)?
        };
        let mut image = DynamicImage::ImageRgb8(resized);
        image.apply_orientation(self.orientation);
        Ok(image.into_rgb8())
    }
}

fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Decodes enough pixels for variants whose long edge is at most `edge`, under the limits.
/// The JPEG EOI check runs first: the decoders pad a truncated scan with grey instead of
/// failing, and a photo cut off by a dropped upload must not be stored as if it were whole.
fn decode(bytes: &[u8], source: SourceType, edge: u32) -> Result<Decoded, ProcessError> {
    if source == SourceType::Jpeg {
        if !jpeg_is_complete(bytes) {
            return Err(ProcessError::Invalid(
                "JPEG ends before its EOI marker".into(),
            ));
        }
        if let Some(decoded) = decode_jpeg_scaled(bytes, edge)? {
            return Ok(decoded);
        }
    }
    decode_whole(bytes, source)
}

/// A JPEG decoded at the smallest IDCT scale whose result still covers `edge` on the long
/// side. `None` for the kinds `jpeg-decoder` does not scale, which [`decode_whole`] takes.
fn decode_jpeg_scaled(bytes: &[u8], edge: u32) -> Result<Option<Decoded>, ProcessError> {
    use jpeg_decoder::Error;
    let invalid = |e: Error| ProcessError::Invalid(e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    match decoder.read_info() {
        Ok(()) => {}
        Err(Error::Unsupported(_)) => return Ok(None),
        Err(e) => return Err(invalid(e)),
    }
    let Some(info) = decoder.info() else {
        return Err(ProcessError::Invalid("JPEG without a frame header".into()));
    };
    let channels: u64 = match info.pixel_format {
        PixelFormat::RGB24 => 3,
        PixelFormat::L8 => 1,
        PixelFormat::L16 | PixelFormat::CMYK32 => return Ok(None),
    };
    if info.coding_process == CodingProcess::Lossless {
        return Ok(None);
    }
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    check_side_limits(w, h)?;
    let target = fit_size(w, h, edge);
    let (ow, oh) = decoder
        .scale(target.0 as u16, target.1 as u16)
        .map_err(invalid)?;
    let (ow, oh) = (u64::from(ow), u64::from(oh));
    // What the decode holds at its peak: component planes and the interleaved output at the
    // chosen scale, and for a progressive file every coefficient of the full-size image
    // (2 bytes each, components bounded as if none were subsampled, padded to 32-px MCUs).
    let coefficients = if info.coding_process == CodingProcess::DctProgressive {
        let pad = |v: u32| u64::from(v.div_ceil(32) * 32);
        2 * channels * pad(w) * pad(h)
    } else {
        0
    };
    let needed = 2 * ow * oh * channels + coefficients;
    if needed > MAX_ALLOC {
        return Err(ProcessError::Invalid(format!(
            "{w}×{h} needs {needed} bytes to decode, beyond the limit"
        )));
    }
    decoder.set_max_decoding_buffer_size(MAX_ALLOC as usize);
    let data = decoder.decode().map_err(invalid)?;
    let (ow, oh) = (ow as u32, oh as u32);
    let pixels = match info.pixel_format {
        PixelFormat::L8 => RgbImage::from_fn(ow, oh, |x, y| {
            let v = data.get((y * ow + x) as usize).copied().unwrap_or(0);
            image::Rgb([v, v, v])
        }),
        _ => RgbImage::from_raw(ow, oh, data)
            .ok_or_else(|| ProcessError::Invalid("JPEG decoded to a short buffer".into()))?,
    };
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Ok(Some(Decoded {
        pixels,
        full: (w, h),
        orientation,
    }))
}

fn check_side_limits(w: u32, h: u32) -> Result<(), ProcessError> {
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(ProcessError::Invalid(format!("{w}×{h} beyond the limits")));
    }
    Ok(())
}

/// Decodes every pixel through `image`, with its size and allocation limits.
fn decode_whole(bytes: &[u8], source: SourceType) -> Result<Decoded, ProcessError> {
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
    check_side_limits(w, h)?;
    let needed = u64::from(w) * u64::from(h) * u64::from(decoder.color_type().bytes_per_pixel());
    if needed > MAX_ALLOC {
        return Err(ProcessError::Invalid(format!("{w}×{h} beyond the limits")));
    }
    let orientation = decoder.orientation().map_err(invalid)?;
    let image = DynamicImage::from_decoder(decoder).map_err(invalid)?;
    Ok(Decoded {
        pixels: flatten(image),
        full: (w, h),
        orientation,
    })
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

/// The size of a `w`×`h` image scaled so its long edge is `edge`; unchanged when it is
/// already that small (variants are never enlarged).
fn fit_size(w: u32, h: u32, edge: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= edge {
        return (w, h);
    }
    let scale = f64::from(edge) / f64::from(long);
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    (side(w), side(h))
}

/// `src` resized to exactly `size` with Lanczos3 (a copy when the size is already right).
fn resize(src: &RgbImage, size: (u32, u32)) -> Result<RgbImage, ProcessError> {
    if src.dimensions() == size {
        return Ok(src.clone());
    }
    let mut dst = RgbImage::new(size.0, size.1);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(src, &mut dst, &options)
        .map_err(|e| ProcessError::Invalid(format!("resize: {e}")))?;
    Ok(dst)
}

/// Baseline JPEG at [`JPEG_QUALITY`], 4:2:0 chroma below quality 90 (as libjpeg does), with a
/// JFIF header and nothing else: no EXIF, XMP or ICC segment is ever written.
fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>, ProcessError> {
    let (w, h) = image.dimensions();
    let (w, h) = (
        u16::try_from(w).map_err(|_| ProcessError::Invalid("variant too wide".into()))?,
        u16::try_from(h).map_err(|_| ProcessError::Invalid("variant too tall".into()))?,
    );
    let mut out = Vec::with_capacity(image.as_raw().len() / 8);
    jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY)
        .encode(image.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
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
    use image::codecs::jpeg::JpegEncoder;

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

    /// `jpeg` with an APP1 EXIF segment holding only `Orientation = orientation`.
    fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"II*\0\x08\0\0\0\x01\0".to_vec();
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&(app1.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    /// Red on the left third, blue elsewhere: shows where the left edge went.
    fn red_left(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, _| {
            if x < w / 3 {
                image::Rgb([220, 20, 30])
            } else {
                image::Rgb([20, 40, 200])
            }
        })
    }

    fn encode(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(img)
            .unwrap();
        out
    }

    fn is_red(p: &image::Rgb<u8>) -> bool {
        p[0] > 170 && p[1] < 80 && p[2] < 80
    }

    #[test]
    fn a_large_jpeg_is_decoded_at_a_reduced_scale_with_the_same_sizes_and_colours() {
        // 3300×1000: decoded at 1/2 (1650×500) for the display, 1/8 (413×125) for a thumb.
        let bytes = encode(&red_left(3300, 1000));
        let mut decoder = jpeg_decoder::Decoder::new(&bytes[..]);
        assert_eq!(decoder.scale(1600, 485).unwrap(), (1650, 500));
        let p = process(&bytes, false).unwrap();
        assert_eq!((p.width, p.height), (3300, 1000));
        let d = image::load_from_memory(&p.display).unwrap().to_rgb8();
        let t = image::load_from_memory(&p.thumb).unwrap().to_rgb8();
        assert_eq!(d.dimensions(), (1600, 485));
        assert_eq!(t.dimensions(), (320, 97));
        assert!(is_red(d.get_pixel(100, 240)) && !is_red(d.get_pixel(1500, 240)));
        assert!(is_red(t.get_pixel(20, 48)) && !is_red(t.get_pixel(300, 48)));
        let alone = image::load_from_memory(&thumbnail(&bytes).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(alone.dimensions(), (320, 97));
        assert!(is_red(alone.get_pixel(20, 48)) && !is_red(alone.get_pixel(300, 48)));
    }

    #[test]
    fn orientation_is_applied_after_a_scaled_decode_and_no_exif_is_written() {
        // Orientation 6: the stored left edge is the upright top. Decoded at 1/2 (1800×600)
        // for the display, 1/4 for a thumb alone.
        let bytes = with_orientation(&encode(&red_left(3600, 1200)), 6);
        let p = process(&bytes, false).unwrap();
        assert_eq!((p.width, p.height), (1200, 3600));
        for (variant, size) in [(&p.display, (533, 1600)), (&p.thumb, (107, 320))] {
            assert!(
                !variant.windows(6).any(|w| w == b"Exif\0\0"),
                "a variant carries EXIF"
            );
            let img = image::load_from_memory(variant).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), size);
            let (w, h) = size;
            assert!(is_red(img.get_pixel(w / 2, h / 20)), "top is red");
            assert!(!is_red(img.get_pixel(w / 2, h - h / 20)), "bottom is not");
        }
        let t = image::load_from_memory(&thumbnail(&bytes).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(t.dimensions(), (107, 320));
        assert!(is_red(t.get_pixel(53, 10)) && !is_red(t.get_pixel(53, 310)));
    }

    #[test]
    fn grey_and_progressive_jpegs_go_through_the_scaling_decoder_too() {
        let grey = image::GrayImage::from_fn(1800, 900, |x, _| image::Luma([(x / 8) as u8]));
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&grey)
            .unwrap();
        let t = image::load_from_memory(&thumbnail(&bytes).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(t.dimensions(), (320, 160));
        let p = t.get_pixel(160, 80);
        assert!(p[0] == p[1] && p[1] == p[2], "grey stays grey: {p:?}");

        let rgb = red_left(2000, 1000);
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 85);
        encoder.set_progressive(true);
        encoder
            .encode(rgb.as_raw(), 2000, 1000, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let p = process(&bytes, false).unwrap();
        let d = image::load_from_memory(&p.display).unwrap().to_rgb8();
        assert_eq!(d.dimensions(), (1600, 800));
        assert!(is_red(d.get_pixel(100, 400)) && !is_red(d.get_pixel(1500, 400)));
    }

    /// `jpeg` with the frame header's height and width replaced.
    fn with_size(jpeg: &[u8], w: u16, h: u16) -> Vec<u8> {
        let mut out = jpeg.to_vec();
        let sof = out
            .windows(2)
            .position(|m| m[0] == 0xFF && (m[1] == 0xC0 || m[1] == 0xC2))
            .unwrap();
        out[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        out[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        out
    }

    #[test]
    fn sides_and_decode_memory_are_limited_before_decoding() {
        let small = jpeg(64, 48);
        for (w, h) in [(12_001, 10), (10, 12_001)] {
            let err = process(&with_size(&small, w, h), false).unwrap_err();
            assert!(
                matches!(&err, ProcessError::Invalid(m) if m.contains("beyond the limits")),
                "{err:?}"
            );
        }
        // A progressive file keeps every coefficient of the full image while it decodes:
        // 11,000 × 11,000 × 3 × 2 bytes is over the limit even when only a thumb is wanted.
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 85);
        encoder.set_progressive(true);
        encoder
            .encode(&[128; 64 * 48 * 3], 64, 48, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let huge = with_size(&progressive, 11_000, 11_000);
        for result in [
            process(&huge, false).map(|_| ()),
            thumbnail(&huge).map(|_| ()),
        ] {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, ProcessError::Invalid(m) if m.contains("beyond the limit")),
                "{err:?}"
            );
        }
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
