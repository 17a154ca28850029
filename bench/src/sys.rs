//! What the generator needs from the operating system: one clock shared by
//! all processes, the server's memory, and enough file descriptors.

use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the UNIX epoch (CLOCK_REALTIME). Every process on the
/// machine reads the same clock, so a send instant taken in one worker and
/// a receive instant taken in another subtract meaningfully.
pub fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Memory of a process as the kernel reports it, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mem {
    /// Resident set size now.
    pub rss_kib: u64,
    /// Peak resident set size.
    pub hwm_kib: u64,
    /// Anonymous part of the resident set (heap, stacks): what the
    /// server's own data can grow; the rest is mapped files (code).
    #[serde(default)]
    pub anon_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/PID/status`.
pub fn mem_of(pid: u32) -> anyhow::Result<Mem> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&text).ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// Picks the memory lines out of a `/proc/PID/status` text.
fn parse_status(text: &str) -> Option<Mem> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(Mem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:").unwrap_or(0),
        anon_kib: field("RssAnon:").unwrap_or(0),
    })
}

/// CPU time (user + system) a process has used, in milliseconds, from
/// `/proc/PID/stat`; the difference over a phase is what the phase cost,
/// whatever else the shared machine was doing.
pub fn cpu_ms_of(pid: u32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    parse_stat_cpu_ticks(&text)
        .map(|t| t * 1000 / ticks)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line; the
/// command name in parentheses may contain spaces, so count after it.
fn parse_stat_cpu_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Raises the open-file limit to the hard limit and returns the new soft
/// limit; a process holding thousands of sockets needs it, and children
/// (workers, a spawned server) inherit it.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The loopback source addresses client sockets are spread over:
/// 127.0.0.2, 127.0.0.3, ... (127.0.0.1 stays the server's).
pub fn source_addrs(n: usize) -> Vec<Ipv4Addr> {
    (0..n.clamp(1, 250))
        .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i as u8))
        .collect()
}

/// A small, fast, seedable generator (xorshift64*) for think times and
/// choices; the load does not need cryptographic randomness and a fixed
/// seed makes runs repeatable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed; zero is replaced so the state never sticks.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let text =
            "Name:\tquizroom\nVmPeak:\t  9000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\nRssAnon:\t    3000 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Mem {
                rss_kib: 4096,
                hwm_kib: 5120,
                anon_kib: 3000,
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn parses_proc_stat_cpu() {
        let line =
            "1234 (quiz room) S 1 1234 1234 0 -1 4194304 500 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_stat_cpu_ticks(line), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert!(cpu_ms_of(std::process::id()).is_ok());
    }

    #[test]
    fn reads_own_memory() {
        let m = mem_of(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }

    #[test]
    fn source_addresses_avoid_the_server_address() {
        let a = source_addrs(3);
        assert_eq!(
            a,
            vec![
                Ipv4Addr::new(127, 0, 0, 2),
                Ipv4Addr::new(127, 0, 0, 3),
                Ipv4Addr::new(127, 0, 0, 4)
            ]
        );
        assert_eq!(source_addrs(0).len(), 1);
    }

    #[test]
    fn rng_is_repeatable_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
        assert_eq!(Rng::new(0).below(0), 0);
    }

    #[test]
    fn nofile_limit_is_at_least_the_default() {
        assert!(raise_nofile() >= 256);
    }
}
