//! Tiny PNG images for photos and signatures uploaded by simulated phones: RGB, deflate
//! "stored" blocks (no compression), so no image crate is needed in the tests.

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A `w` x `h` RGB PNG whose pixel (x, y) is `pixel(x, y)`.
pub fn png(w: u32, h: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            raw.extend_from_slice(&pixel(x, y));
        }
    }
    // zlib: header, stored blocks of at most 65,535 bytes, Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    let (mut a, mut bb) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65_521;
        bb = (bb + a) % 65_521;
    }
    z.extend_from_slice(&((bb << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A "photo": a sky-to-ground gradient with a dark box (a compressor, say).
pub fn photo() -> Vec<u8> {
    png(320, 240, |x, y| {
        if (100..220).contains(&x) && (90..200).contains(&y) {
            [60, 70, 80]
        } else if y < 120 {
            [120 + (y / 2) as u8, 170, 230]
        } else {
            [90, 140 - ((y - 120) / 3) as u8, 70]
        }
    })
}

/// A "signature": a dark wave on white.
pub fn signature() -> Vec<u8> {
    png(300, 100, |x, y| {
        let f = x as f64 / 18.0;
        let wave = 50.0 + 25.0 * f.sin() * (1.0 - x as f64 / 400.0);
        if (y as f64 - wave).abs() < 2.0 {
            [20, 30, 90]
        } else {
            [255, 255, 255]
        }
    })
}
