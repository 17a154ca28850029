//! Optional CPU placement of the processes a run starts (the server and the
//! workers): which cores they may run on and how nice the workers are.
//!
//! The server and the generator share the machine's cores; pinning them
//! apart, or making the generator yield to the server, changes what a
//! latency includes. Off by default: a run says in its parameters exactly
//! what placement it used.

use anyhow::{bail, Context};

/// Largest CPU number a mask can hold (glibc's `CPU_SETSIZE`).
const MAX_CPU: usize = 1024;

/// Where and how a started process runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    /// CPUs the process (and every thread it starts) may run on.
    pub cpus: Option<Vec<usize>>,
    /// Nice value (19 = yields to everything; below 0 needs privilege).
    pub nice: Option<i32>,
}

impl Placement {
    /// Whether anything is asked for.
    pub fn is_set(&self) -> bool {
        self.cpus.is_some() || self.nice.is_some()
    }

    /// Applies the placement to `cmd`'s child between fork and exec, so
    /// every thread the child ever starts inherits it. Spawning fails with
    /// the kernel's error if it is refused (an offline CPU, a nice value
    /// without the privilege).
    pub fn apply(&self, cmd: &mut tokio::process::Command) {
        if !self.is_set() {
            return;
        }
        let mask = self.cpus.as_deref().map(cpu_mask);
        let nice = self.nice;
        // SAFETY: the closure runs in the forked child before exec and only
        // makes two system calls (sched_setaffinity, setpriority) on data
        // prepared before the fork; it allocates nothing and takes no lock.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(set) = &mask {
                    if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if let Some(n) = nice {
                    if libc::setpriority(libc::PRIO_PROCESS, 0, n) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
}

/// A CPU mask holding `cpus` (each already checked below [`MAX_CPU`]).
fn cpu_mask(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET only sets a
    // bit inside the set, and every index is below CPU_SETSIZE (checked by
    // `parse_cpus`; larger ones are skipped here as well).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus.iter().filter(|&&c| c < MAX_CPU) {
            libc::CPU_SET(c, &mut set);
        }
        set
    }
}

/// A list of CPU numbers given on the command line (a type of its own so
/// the argument parser takes it as one value, not many).
#[derive(Debug, Clone, PartialEq)]
pub struct CpuList(pub Vec<usize>);

/// Parses a CPU list as `taskset -c` takes it: `0`, `0,1`, `0-3,6`.
pub fn parse_cpus(s: &str) -> anyhow::Result<CpuList> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo.parse().with_context(|| format!("CPU number {lo:?}"))?;
        let hi: usize = hi.parse().with_context(|| format!("CPU number {hi:?}"))?;
        if lo > hi || hi >= MAX_CPU {
            bail!("CPU range {part:?} must be ascending and below {MAX_CPU}");
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        bail!("empty CPU list {s:?}");
    }
    Ok(CpuList(cpus))
}

/// A CPU list written back the way [`parse_cpus`] reads it.
pub fn cpus_text(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_taskset_lists() {
        assert_eq!(parse_cpus("0").unwrap().0, vec![0]);
        assert_eq!(parse_cpus("1,0").unwrap().0, vec![0, 1]);
        assert_eq!(parse_cpus("0-2, 5,1").unwrap().0, vec![0, 1, 2, 5]);
        assert!(parse_cpus("").is_err());
        assert!(parse_cpus("2-1").is_err());
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("5000").is_err());
        assert_eq!(cpus_text(&[0, 1]), "0,1");
    }

    #[tokio::test]
    async fn a_child_runs_where_it_is_placed() {
        let p = Placement {
            cpus: Some(vec![0]),
            nice: Some(5),
        };
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg("grep Cpus_allowed_list /proc/self/status; cut -d' ' -f19 /proc/self/stat");
        p.apply(&mut cmd);
        let out = cmd.output().await.unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().and_then(|l| l.split_whitespace().nth(1)),
            Some("0"),
            "{text}"
        );
        // The nice value is at least what was asked (it may already be higher).
        let nice: i32 = lines.next().unwrap().trim().parse().unwrap();
        assert!(nice >= 5, "{text}");
    }
}
