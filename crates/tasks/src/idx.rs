//! IDX files (LeCun's format for MNIST and Fashion-MNIST), raw or gzip-compressed.
//!
//! An IDX file is a big-endian header — magic `0x0000_08TT_0N` (type `0x08` = u8, `N` = number
//! of dimensions), then `N` u32 sizes — followed by the data, row-major. This module accepts
//! exactly the two layouts MNIST uses: u8 images (3-D, magic `0x00000803`) and u8 labels (1-D,
//! magic `0x00000801`). A file is gzip'd if it starts with the gzip magic bytes `1f 8b`,
//! whatever its name. Its (decompressed) length must match the header exactly: a truncated file
//! or trailing bytes are errors, so a damaged download is never half-used.
//!
//! ```
//! # fn main() -> Result<(), lrmem_tasks::TaskError> {
//! use lrmem_tasks::idx;
//! let mut bytes = vec![0, 0, 8, 1, 0, 0, 0, 3]; // labels, 3 of them
//! bytes.extend([7, 0, 9]);
//! assert_eq!(idx::parse_labels(&bytes, "example".as_ref())?, vec![7, 0, 9]);
//! # Ok(()) }
//! ```

use std::io::Read;
use std::path::Path;

use crate::TaskError;

/// Magic number of a u8 IDX file with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a u8 IDX file with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A stack of u8 images as stored in an IDX file: `count` images of `rows × cols` pixels,
/// row-major, image after image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Pixel rows per image.
    pub rows: usize,
    /// Pixel columns per image.
    pub cols: usize,
    /// `count · rows · cols` pixels, 0 = background, 255 = ink (for MNIST).
    pub pixels: Vec<u8>,
}

impl Images {
    /// The pixels of image `i` (`rows · cols` bytes), or `None` past the end.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.rows * self.cols;
        self.pixels.get(i * n..(i + 1) * n)
    }
}

/// Reads a whole file, gunzipping it if it starts with the gzip magic bytes.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, TaskError> {
    let io = |source| TaskError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX images file (raw or gzip).
pub fn read_images(path: &Path) -> Result<Images, TaskError> {
    parse_images(&read_maybe_gzip(path)?, path)
}

/// Reads an IDX labels file (raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, TaskError> {
    parse_labels(&read_maybe_gzip(path)?, path)
}

/// Parses the bytes of an (uncompressed) IDX images file; `path` only names it in errors.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<Images, TaskError> {
    let (dims, data) = parse(bytes, path, IMAGES_MAGIC, "images")?;
    let [count, rows, cols] = [dims[0], dims[1], dims[2]];
    if rows == 0 || cols == 0 {
        return Err(TaskError::Invalid {
            path: path.to_path_buf(),
            reason: format!("images of {rows}×{cols} pixels"),
        });
    }
    Ok(Images {
        count,
        rows,
        cols,
        pixels: data.to_vec(),
    })
}

/// Parses the bytes of an (uncompressed) IDX labels file; `path` only names it in errors.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, TaskError> {
    let (_, data) = parse(bytes, path, LABELS_MAGIC, "labels")?;
    Ok(data.to_vec())
}

/// Checks magic and length; returns the dimension sizes and the data bytes.
fn parse<'a>(
    bytes: &'a [u8],
    path: &Path,
    magic: u32,
    what: &'static str,
) -> Result<(Vec<usize>, &'a [u8]), TaskError> {
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let too_short = || TaskError::Length {
        path: path.to_path_buf(),
        expected: header as u64,
        actual: bytes.len() as u64,
    };
    if bytes.len() < 4 {
        return Err(too_short());
    }
    let found = u32_at(0);
    if found != magic {
        return Err(TaskError::BadMagic {
            path: path.to_path_buf(),
            what,
            found,
            expected: magic,
        });
    }
    if bytes.len() < header {
        return Err(too_short());
    }
    let dims: Vec<usize> = (0..ndim).map(|d| u32_at(4 + 4 * d) as usize).collect();
    // The sizes are u32s; their product can overflow even u64.
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|n| n.checked_add(header as u64));
    let Some(expected) = expected else {
        return Err(TaskError::Invalid {
            path: path.to_path_buf(),
            reason: format!("header sizes {dims:?} overflow"),
        });
    };
    if bytes.len() as u64 != expected {
        return Err(TaskError::Length {
            path: path.to_path_buf(),
            expected,
            actual: bytes.len() as u64,
        });
    }
    Ok((dims, &bytes[header..]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// An IDX images file of `count` `rows × cols` images whose pixel i is `i % 251`.
    pub(crate) fn images_bytes(count: u32, rows: u32, cols: u32) -> Vec<u8> {
        let mut b = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [count, rows, cols] {
            b.extend(d.to_be_bytes());
        }
        b.extend((0..count * rows * cols).map(|i| (i % 251) as u8));
        b
    }

    pub(crate) fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut b = LABELS_MAGIC.to_be_bytes().to_vec();
        b.extend((labels.len() as u32).to_be_bytes());
        b.extend(labels);
        b
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn p() -> &'static Path {
        Path::new("test.idx")
    }

    #[test]
    fn valid_images_parse() {
        let img = parse_images(&images_bytes(3, 2, 4), p()).unwrap();
        assert_eq!((img.count, img.rows, img.cols), (3, 2, 4));
        assert_eq!(img.pixels.len(), 24);
        assert_eq!(img.image(1).unwrap(), &[8, 9, 10, 11, 12, 13, 14, 15]);
        assert!(img.image(3).is_none());
    }

    #[test]
    fn valid_labels_parse() {
        assert_eq!(
            parse_labels(&labels_bytes(&[3, 1, 4]), p()).unwrap(),
            vec![3, 1, 4]
        );
        assert_eq!(
            parse_labels(&labels_bytes(&[]), p()).unwrap(),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        let good = images_bytes(2, 3, 3);
        let short = &good[..good.len() - 1];
        assert!(matches!(
            parse_images(short, p()),
            Err(TaskError::Length {
                expected: 34,
                actual: 33,
                ..
            })
        ));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            parse_images(&long, p()),
            Err(TaskError::Length { .. })
        ));
        // Cut inside the header.
        assert!(matches!(
            parse_images(&good[..6], p()),
            Err(TaskError::Length { .. })
        ));
        assert!(matches!(
            parse_images(&[], p()),
            Err(TaskError::Length { .. })
        ));
        let labels = labels_bytes(&[1, 2, 3]);
        assert!(matches!(
            parse_labels(&labels[..labels.len() - 1], p()),
            Err(TaskError::Length { .. })
        ));
    }

    #[test]
    fn bad_magic_is_an_error_naming_the_file() {
        // Labels where images are expected, and vice versa.
        let e = parse_images(&labels_bytes(&[1]), p()).unwrap_err();
        assert!(matches!(
            e,
            TaskError::BadMagic {
                found: LABELS_MAGIC,
                expected: IMAGES_MAGIC,
                ..
            }
        ));
        assert!(e.to_string().contains("test.idx"), "{e}");
        assert!(e.to_string().contains("cargo xtask data"), "{e}");
        let e = parse_labels(&images_bytes(1, 1, 1), p()).unwrap_err();
        assert!(matches!(e, TaskError::BadMagic { .. }));
        // A gzip stream passed as raw bytes is not an IDX file either.
        assert!(matches!(
            parse_labels(&gzip(&labels_bytes(&[1])), p()),
            Err(TaskError::BadMagic { .. })
        ));
    }

    #[test]
    fn zero_sized_images_and_overflowing_headers_are_errors() {
        assert!(matches!(
            parse_images(&images_bytes(0, 0, 28), p()),
            Err(TaskError::Invalid { .. })
        ));
        // Zero images of a valid size is a valid (empty) file.
        assert_eq!(
            parse_images(&images_bytes(0, 28, 28), p()).unwrap().count,
            0
        );
        let mut huge = IMAGES_MAGIC.to_be_bytes().to_vec();
        for _ in 0..3 {
            huge.extend(u32::MAX.to_be_bytes());
        }
        assert!(matches!(
            parse_images(&huge, p()),
            Err(TaskError::Length { .. } | TaskError::Invalid { .. })
        ));
    }

    #[test]
    fn gzip_is_detected_by_magic_not_name() {
        let dir = std::env::temp_dir().join(format!("tasks-idx-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = images_bytes(2, 5, 5);
        // Gzip'd content under a name without .gz, raw content under a .gz name.
        let a = dir.join("images-no-gz-suffix");
        let b = dir.join("images.gz");
        std::fs::write(&a, gzip(&raw)).unwrap();
        std::fs::write(&b, &raw).unwrap();
        assert_eq!(read_images(&a).unwrap(), parse_images(&raw, p()).unwrap());
        assert_eq!(read_images(&b).unwrap(), parse_images(&raw, p()).unwrap());
        // A damaged gzip stream is an I/O error naming the file.
        let mut bad = gzip(&raw);
        bad.truncate(bad.len() / 2);
        std::fs::write(&a, &bad).unwrap();
        let e = read_images(&a).unwrap_err();
        assert!(matches!(e, TaskError::Io { .. }), "{e}");
        assert!(e.to_string().contains("images-no-gz-suffix"), "{e}");
        // A missing file too.
        assert!(matches!(
            read_labels(&dir.join("nope")),
            Err(TaskError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
