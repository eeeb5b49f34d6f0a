use crate::{read_u16, write_u16, Result, WireError};

pub const UDP_HEADER_LEN: usize = 8;
/// The UDP port of every NetCRAQ request and of chain traffic: 0x4E43, "NC".
pub const NETCRAQ_UDP_PORT: u16 = 20035;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpDatagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        UdpDatagram { buffer }
    }

    /// Wraps `buffer` after checking it holds the header and the length the
    /// header declares.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let datagram = UdpDatagram { buffer };
        let len = datagram.buffer.as_ref().len();
        if len < UDP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if usize::from(datagram.len()) < UDP_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if usize::from(datagram.len()) > len {
            return Err(WireError::Truncated);
        }
        Ok(datagram)
    }

    #[inline(always)]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 0)
    }

    #[inline(always)]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2)
    }

    #[inline(always)]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 4)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == UDP_HEADER_LEN
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 6)
    }

    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[UDP_HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), 0, port);
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), 2, port);
    }

    #[inline]
    pub fn set_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), 4, len);
    }

    /// NetCRAQ sends UDP checksum 0 ("not computed", allowed over IPv4).
    #[inline]
    pub fn clear_checksum(&mut self) {
        write_u16(self.buffer.as_mut(), 6, 0);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[UDP_HEADER_LEN..end]
    }
}

/// The fields of a UDP header that NetCRAQ reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: u16,
}

impl UdpRepr {
    pub fn parse<T: AsRef<[u8]>>(datagram: &UdpDatagram<T>) -> Self {
        UdpRepr {
            src_port: datagram.src_port(),
            dst_port: datagram.dst_port(),
            payload_len: datagram.len() - UDP_HEADER_LEN as u16,
        }
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, datagram: &mut UdpDatagram<T>) {
        datagram.set_src_port(self.src_port);
        datagram.set_dst_port(self.dst_port);
        // A payload_len above 65527 cannot be represented; it saturates.
        datagram.set_len((UDP_HEADER_LEN as u16).saturating_add(self.payload_len));
        datagram.clear_checksum();
    }
}
