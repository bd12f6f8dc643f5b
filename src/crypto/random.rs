//! Randomness from the system CSPRNG (through ring): key generation, IVs, version ids,
//! request ids.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// Fills a fresh buffer of `len` bytes from the system CSPRNG.
pub fn random_bytes(len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    fill_random(&mut buf)?;
    Ok(buf)
}

/// Fills `buf` from the system CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::Storage("the system random number generator failed".into()))
}

/// A random GUID-shaped id (`8-4-4-4-12` lowercase hex): request ids, role assignment
/// names.
pub fn random_guid() -> Result<String> {
    let h = hex::encode(random_bytes(16)?);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}
