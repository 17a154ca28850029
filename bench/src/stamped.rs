//! Kernel receive timestamps for client sockets.
//!
//! A worker task reads thousands of sockets in turn, so the instant it reads
//! a frame includes its own queueing. The kernel stamps every received
//! packet with CLOCK_REALTIME when the socket asks for it (`SO_TIMESTAMPNS`),
//! and hands the stamp of the last packet a `recvmsg` copied as a control
//! message. [`StampedTcp`] reads with `recvmsg` and keeps that stamp, so a
//! latency can end when the bytes reached the player's socket (what a
//! separate device would see) as well as when the generator read them.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// `SO_TIMESTAMPNS` (the "old" value, which on 64-bit Linux is the only
/// one: a 64-bit `timespec`); the libc crate does not name it for Linux.
const SO_TIMESTAMPNS: libc::c_int = 35;
/// The control message type carrying that stamp (same number).
const SCM_TIMESTAMPNS: libc::c_int = SO_TIMESTAMPNS;

/// Asks the kernel to stamp packets received on `fd`. Set it before
/// `connect` so the handshake's own packets are stamped too.
pub fn enable(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `&on`, which
    // lives for the call; a bad fd or option only returns an error.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Turns receive timestamping on for the whole kernel ahead of the client
/// sockets: the first socket that asks flips a global switch, and the
/// switch takes effect asynchronously, so packets a moment later would go
/// unstamped. Keep the returned socket open while stamps are wanted.
pub fn warm_up() -> io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
    enable(s.as_raw_fd())?;
    Ok(s)
}

/// The kernel stamp of a socket's most recent read, shared between the
/// socket (which writes it) and the task that interprets its frames.
#[derive(Debug, Clone, Default)]
pub struct Stamp(Arc<AtomicU64>);

impl Stamp {
    /// Microseconds since the epoch at which the last read's final packet
    /// arrived, or None when that read carried no stamp.
    pub fn last_us(&self) -> Option<u64> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(ns / 1000),
        }
    }

    fn set(&self, ns: Option<u64>) {
        self.0.store(ns.unwrap_or(0), Ordering::Relaxed);
    }
}

/// A TCP stream whose reads remember the kernel's receive stamp.
#[derive(Debug)]
pub struct StampedTcp {
    inner: TcpStream,
    stamp: Stamp,
}

impl StampedTcp {
    /// Wraps a connected stream (timestamping should already be enabled on
    /// it; reads without a stamp record "no stamp").
    pub fn new(inner: TcpStream) -> StampedTcp {
        StampedTcp {
            inner,
            stamp: Stamp::default(),
        }
    }

    /// A handle on the stamp of the latest read.
    pub fn stamp(&self) -> Stamp {
        self.stamp.clone()
    }
}

/// One `recvmsg` into `buf`: bytes read and the kernel stamp (ns since the
/// epoch), if the kernel attached one.
fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    // Room for a few control messages; u64 elements keep it aligned for
    // `cmsghdr`.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: the header points at `iov` (into `buf`) and `control`, both
    // live and writable for their stated lengths during the call.
    let n = unsafe { libc::recvmsg(fd, &mut hdr, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    let want = std::mem::size_of::<libc::timespec>();
    // SAFETY: the CMSG_* helpers walk the control buffer the kernel filled
    // within `msg_controllen` (which it updated); each header is checked
    // for level, type and length before its data is read, and the data is
    // read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            let len = (*c).cmsg_len as usize;
            if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == SCM_TIMESTAMPNS
                && len >= libc::CMSG_LEN(want as libc::c_uint) as usize
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                stamp = timespec_ns(ts.tv_sec, ts.tv_nsec);
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
    }
    Ok((n as usize, stamp))
}

/// Nanoseconds since the epoch, or None for a zero or impossible stamp.
fn timespec_ns(sec: i64, nsec: i64) -> Option<u64> {
    if sec <= 0 || !(0..1_000_000_000).contains(&nsec) {
        return None;
    }
    (sec as u64)
        .checked_mul(1_000_000_000)?
        .checked_add(nsec as u64)
}

impl AsyncRead for StampedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let fd = this.inner.as_raw_fd();
        loop {
            ready!(this.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            // `try_io` clears the readiness when the call would block, so
            // the next `poll_read_ready` waits for new data.
            match this
                .inner
                .try_io(Interest::READABLE, || recv_stamped(fd, unfilled))
            {
                Ok((n, ns)) => {
                    // A read of 0 bytes (end of stream) carries no stamp.
                    this.stamp.set(if n > 0 { ns } else { None });
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::epoch_us;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn impossible_stamps_are_none() {
        assert_eq!(timespec_ns(0, 0), None);
        assert_eq!(timespec_ns(-1, 5), None);
        assert_eq!(timespec_ns(1, 1_000_000_000), None);
        assert_eq!(timespec_ns(2, 5), Some(2_000_000_005));
    }

    #[tokio::test]
    async fn reads_carry_a_kernel_stamp_no_later_than_the_read() {
        let _warm = warm_up().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        enable(socket.as_raw_fd()).unwrap();
        let client = socket.connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut client = StampedTcp::new(client);
        let stamp = client.stamp();
        assert_eq!(stamp.last_us(), None);
        // The global switch flips asynchronously: allow a few rounds for it.
        let mut got = None;
        for i in 0..50u8 {
            let before = epoch_us();
            server.write_all(&[i; 10]).await.unwrap();
            let mut buf = [0u8; 64];
            let n = client.read(&mut buf).await.unwrap();
            let after = epoch_us();
            assert_eq!(&buf[..n], &[i; 10][..n]);
            if let Some(us) = stamp.last_us() {
                assert!(before <= us && us <= after, "{before} {us} {after}");
                got = Some(us);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(got.is_some(), "the kernel never stamped a read");
        // Writes pass through; end of stream clears the stamp.
        client.write_all(b"ok").await.unwrap();
        let mut two = [0u8; 2];
        server.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"ok");
        drop(server);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(stamp.last_us(), None);
    }
}
