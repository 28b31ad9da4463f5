//! Numbers as Prometheus writes them in its JSON: sample values in Go's shortest `'f'`
//! format, times as unix seconds with up to three decimals; and a series' points
//! (`[1700000000,"5828014080"],...`), which are most of a range query's answer.

/// The texts `00` to `99`, for writing decimals two digits at a time.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The room [`push_points`] puts a point together in: `,[`, a time (at most 21 bytes,
/// `-9223372036854775.808`, whose high digits are copied 16 bytes at once), `,"`, a
/// whole-number value (at most 17 bytes, below 2^53 with its sign), `"]`.
const POINT_BYTES: usize = 64;

/// 2^53: below it, floats hold every integer.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Writes `[t,"v"]` for each point, comma-separated.
///
/// Each point is put together in a buffer on the stack and copied into `out` whole: written
/// piece by piece into the body (the bracket, the time's digits, the value's digits), a point
/// cost a capacity check per piece and a `memcpy` call per piece of unknown length, about
/// 20 ns in all; query (a) of `benches/compare.sh` has 2,160 points.
pub(crate) fn push_points(out: &mut Vec<u8>, points: &[(i64, f64)]) {
    let mut times = TimeText::default();
    let mut buf = [0u8; POINT_BYTES];
    for (i, &(t, v)) in points.iter().enumerate() {
        // The comma, overwritten by the bracket before the first point.
        buf[0] = b',';
        let mut n = usize::from(i > 0);
        buf[n] = b'[';
        n += 1;
        n += times.write(&mut buf[n..], t);
        buf[n..n + 2].copy_from_slice(b",\"");
        n += 2;
        if let Some(int) = whole_number(v) {
            n += write_int(&mut buf[n..], int);
        } else {
            out.extend_from_slice(&buf[..n]);
            push_float(out, v);
            n = 0;
        }
        buf[n..n + 2].copy_from_slice(b"\"]");
        n += 2;
        out.extend_from_slice(&buf[..n]);
    }
}

/// Writes `ms` as unix seconds with up to three decimals, as Prometheus prints them.
pub(crate) fn push_time(out: &mut Vec<u8>, ms: i64) {
    TimeText::default().push(out, ms);
}

/// The shortest text that reads back as `v`, without exponent: Go's `FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn push_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else if let Some(int) = whole_number(v) {
        let mut buf = [0u8; 20];
        let n = write_int(&mut buf, int);
        out.extend_from_slice(&buf[..n]);
    } else {
        push_fixed(out, zmij::Buffer::new().format_finite(v));
    }
}

/// `v` as an integer, when its shortest text is that integer's digits: every integer below
/// 2^53 is a float of its own, so its digits are the shortest text that reads back as it,
/// and writing them as an integer is faster than zmij. Not -0, which Go writes `-0`.
fn whole_number(v: f64) -> Option<i64> {
    // The round trip through `as` tells an integer without libm's `trunc` (the x86-64
    // baseline has no instruction for it, so `fract` is a call); NaN fails the bound.
    if v.abs() < MAX_EXACT_INTEGER {
        let int = v as i64;
        if int as f64 == v && !(int == 0 && v.is_sign_negative()) {
            return Some(int);
        }
    }
    None
}

/// Writes `int` in decimal at the start of `buf` (room for 20 bytes); returns its length.
fn write_int(buf: &mut [u8], int: i64) -> usize {
    buf[0] = b'-';
    let sign = usize::from(int < 0);
    sign + write_digits(&mut buf[sign..], int.unsigned_abs())
}

/// Writes `n` in decimal at the start of `buf`; returns the number of digits.
fn write_digits(buf: &mut [u8], mut n: u64) -> usize {
    let len = n.checked_ilog10().map_or(1, |log| log as usize + 1);
    let mut end = len;
    // Four digits per step, as two pairs that do not wait on each other.
    while n >= 10_000 {
        let four = (n % 10_000) as usize;
        n /= 10_000;
        let (high, low) = (four / 100 * 2, four % 100 * 2);
        buf[end - 4..end - 2].copy_from_slice(&PAIRS[high..high + 2]);
        buf[end - 2..end].copy_from_slice(&PAIRS[low..low + 2]);
        end -= 4;
    }
    if n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        buf[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        buf[..2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        buf[0] = b'0' + n as u8;
    }
    len
}

/// Writes zmij's shortest text for a float (`0.25`, `15.0`, `1.5e-7`, `1e+21`; the digits are
/// those Go picks) as Go's `'f'` format writes the same digits: no exponent, no `.0` tail.
fn push_fixed(out: &mut Vec<u8>, shortest: &str) {
    let unsigned = match shortest.strip_prefix('-') {
        Some(rest) => {
            out.push(b'-');
            rest
        }
        None => shortest,
    };
    let Some((mantissa, exponent)) = unsigned.split_once('e') else {
        out.extend_from_slice(unsigned.strip_suffix(".0").unwrap_or(unsigned).as_bytes());
        return;
    };
    let exponent: i64 = exponent.parse().expect("zmij writes the exponent as a decimal integer");
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = whole.len() + fraction.len();
    // Where the decimal point goes, counted in digits from the first one.
    let point = whole.len() as i64 + exponent;
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + point.unsigned_abs() as usize, b'0');
        out.extend_from_slice(whole.as_bytes());
        out.extend_from_slice(fraction.as_bytes());
    } else if point as usize >= digits {
        out.extend_from_slice(whole.as_bytes());
        out.extend_from_slice(fraction.as_bytes());
        out.resize(out.len() + (point as usize - digits), b'0');
    } else {
        for (i, &digit) in whole.as_bytes().iter().chain(fraction.as_bytes()).enumerate() {
            if i == point as usize {
                out.push(b'.');
            }
            out.push(digit);
        }
    }
}

/// Writes the times of a series' points, which share all but their last few digits: the
/// seconds above the last four are formatted once per 10,000 s, not once per point.
#[derive(Default)]
pub(crate) struct TimeText {
    /// Unix seconds / 10,000 of the last time written, its digits (at most 13, the rest of
    /// the array zeros) and how many.
    high: Option<(u64, [u8; 16], usize)>,
}

impl TimeText {
    /// Writes `ms` as unix seconds with up to three decimals, as Prometheus prints them.
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, ms: i64) {
        let mut buf = [0u8; POINT_BYTES];
        let n = self.write(&mut buf, ms);
        out.extend_from_slice(&buf[..n]);
    }

    /// [`TimeText::push`] into the start of `buf` (room for 40 bytes); returns the length.
    fn write(&mut self, buf: &mut [u8], ms: i64) -> usize {
        buf[0] = b'-';
        let mut n = usize::from(ms < 0);
        let (seconds, millis) = (ms.unsigned_abs() / 1000, ms.unsigned_abs() % 1000);
        let (high, low) = (seconds / 10_000, seconds % 10_000);
        if high == 0 {
            n += write_digits(&mut buf[n..], low);
        } else {
            let (digits, len) = match &mut self.high {
                Some((cached, digits, len)) if *cached == high => (digits, len),
                slot => {
                    let mut digits = [0u8; 16];
                    let len = write_digits(&mut digits, high);
                    let (_, digits, len) = slot.insert((high, digits, len));
                    (digits, len)
                }
            };
            // All 16 bytes: a copy of known length is a few moves, not a call.
            buf[n..n + 16].copy_from_slice(digits);
            n += *len;
            let (hundreds, units) = ((low / 100) as usize * 2, (low % 100) as usize * 2);
            buf[n..n + 2].copy_from_slice(&PAIRS[hundreds..hundreds + 2]);
            buf[n + 2..n + 4].copy_from_slice(&PAIRS[units..units + 2]);
            n += 4;
        }
        if millis != 0 {
            let digits = [millis / 100, millis / 10 % 10, millis % 10];
            let len = if digits[2] != 0 {
                3
            } else if digits[1] != 0 {
                2
            } else {
                1
            };
            buf[n] = b'.';
            for (slot, &digit) in buf[n + 1..n + 1 + len].iter_mut().zip(&digits) {
                *slot = b'0' + digit as u8;
            }
            n += 1 + len;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> String {
        let mut out = Vec::new();
        push_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    /// std's `Display` writes the shortest digits that read back, without exponent, as Go's
    /// `'f'` format with precision -1 does, except on an exact tie between two shortest
    /// texts, where Go (and so Prometheus) picks the even last digit and std rounds up.
    #[test]
    fn floats_read_as_go_writes_them() {
        let edges = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.3,
            1.5,
            15.0,
            100.0,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            1.5e300,
            1e-5,
            1e-6,
            1e-7,
            1.234e-7,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            5828014080.0,
            123456.789,
            0.000123,
            9007199254740993.0,
            2f64.powi(60),
            2f64.powi(-60),
            1.0 / 3.0,
            2.0 / 3.0,
        ];
        for v in edges {
            assert_eq!(float(v), format!("{v}"), "{v:e}");
        }
        // Ties, with Go's text (strconv.FormatFloat(v, 'f', -1, 64)).
        for (v, go) in [
            (1658206780088562.0 + 0.25, "1658206780088562.2"),
            (f64::from_bits(0x4303_1a43_1020_67aa), "672112486649077.2"),
            (f64::from_bits(0x4318_b40c_fdc8_f519), "1738341832867142.2"),
            (-1658206780088562.0 - 0.25, "-1658206780088562.2"),
            (1658206780088562.0 + 0.75, "1658206780088562.8"),
        ] {
            assert_eq!(float(v), go, "{v:e}");
        }
        // A fixed-seed xorshift: every exponent, decimals of the sizes metrics have, and
        // quarters of large integers (many ties).
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let bits = f64::from_bits(next());
            let decimal = (next() % 10_000_000_000) as f64 / 10f64.powi((next() % 20) as i32);
            let quarter = (next() % (1 << 53)) as f64 / 4.0;
            let integer = (next() >> (next() % 64)) as i64 as f64;
            for v in [bits, decimal, quarter, integer, -integer] {
                if !v.is_finite() {
                    continue;
                }
                let (ours, std) = (float(v), format!("{v}"));
                assert_eq!(ours.parse::<f64>(), Ok(v), "{ours} reads back as {v:e}");
                if ours != std {
                    let (last, std_last) = (ours.as_bytes()[ours.len() - 1], std.as_bytes()[std.len() - 1]);
                    let tie = ours.len() == std.len() && last % 2 == 0 && std_last == last + 1;
                    assert!(tie && ours[..ours.len() - 1] == std[..std.len() - 1], "{v:e}: {ours} but std {std}");
                }
            }
        }
    }

    #[test]
    fn times_in_seconds_with_at_most_three_decimals() {
        let time = |ms: i64| {
            let mut out = Vec::new();
            push_time(&mut out, ms);
            String::from_utf8(out).unwrap()
        };
        for (ms, text) in [
            (0, "0"),
            (1, "0.001"),
            (10, "0.01"),
            (100, "0.1"),
            (120, "0.12"),
            (999, "0.999"),
            (1_000, "1"),
            (1_700_000_000_000, "1700000000"),
            (1_700_000_000_005, "1700000000.005"),
            (1_700_000_000_050, "1700000000.05"),
            (1_700_000_010_000, "1700000010"),
            (9_999_000, "9999"),
            (10_000_000, "10000"),
            (10_000_001, "10000.001"),
            (100_000_070_000, "100000070"),
            (-1_500, "-1.5"),
            (-1, "-0.001"),
            (i64::MIN, "-9223372036854775.808"),
        ] {
            assert_eq!(time(ms), text);
        }
        // One writer for a whole series keeps the text of the seconds' high digits.
        let (mut times, mut series, mut each) = (TimeText::default(), Vec::new(), String::new());
        for ms in (1_699_999_990_000..1_700_000_030_000).step_by(7_250).chain([-1_500, 5, 1_700_000_000_000]) {
            times.push(&mut series, ms);
            series.push(b',');
            each.push_str(&time(ms));
            each.push(',');
        }
        assert_eq!(String::from_utf8(series).unwrap(), each);
    }

    #[test]
    fn points_read_as_one_at_a_time() {
        // Whole and fractional values, negative and special ones, times with and without
        // milliseconds and across a change of their high digits: as the point-by-point text.
        let points: Vec<(i64, f64)> = [
            (1_699_999_990_000, 5_828_014_080.0),
            (1_700_000_000_000, -3.0),
            (1_700_000_000_005, 0.25),
            (1_700_000_010_120, f64::NAN),
            (-1_500, f64::NEG_INFINITY),
            (0, -0.0),
            (7, 9_007_199_254_740_991.0),
            (8, -9_007_199_254_740_991.0),
            (9, 9_007_199_254_740_992.0),
            (i64::MIN, 1e-7),
            (i64::MAX, 0.0),
        ]
        .into_iter()
        .chain((0..2_000).map(|i| (1_700_000_000_000 + i * 10_000, (i * 4096 - 40_000) as f64)))
        .collect();
        let mut expected = String::new();
        for (i, &(t, v)) in points.iter().enumerate() {
            if i > 0 {
                expected.push(',');
            }
            let mut time = Vec::new();
            push_time(&mut time, t);
            expected.push_str(&format!("[{},\"{}\"]", String::from_utf8(time).unwrap(), float(v)));
        }
        let mut out = Vec::new();
        push_points(&mut out, &points);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert!(expected.starts_with(r#"[1699999990,"5828014080"],[1700000000,"-3"],[1700000000.005,"0.25"]"#));
        assert!(expected.contains(r#"[-1.5,"-Inf"],[0,"-0"],[0.007,"9007199254740991"]"#));
        assert!(expected.contains(r#"[-9223372036854775.808,"0.0000001"],[9223372036854775.807,"0"]"#));
    }

    #[test]
    fn digits() {
        for n in [0u64, 9, 10, 99, 100, 101, 999, 1000, 12_345, 1_000_000, u64::MAX] {
            let mut buf = [0u8; 20];
            let len = write_digits(&mut buf, n);
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), n.to_string());
        }
        for n in [0i64, -1, -10, i64::MIN, i64::MAX] {
            let mut buf = [0u8; 20];
            let len = write_int(&mut buf, n);
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), n.to_string());
        }
    }
}
