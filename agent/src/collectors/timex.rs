//! The kernel's clock discipline from adjtimex(2), as node_exporter's `timex` collector.
//!
//! This is the only collector that needs a system call no safe crate wraps: neither rustix nor
//! nix has adjtimex, and /proc does not show this state. The call is made read-only (`modes =
//! 0`) through `libc`, in one `unsafe` block in [`read_clock`], the only unsafe code in sysmon.

use std::io;

use super::Collector;
use crate::error::{Error, Result};
use crate::sample::Sample;

/// adjtimex's return value when the clock is not synchronized.
const TIME_ERROR: i32 = 5;
/// `status` bit: `offset` and `jitter` are in nanoseconds rather than microseconds.
const STA_NANO: i64 = 0x2000;
/// `freq`, `ppsfreq` and `stabil` are parts per million with a 16-bit fraction.
const PPM16: f64 = 1e6 * 65536.0;

/// The fields of `struct timex` node_exporter reports, widened to i64, and adjtimex's return.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ClockState {
    pub(crate) state: i32,
    pub(crate) offset: i64,
    pub(crate) freq: i64,
    pub(crate) maxerror: i64,
    pub(crate) esterror: i64,
    pub(crate) status: i64,
    pub(crate) constant: i64,
    pub(crate) tick: i64,
    pub(crate) ppsfreq: i64,
    pub(crate) jitter: i64,
    pub(crate) shift: i64,
    pub(crate) stabil: i64,
    pub(crate) jitcnt: i64,
    pub(crate) calcnt: i64,
    pub(crate) errcnt: i64,
    pub(crate) stbcnt: i64,
    pub(crate) tai: i64,
}

/// Emits node_exporter's 17 `node_timex_*` series: sync status, offset, frequency adjustment,
/// maximum and estimated error, status bits, loop time constant, tick, TAI offset and the PPS
/// figures.
pub(crate) struct TimexCollector {
    /// The clock; tests replace it.
    read: fn() -> io::Result<ClockState>,
}

impl TimexCollector {
    pub(crate) fn new() -> Self {
        Self { read: read_clock }
    }
}

impl Collector for TimexCollector {
    fn name(&self) -> &'static str {
        "timex"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        let clock = (self.read)().map_err(|source| Error::ReadSource { path: "adjtimex(2)".into(), source })?;
        let unit = if clock.status & STA_NANO != 0 { 1e9 } else { 1e6 };
        let synced = if clock.state == TIME_ERROR { 0.0 } else { 1.0 };
        let series = [
            ("node_timex_sync_status", synced),
            ("node_timex_offset_seconds", clock.offset as f64 / unit),
            ("node_timex_frequency_adjustment_ratio", 1.0 + clock.freq as f64 / PPM16),
            ("node_timex_maxerror_seconds", clock.maxerror as f64 / 1e6),
            ("node_timex_estimated_error_seconds", clock.esterror as f64 / 1e6),
            ("node_timex_status", clock.status as f64),
            ("node_timex_loop_time_constant", clock.constant as f64),
            ("node_timex_tick_seconds", clock.tick as f64 / 1e6),
            ("node_timex_pps_frequency_hertz", clock.ppsfreq as f64 / PPM16),
            ("node_timex_pps_jitter_seconds", clock.jitter as f64 / unit),
            ("node_timex_pps_shift_seconds", clock.shift as f64),
            ("node_timex_pps_stability_hertz", clock.stabil as f64 / PPM16),
            ("node_timex_pps_jitter_total", clock.jitcnt as f64),
            ("node_timex_pps_calibration_total", clock.calcnt as f64),
            ("node_timex_pps_error_total", clock.errcnt as f64),
            ("node_timex_pps_stability_exceeded_total", clock.stbcnt as f64),
            ("node_timex_tai_offset_seconds", clock.tai as f64),
        ];
        out.extend(series.into_iter().map(|(name, value)| Sample::new(name, value)));
        Ok(())
    }
}

/// Reads the kernel clock state with adjtimex(2), changing nothing.
#[allow(unsafe_code)]
#[allow(clippy::useless_conversion, reason = "the fields are i64 on 64-bit targets but i32 on some 32-bit ones")]
fn read_clock() -> io::Result<ClockState> {
    // SAFETY: `timex` is a plain C struct of integers (with private padding), for which all
    // zero bytes is a valid value. With `modes == 0` adjtimex only writes the current state
    // into the struct, which lives on this stack frame for the whole call.
    let (state, t) = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        (libc::adjtimex(&mut t), t)
    };
    if state < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ClockState {
        state,
        offset: i64::from(t.offset),
        freq: i64::from(t.freq),
        maxerror: i64::from(t.maxerror),
        esterror: i64::from(t.esterror),
        status: i64::from(t.status),
        constant: i64::from(t.constant),
        tick: i64::from(t.tick),
        ppsfreq: i64::from(t.ppsfreq),
        jitter: i64::from(t.jitter),
        shift: i64::from(t.shift),
        stabil: i64::from(t.stabil),
        jitcnt: i64::from(t.jitcnt),
        calcnt: i64::from(t.calcnt),
        errcnt: i64::from(t.errcnt),
        stbcnt: i64::from(t.stbcnt),
        tai: i64::from(t.tai),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_util::{collect, plain};

    #[test]
    fn converts_units_as_node_exporter() {
        let mut collector = TimexCollector {
            read: || {
                Ok(ClockState {
                    state: 0,
                    offset: -1500,
                    freq: 65536 * 10,
                    maxerror: 16000,
                    esterror: 2000,
                    status: 0x2001,
                    constant: 7,
                    tick: 10000,
                    jitcnt: 3,
                    tai: 37,
                    ..ClockState::default()
                })
            },
        };
        let samples = collect(&mut collector);
        let got = |name: &str| plain(&samples).into_iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(samples.len(), 17);
        assert_eq!(got("node_timex_sync_status"), 1.0);
        assert_eq!(got("node_timex_offset_seconds"), -1.5e-6, "STA_NANO: nanoseconds");
        assert_eq!(got("node_timex_frequency_adjustment_ratio"), 1.00001);
        assert_eq!(got("node_timex_maxerror_seconds"), 0.016);
        assert_eq!(got("node_timex_estimated_error_seconds"), 0.002);
        assert_eq!(got("node_timex_status"), 8193.0);
        assert_eq!(got("node_timex_tick_seconds"), 0.01);
        assert_eq!(got("node_timex_pps_jitter_total"), 3.0);
        assert_eq!(got("node_timex_tai_offset_seconds"), 37.0);
    }

    #[test]
    fn unsynchronized_clock() {
        let mut collector =
            TimexCollector { read: || Ok(ClockState { state: TIME_ERROR, offset: 5, ..Default::default() }) };
        let samples = collect(&mut collector);
        assert_eq!(plain(&samples)[..2], [("node_timex_sync_status", 0.0), ("node_timex_offset_seconds", 5e-6)]);
    }

    #[test]
    fn real_clock_reads() {
        let clock = read_clock().unwrap();
        assert!((0..=5).contains(&clock.state), "{clock:?}");
        assert!(clock.tick > 0, "{clock:?}");
    }
}
