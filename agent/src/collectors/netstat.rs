//! Protocol counters from /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6, as
//! node_exporter's `netstat` collector.

use std::path::{Path, PathBuf};

use super::filter::Filter;
use super::{Collector, SystemPaths, malformed, parse_field, read_if_exists, read_into};
use crate::error::Result;
use crate::sample::Sample;

/// Emits `node_netstat_<Protocol>_<Field>` for every field the filter allows, by default
/// node_exporter's set: TCP opens, segments, resets, retransmits and established
/// connections, listen queue overflows, SYN cookies, UDP datagrams and buffer errors, ICMP
/// messages, IP octets and every `InErrors`.
pub(crate) struct NetstatCollector {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    buf: String,
    fields: Filter,
}

impl NetstatCollector {
    pub(crate) fn new(paths: &SystemPaths, fields: Filter) -> Self {
        Self {
            netstat: paths.proc("net/netstat"),
            snmp: paths.proc("net/snmp"),
            snmp6: paths.proc("net/snmp6"),
            buf: String::new(),
            fields,
        }
    }
}

impl Collector for NetstatCollector {
    fn name(&self) -> &'static str {
        "netstat"
    }

    fn collect(&mut self, out: &mut Vec<Sample>) -> Result<()> {
        read_into(&self.netstat, &mut self.buf)?;
        parse_pairs(&self.buf, &self.netstat, &self.fields, out)?;
        read_into(&self.snmp, &mut self.buf)?;
        parse_pairs(&self.buf, &self.snmp, &self.fields, out)?;
        // A kernel without IPv6 has no snmp6.
        if read_if_exists(&self.snmp6, &mut self.buf)? {
            parse_snmp6(&self.buf, &self.snmp6, &self.fields, out)?;
        }
        Ok(())
    }
}

/// Pairs of lines, names then values: `Tcp: RtoAlgorithm RtoMin ...` / `Tcp: 1 200 ...`.
fn parse_pairs(text: &str, path: &Path, fields: &Filter, out: &mut Vec<Sample>) -> Result<()> {
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let values = lines.next().ok_or_else(|| malformed(path, format!("no values after {names:?}")))?;
        let (Some((protocol, names)), Some((value_protocol, values))) = (names.split_once(':'), values.split_once(':'))
        else {
            return Err(malformed(path, format!("no ':' in {names:?}")));
        };
        if protocol != value_protocol {
            return Err(malformed(path, format!("{value_protocol} values follow {protocol} names")));
        }
        let names: Vec<&str> = names.split_ascii_whitespace().collect();
        let values: Vec<&str> = values.split_ascii_whitespace().collect();
        if names.len() != values.len() {
            return Err(malformed(path, format!("{protocol} has {} names and {} values", names.len(), values.len())));
        }
        for (name, value) in names.into_iter().zip(values) {
            push(protocol, name, value, path, fields, out)?;
        }
    }
    Ok(())
}

/// Lines like `Ip6InReceives 123`: the protocol is everything up to and including the `6`.
fn parse_snmp6(text: &str, path: &Path, fields: &Filter, out: &mut Vec<Sample>) -> Result<()> {
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else { continue };
        // Per-interface lines and the like have no `6`; node_exporter skips them too.
        let Some(six) = key.find('6') else { continue };
        push(&key[..=six], &key[six + 1..], value, path, fields, out)?;
    }
    Ok(())
}

fn push(protocol: &str, name: &str, value: &str, path: &Path, fields: &Filter, out: &mut Vec<Sample>) -> Result<()> {
    let key = format!("{protocol}_{name}");
    if fields.allows(&key) {
        // Some fields are signed (Tcp MaxConn is -1), so parse as a float as node_exporter does.
        let value: f64 = parse_field(value, path, &key)?;
        out.push(Sample::new(format!("node_netstat_{key}"), value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::config::DEFAULT_NETSTAT_FIELDS;
    use crate::collectors::test_util::{collect, fixture, plain, write};

    const NETSTAT: &str = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows TCPTimeouts PruneCalled
TcpExt: 1 2 3 4 5
IpExt: InNoRoutes InOctets OutOctets
IpExt: 0 607955826 2133314
";
    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives InHdrErrors
Ip: 2 64 31929 0
Tcp: RtoAlgorithm MaxConn ActiveOpens CurrEstab InErrs RetransSegs
Tcp: 1 -1 42 4 0 7
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors
Udp: 10 1 0 12 0 0 0
";
    const SNMP6: &str = "Ip6InReceives                   	5
Ip6InOctets                     	640
Icmp6InMsgs                     	2
Icmp6InType133                  	2
Udp6InErrors                    	0
UdpLite6InErrors                	0
";

    fn collector(paths: &SystemPaths) -> NetstatCollector {
        NetstatCollector::new(paths, Filter::new(Some(DEFAULT_NETSTAT_FIELDS), None).unwrap())
    }

    #[test]
    fn default_fields_from_all_three_files() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/netstat", NETSTAT);
        write(&paths.proc, "net/snmp", SNMP);
        write(&paths.proc, "net/snmp6", SNMP6);
        assert_eq!(
            plain(&collect(&mut collector(&paths))),
            [
                ("node_netstat_TcpExt_SyncookiesSent", 1.0),
                ("node_netstat_TcpExt_SyncookiesRecv", 2.0),
                ("node_netstat_TcpExt_ListenOverflows", 3.0),
                ("node_netstat_TcpExt_TCPTimeouts", 4.0),
                ("node_netstat_IpExt_InOctets", 607955826.0),
                ("node_netstat_IpExt_OutOctets", 2133314.0),
                ("node_netstat_Ip_Forwarding", 2.0),
                ("node_netstat_Tcp_ActiveOpens", 42.0),
                ("node_netstat_Tcp_CurrEstab", 4.0),
                ("node_netstat_Tcp_InErrs", 0.0),
                ("node_netstat_Tcp_RetransSegs", 7.0),
                ("node_netstat_Udp_InDatagrams", 10.0),
                ("node_netstat_Udp_NoPorts", 1.0),
                ("node_netstat_Udp_InErrors", 0.0),
                ("node_netstat_Udp_OutDatagrams", 12.0),
                ("node_netstat_Udp_RcvbufErrors", 0.0),
                ("node_netstat_Udp_SndbufErrors", 0.0),
                ("node_netstat_Ip6_InOctets", 640.0),
                ("node_netstat_Icmp6_InMsgs", 2.0),
                ("node_netstat_Udp6_InErrors", 0.0),
                ("node_netstat_UdpLite6_InErrors", 0.0),
            ]
        );
    }

    #[test]
    fn every_field_without_a_filter_and_signed_values() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/netstat", NETSTAT);
        write(&paths.proc, "net/snmp", SNMP);
        let samples = collect(&mut NetstatCollector::new(&paths, Filter::default()));
        assert_eq!(samples.len(), 5 + 3 + 4 + 6 + 7);
        assert!(samples.iter().any(|s| s.name == "node_netstat_Tcp_MaxConn" && s.value == -1.0));
    }

    #[test]
    fn mismatched_lines_are_errors() {
        let (_dir, paths) = fixture();
        write(&paths.proc, "net/netstat", "TcpExt: A B\nTcpExt: 1\n");
        write(&paths.proc, "net/snmp", SNMP);
        let err = collector(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("netstat: TcpExt has 2 names and 1 values"), "{err}");
        write(&paths.proc, "net/netstat", "TcpExt: A B\n");
        let err = collector(&paths).collect(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().ends_with("netstat: no values after \"TcpExt: A B\""), "{err}");
    }
}
