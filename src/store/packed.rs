//! Message bodies as the outbox keeps them: LZ4-compressed. A digest's message is ~30 KB of
//! HTML and text whose inline styles repeat paper after paper; compressed it is a fifth of
//! that, which is a fifth of the bytes a large run writes, reads back and checkpoints, and of
//! the state it leaves. LZ4 because it costs tens of microseconds a message, beside the
//! hundreds that rendering one costs (deflate's smallest setting costs about as much as
//! rendering).
//!
//! A packed body starts with [`MAGIC`], which no message can start with (a message starts
//! with a header name), so bodies stored before packing are read as they are.

/// What a packed body starts with.
const MAGIC: &[u8] = b"\0lz4";

/// A message packed for the outbox. Packing is done where the message is built, on every
/// core, rather than in the store's one writing thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed(Vec<u8>);

impl Packed {
    pub fn new(message: &[u8]) -> Packed {
        let mut packed = Vec::with_capacity(MAGIC.len() + message.len() / 4);
        packed.extend_from_slice(MAGIC);
        packed.extend_from_slice(&lz4_flex::compress_prepend_size(message));
        Packed(packed)
    }

    /// The bytes stored.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The message a stored body holds: unpacked, or as it is when it was stored unpacked (by an
/// earlier release). An error says the stored bytes are damaged.
pub fn unpack(stored: Vec<u8>) -> Result<Vec<u8>, String> {
    let Some(packed) = stored.strip_prefix(MAGIC) else {
        return Ok(stored);
    };
    let damaged = |why: &dyn std::fmt::Display| format!("damaged: {why}");
    let (size, compressed) = lz4_flex::block::uncompressed_size(packed).map_err(|e| damaged(&e))?;
    // The size comes from the stored bytes: a damaged one must not ask for gigabytes.
    if size > MAX_MESSAGE {
        return Err(damaged(&format!("it claims {size} bytes")));
    }
    let mut message = vec![0; size];
    let written =
        lz4_flex::block::decompress_into(compressed, &mut message).map_err(|e| damaged(&e))?;
    if written != size {
        return Err(damaged(&format!("{written} of its {size} bytes are there")));
    }
    Ok(message)
}

/// Larger than any digest (a hundred papers are well under a megabyte).
const MAX_MESSAGE: usize = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_comes_back_as_it_was_packed() {
        let message = b"From: a@example.org\r\n\r\n".repeat(200);
        let packed = Packed::new(&message);
        assert!(packed.as_bytes().len() < message.len() / 4);
        assert_eq!(unpack(packed.0).unwrap(), message);
    }

    #[test]
    fn a_body_stored_before_packing_reads_as_it_is() {
        let message = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello".to_vec();
        assert_eq!(unpack(message.clone()).unwrap(), message);
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let mut packed = Packed::new(&b"hello, hello, hello".repeat(50)).0;
        packed.truncate(packed.len() / 2);
        assert!(unpack(packed).is_err());
        assert!(unpack([MAGIC, &[0xff; 3]].concat()).is_err());
        assert!(unpack([MAGIC, &[0xff; 8]].concat()).is_err());
    }
}
