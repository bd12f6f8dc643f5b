//! PKCS#12 (PFX) files: one private key and its certificates, as Key Vault's certificate
//! secrets hold them and as OpenSSL, Windows and Python `cryptography` write them.
//!
//! Written with OpenSSL 3's defaults: the key in a shrouded key bag and the certificates in an
//! encrypted safe, both PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), and an HMAC-SHA256 MAC over
//! the whole, 2048 iterations each. "No password" is the empty password, which is how Key
//! Vault's managed secrets hold a PFX and what `openssl pkcs12 -passin pass:` and
//! `load_key_and_certificates(data, None)` open.
//!
//! Read: PBES2 (PBKDF2 with HMAC-SHA1/224/256/384/512, AES-CBC) and the legacy PKCS#12 PBE
//! ciphers (3DES, RC2-40, RC2-128) that OpenSSL 1.x, `-legacy` and older Windows exports use;
//! MACs over SHA-1 and SHA-2; plain and shrouded key bags, nested safe-contents bags.
//! Not read: PBMAC1 (OpenSSL 3.4's `-pbmac1_pbkdf2`), public-key protected (enveloped)
//! safes, and BER encodings that are not DER.
//!
//! Built on RustCrypto's `pkcs12` and `cms` structures and `pkcs5`; decrypted key bytes live in
//! zeroizing buffers from the moment they exist. (A file whose key is not encrypted at all
//! holds it in plain bytes from the start; the decoder's copy of such a safe is not wiped.)

use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use cms::cert::x509::attr::{Attribute, Attributes};
use cms::cert::x509::der::asn1::{OctetString, OctetStringRef, SetOfVec};
use cms::cert::x509::der::oid::ObjectIdentifier as Oid;
use cms::cert::x509::der::{Any, Decode, Encode, Reader, SliceReader};
use cms::cert::x509::spki::AlgorithmIdentifierOwned;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use hmac::{Mac, SimpleHmac};
use pkcs12::cert_type::CertBag;
use pkcs12::digest_info::DigestInfo;
use pkcs12::kdf::{derive_key, Pkcs12KeyType};
use pkcs12::mac_data::MacData;
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use pkcs12::pfx::{Pfx, Version};
use pkcs12::safe_bag::SafeBag;
use zeroize::Zeroizing;

use super::random::random_bytes;
use super::secret::SecretBytes;
use crate::error::{Error, Result};

const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
const ENCRYPTED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.6");
const PBES2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.13");
const PBMAC1: Oid = Oid::new_unwrap("1.2.840.113549.1.5.14");
const LOCAL_KEY_ID: Oid = Oid::new_unwrap("1.2.840.113549.1.9.21");
const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Iterations of PBKDF2 and of the MAC's key derivation: OpenSSL 3's default.
const ITERATIONS: u32 = 2048;

/// The most iterations a file may ask for. A PFX is untrusted input: one that asks for two
/// billion rounds would hold a request thread for minutes. Real files use 2,000 to 600,000.
const MAX_ITERATIONS: u64 = 1_000_000;

fn malformed(what: &str) -> Error {
    Error::bad_parameter(format!("the PFX is malformed: {what}"))
}

fn wrong_password() -> Error {
    Error::bad_parameter("the PFX password is wrong or missing")
}

fn der_err(_: cms::cert::x509::der::Error) -> Error {
    Error::CryptoFailure
}

fn check_iterations(n: u64) -> Result<()> {
    if n == 0 || n > MAX_ITERATIONS {
        return Err(Error::bad_parameter(format!(
            "the PFX asks for {n} key-derivation iterations; 1 to {MAX_ITERATIONS} are accepted"
        )));
    }
    Ok(())
}

/// The password as the PKCS#12 key derivation takes it: UTF-16BE with a two-byte NUL.
fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(2 * password.len() + 2));
    for unit in password.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// The forms a password may take in the PKCS#12 key derivation. An absent or empty password
/// is written by some tools as the empty string (two NUL bytes) and by others as no bytes at
/// all (OpenSSL's NULL); both are tried, as OpenSSL does.
fn bmp_candidates(password: &str) -> Vec<Zeroizing<Vec<u8>>> {
    if password.is_empty() {
        vec![bmp_password(""), Zeroizing::new(Vec::new())]
    } else {
        vec![bmp_password(password)]
    }
}

// ---------------------------------------------------------------------------------------
// Writing

fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    out.copy_from_slice(&random_bytes(N)?);
    Ok(out)
}

/// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) over `plaintext`.
fn pbes2_encrypt(plaintext: &[u8], password: &str) -> Result<(AlgorithmIdentifierOwned, Vec<u8>)> {
    let salt: [u8; 16] = random_array()?;
    let iv: [u8; 16] = random_array()?;
    let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, &iv)
        .map_err(|_| Error::CryptoFailure)?;
    // In place, in a buffer that is wiped afterwards: it holds the plaintext first.
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + 16));
    buffer.extend_from_slice(plaintext);
    buffer.extend_from_slice(&[0u8; 16]);
    let ciphertext = params
        .encrypt_in_place(password.as_bytes(), &mut buffer, plaintext.len())
        .map_err(|_| Error::CryptoFailure)?
        .to_vec();
    let alg = AlgorithmIdentifierOwned {
        oid: PBES2,
        parameters: Some(Any::from_der(&params.to_der().map_err(der_err)?).map_err(der_err)?),
    };
    Ok((alg, ciphertext))
}

fn local_key_id_attributes(local_key_id: &[u8]) -> Result<Attributes> {
    let value = Any::from_der(
        &OctetStringRef::new(local_key_id)
            .map_err(der_err)?
            .to_der()
            .map_err(der_err)?,
    )
    .map_err(der_err)?;
    let mut attrs = Attributes::new();
    attrs
        .insert(Attribute {
            oid: LOCAL_KEY_ID,
            values: SetOfVec::try_from(vec![value]).map_err(der_err)?,
        })
        .map_err(der_err)?;
    Ok(attrs)
}

fn data_content(bytes: Vec<u8>) -> Result<ContentInfo> {
    let octets = OctetString::new(bytes).map_err(der_err)?;
    Ok(ContentInfo {
        content_type: DATA,
        content: Any::from_der(&octets.to_der().map_err(der_err)?).map_err(der_err)?,
    })
}

/// Writes a PFX holding `pkcs8` (PKCS#8 DER) and `certs` (DER, leaf first). The leaf and
/// the key carry `local_key_id`, which is how readers pair them.
pub(crate) fn write(
    pkcs8: &SecretBytes,
    certs: &[Vec<u8>],
    local_key_id: &[u8],
    password: &str,
) -> Result<SecretBytes> {
    let (alg, encrypted_key) = pbes2_encrypt(pkcs8.expose(), password)?;
    let shrouded = EncryptedPrivateKeyInfo {
        encryption_algorithm: alg,
        encrypted_data: OctetString::new(encrypted_key).map_err(der_err)?,
    };
    let key_bag = SafeBag {
        bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
        bag_value: shrouded.to_der().map_err(der_err)?,
        bag_attributes: Some(local_key_id_attributes(local_key_id)?),
    };
    let key_safe = data_content(vec![key_bag].to_der().map_err(der_err)?)?;

    let mut cert_bags = Vec::with_capacity(certs.len());
    for (i, der) in certs.iter().enumerate() {
        let bag = CertBag {
            cert_id: pkcs12::PKCS_12_X509_CERT_OID,
            cert_value: OctetString::new(der.clone()).map_err(der_err)?,
        };
        cert_bags.push(SafeBag {
            bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
            bag_value: bag.to_der().map_err(der_err)?,
            bag_attributes: if i == 0 {
                Some(local_key_id_attributes(local_key_id)?)
            } else {
                None
            },
        });
    }
    let (alg, encrypted_certs) = pbes2_encrypt(&cert_bags.to_der().map_err(der_err)?, password)?;
    let encrypted = EncryptedData {
        version: CmsVersion::V0,
        enc_content_info: EncryptedContentInfo {
            content_type: DATA,
            content_enc_alg: alg,
            encrypted_content: Some(OctetString::new(encrypted_certs).map_err(der_err)?),
        },
        unprotected_attrs: None,
    };
    let cert_safe = ContentInfo {
        content_type: ENCRYPTED_DATA,
        content: Any::from_der(&encrypted.to_der().map_err(der_err)?).map_err(der_err)?,
    };

    // OpenSSL's order: certificates first, then the key.
    let auth_safe = vec![cert_safe, key_safe].to_der().map_err(der_err)?;
    let salt = random_bytes(16)?;
    let mac = hmac_pkcs12::<sha2::Sha256>(&bmp_password(password), &salt, ITERATIONS, &auth_safe)?;
    let pfx = Pfx {
        version: Version::V3,
        auth_safe: data_content(auth_safe)?,
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: SHA256,
                    parameters: None,
                },
                digest: OctetString::new(mac).map_err(der_err)?,
            },
            mac_salt: OctetString::new(salt).map_err(der_err)?,
            iterations: ITERATIONS as i32,
        }),
    };
    Ok(SecretBytes::new(pfx.to_der().map_err(der_err)?))
}

/// HMAC with a key from the PKCS#12 key derivation (RFC 7292 appendix B), as the PFX MAC is.
fn hmac_pkcs12<D>(password: &[u8], salt: &[u8], iterations: u32, data: &[u8]) -> Result<Vec<u8>>
where
    D: sha2::Digest
        + sha2::digest::FixedOutputReset
        + sha2::digest::core_api::BlockSizeUser
        + Clone,
{
    let key = Zeroizing::new(derive_key::<D>(
        password,
        salt,
        Pkcs12KeyType::Mac,
        iterations as i32,
        <D as sha2::Digest>::output_size(),
    ));
    let mut mac = <SimpleHmac<D> as Mac>::new_from_slice(&key).map_err(|_| Error::CryptoFailure)?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

// ---------------------------------------------------------------------------------------
// Reading

/// What a PFX holds: private keys (PKCS#8 DER) and certificates (DER), in file order.
pub(crate) struct PfxContents {
    pub(crate) keys: Vec<SecretBytes>,
    pub(crate) certs: Vec<Vec<u8>>,
}

/// The password as each scheme takes it, once the MAC (if any) has told which form is right.
struct Passwords {
    /// UTF-8 bytes, for PBES2.
    utf8: Zeroizing<Vec<u8>>,
    /// The PKCS#12 forms still possible, for the legacy PBE ciphers.
    bmp: Vec<Zeroizing<Vec<u8>>>,
}

/// Reads a PFX. `None` and `Some("")` both mean the empty password.
pub(crate) fn read(pfx: &[u8], password: Option<&str>) -> Result<PfxContents> {
    let password = password.unwrap_or("");
    let pfx = Pfx::from_der(pfx)
        .map_err(|_| Error::bad_parameter("the value is not a PFX (PKCS#12) file in DER"))?;
    if pfx.auth_safe.content_type != DATA {
        return Err(Error::bad_parameter(
            "PFX files protected by a public key (signed or enveloped) are not supported; \
             export it with a password",
        ));
    }
    let auth_safe = OctetString::from_der(&pfx.auth_safe.content.to_der().map_err(der_err)?)
        .map_err(|_| malformed("the authenticated safe is not an OCTET STRING"))?;
    let auth_safe = auth_safe.as_bytes();

    let mut bmp = bmp_candidates(password);
    if let Some(mac_data) = &pfx.mac_data {
        let right = verify_mac(mac_data, &bmp, auth_safe)?;
        bmp = vec![bmp.swap_remove(right)];
    }
    let passwords = Passwords {
        utf8: Zeroizing::new(password.as_bytes().to_vec()),
        bmp,
    };

    let safes = Vec::<ContentInfo>::from_der(auth_safe)
        .map_err(|_| malformed("the authenticated safe is not a sequence of ContentInfo"))?;
    let mut out = PfxContents {
        keys: Vec::new(),
        certs: Vec::new(),
    };
    for safe in safes {
        let content = Zeroizing::new(safe.content.to_der().map_err(der_err)?);
        let bags = match safe.content_type {
            DATA => Zeroizing::new(
                OctetString::from_der(&content)
                    .map_err(|_| malformed("a data safe is not an OCTET STRING"))?
                    .into_bytes(),
            ),
            ENCRYPTED_DATA => {
                let encrypted = EncryptedData::from_der(&content)
                    .map_err(|_| malformed("an encrypted safe is not EncryptedData"))?;
                let info = encrypted.enc_content_info;
                match info.encrypted_content {
                    Some(c) => decrypt(&info.content_enc_alg, c.as_bytes(), &passwords)?,
                    None => continue,
                }
            }
            _ => {
                return Err(Error::bad_parameter(
                    "the PFX has a safe protected by a public key (enveloped); \
                     export it with a password",
                ))
            }
        };
        read_bags(&bags, &passwords, &mut out, 0)?;
    }
    Ok(out)
}

/// Checks the MAC with each candidate form of the password; the index of the one that fits.
fn verify_mac(mac_data: &MacData, candidates: &[Zeroizing<Vec<u8>>], data: &[u8]) -> Result<usize> {
    let iterations = u64::try_from(mac_data.iterations).unwrap_or(0);
    check_iterations(iterations)?;
    let iterations = iterations as u32;
    let salt = mac_data.mac_salt.as_bytes();
    let expected = mac_data.mac.digest.as_bytes();
    for (i, password) in candidates.iter().enumerate() {
        let mac = match mac_data.mac.algorithm.oid {
            SHA1 => hmac_pkcs12::<sha1::Sha1>(password, salt, iterations, data)?,
            SHA256 => hmac_pkcs12::<sha2::Sha256>(password, salt, iterations, data)?,
            SHA384 => hmac_pkcs12::<sha2::Sha384>(password, salt, iterations, data)?,
            SHA512 => hmac_pkcs12::<sha2::Sha512>(password, salt, iterations, data)?,
            PBMAC1 => {
                return Err(Error::bad_parameter(
                    "the PFX uses a PBMAC1 integrity check, which is not supported; \
                     export it with an HMAC-SHA256 MAC (OpenSSL's default)",
                ))
            }
            other => {
                return Err(Error::bad_parameter(format!(
                    "the PFX's MAC digest {other} is not supported"
                )))
            }
        };
        if subtle::ConstantTimeEq::ct_eq(mac.as_slice(), expected).into() {
            return Ok(i);
        }
    }
    Err(wrong_password())
}

/// Walks a SafeContents, collecting keys and certificates. `depth` bounds nesting.
fn read_bags(
    bags: &[u8],
    passwords: &Passwords,
    out: &mut PfxContents,
    depth: usize,
) -> Result<()> {
    if depth > 4 {
        return Err(malformed("safe contents nest too deeply"));
    }
    // Each bag's value moves into a buffer wiped on drop: a plain key bag is the key.
    let bags: Vec<(Oid, Zeroizing<Vec<u8>>)> = Vec::<SafeBag>::from_der(bags)
        .map_err(|_| malformed("a safe is not SafeContents"))?
        .into_iter()
        .map(|bag| (bag.bag_id, Zeroizing::new(bag.bag_value)))
        .collect();
    for (bag_id, bag_value) in &bags {
        // bag_value holds the [0] EXPLICIT wrapper; its content is the bag itself.
        let value = explicit_content(bag_value)?;
        match *bag_id {
            pkcs12::PKCS_12_KEY_BAG_OID => {
                out.keys.push(SecretBytes::from_slice(value));
            }
            pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
                let shrouded = EncryptedPrivateKeyInfo::from_der(value)
                    .map_err(|_| malformed("a shrouded key bag is not EncryptedPrivateKeyInfo"))?;
                let key = decrypt(
                    &shrouded.encryption_algorithm,
                    shrouded.encrypted_data.as_bytes(),
                    passwords,
                )?;
                out.keys.push(SecretBytes::from(key));
            }
            pkcs12::PKCS_12_CERT_BAG_OID => {
                let cert = CertBag::from_der(value)
                    .map_err(|_| malformed("a certificate bag is not a CertBag"))?;
                if cert.cert_id == pkcs12::PKCS_12_X509_CERT_OID {
                    out.certs.push(cert.cert_value.into_bytes());
                }
            }
            pkcs12::PKCS_12_SAFE_CONTENTS_BAG_OID => {
                read_bags(value, passwords, out, depth + 1)?;
            }
            // CRL and secret bags carry nothing a certificate import uses.
            _ => {}
        }
    }
    Ok(())
}

/// The content of a `[0] EXPLICIT` wrapper.
fn explicit_content(tlv: &[u8]) -> Result<&[u8]> {
    let reader = SliceReader::new(tlv).map_err(der_err)?;
    let header = reader
        .peek_header()
        .map_err(|_| malformed("a bag value is not tagged"))?;
    let header_len = usize::try_from(header.encoded_len().map_err(der_err)?)
        .map_err(|_| Error::CryptoFailure)?;
    let body_len = usize::try_from(header.length).map_err(|_| Error::CryptoFailure)?;
    tlv.get(header_len..header_len + body_len)
        .filter(|_| header.tag.is_context_specific())
        .ok_or_else(|| malformed("a bag value is not [0] EXPLICIT"))
}

/// Decrypts a key bag or a safe under PBES2 or a PKCS#12 PBE cipher.
fn decrypt(
    alg: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    passwords: &Passwords,
) -> Result<Zeroizing<Vec<u8>>> {
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| malformed("an encryption algorithm has no parameters"))?
        .to_der()
        .map_err(der_err)?;
    match alg.oid {
        PBES2 => {
            let params = pkcs5::pbes2::Parameters::from_der(&params).map_err(|_| {
                Error::bad_parameter(
                    "the PFX uses a PBES2 scheme that is not supported (PBKDF2 with AES-CBC is)",
                )
            })?;
            match &params.kdf {
                pkcs5::pbes2::Kdf::Pbkdf2(p) => check_iterations(u64::from(p.iteration_count))?,
                _ => {
                    return Err(Error::bad_parameter(
                        "the PFX derives its keys with a function other than PBKDF2 (scrypt?), \
                         which is not supported",
                    ))
                }
            }
            let mut buffer = Zeroizing::new(ciphertext.to_vec());
            let len = params
                .decrypt_in_place(passwords.utf8.as_slice(), &mut buffer)
                .map(|plain| plain.len())
                .map_err(|e| match e {
                    pkcs5::Error::DecryptFailed => wrong_password(),
                    _ => Error::bad_parameter(
                        "the PFX uses a PBES2 cipher or PRF that is not supported \
                         (PBKDF2-HMAC-SHA1/SHA-2 with AES-CBC is)",
                    ),
                })?;
            buffer.truncate(len);
            Ok(buffer)
        }
        pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC => {
            pbe1::<des::TdesEde3>(&params, ciphertext, passwords, 24)
        }
        pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC => {
            pbe1::<rc2::Rc2>(&params, ciphertext, passwords, 5)
        }
        pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC => {
            pbe1::<rc2::Rc2>(&params, ciphertext, passwords, 16)
        }
        other => Err(Error::bad_parameter(format!(
            "the PFX's encryption algorithm {other} is not supported"
        ))),
    }
}

/// A legacy PKCS#12 PBE cipher (RFC 7292 appendix C): key and IV from the PKCS#12 key
/// derivation over SHA-1, then CBC with PKCS#7 padding.
fn pbe1<C>(
    params: &[u8],
    ciphertext: &[u8],
    passwords: &Passwords,
    key_len: usize,
) -> Result<Zeroizing<Vec<u8>>>
where
    C: cbc::cipher::BlockCipher + cbc::cipher::BlockDecrypt + cbc::cipher::KeyInit,
    cbc::Decryptor<C>: KeyIvInit,
{
    let bad = || malformed("the PKCS#12 PBE parameters are not (salt, iterations)");
    let mut reader = SliceReader::new(params).map_err(|_| bad())?;
    let (salt, iterations) = reader
        .sequence(|r| {
            let salt = OctetStringRef::decode(r)?.as_bytes().to_vec();
            let iterations: u64 = r.decode()?;
            Ok((salt, iterations))
        })
        .map_err(|_| bad())?;
    check_iterations(iterations)?;
    let rounds = iterations as i32;
    for password in &passwords.bmp {
        let key = Zeroizing::new(derive_key::<sha1::Sha1>(
            password,
            &salt,
            Pkcs12KeyType::EncryptionKey,
            rounds,
            key_len,
        ));
        let iv = derive_key::<sha1::Sha1>(password, &salt, Pkcs12KeyType::Iv, rounds, 8);
        let decryptor =
            cbc::Decryptor::<C>::new_from_slices(&key, &iv).map_err(|_| Error::CryptoFailure)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        if let Ok(len) = decryptor
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len())
        {
            buf.truncate(len);
            return Ok(buf);
        }
    }
    Err(wrong_password())
}

/// Reads the bytes of one PKCS#12 safe bag as context-specific data; used by tests.
#[cfg(test)]
fn cert_bag_value(der: &[u8]) -> Vec<u8> {
    cms::cert::x509::der::asn1::ContextSpecific::<CertBag>::from_der(der)
        .map(|c| c.value.cert_value.into_bytes())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(password: &str) -> SecretBytes {
        let key = SecretBytes::from_slice(b"\x30\x03\x02\x01\x00 not really a key");
        write(&key, &[b"leaf".to_vec(), b"ca".to_vec()], b"id", password).unwrap()
    }

    #[test]
    fn round_trips_with_and_without_password() {
        for password in ["", "pässwörd"] {
            let pfx = sample(password);
            let back = read(pfx.expose(), Some(password)).unwrap();
            assert_eq!(back.keys.len(), 1);
            assert_eq!(&back.keys[0].expose()[..5], b"\x30\x03\x02\x01\x00");
            assert_eq!(back.certs, vec![b"leaf".to_vec(), b"ca".to_vec()]);
        }
        // No password and the empty password are the same thing.
        assert!(read(sample("").expose(), None).is_ok());
    }

    #[test]
    fn wrong_password_and_garbage_are_bad_parameter() {
        let pfx = sample("right");
        for password in [Some("wrong"), None] {
            match read(pfx.expose(), password) {
                Err(Error::BadParameter(m)) => assert!(m.contains("password"), "{m}"),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        assert!(matches!(
            read(b"\x30\x03garbage", None),
            Err(Error::BadParameter(_))
        ));
    }

    #[test]
    fn absurd_iteration_counts_are_refused() {
        assert!(check_iterations(2048).is_ok());
        assert!(matches!(
            check_iterations(u64::from(u32::MAX)),
            Err(Error::BadParameter(_))
        ));
        assert!(check_iterations(0).is_err());
    }

    #[test]
    fn cert_bags_hold_the_certificate_bytes() {
        let bag = CertBag {
            cert_id: pkcs12::PKCS_12_X509_CERT_OID,
            cert_value: OctetString::new(b"cert".to_vec()).unwrap(),
        };
        let safe_bag = SafeBag {
            bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
            bag_value: bag.to_der().unwrap(),
            bag_attributes: None,
        };
        let encoded = safe_bag.to_der().unwrap();
        let decoded = SafeBag::from_der(&encoded).unwrap();
        assert_eq!(cert_bag_value(&decoded.bag_value), b"cert");
        assert_eq!(
            CertBag::from_der(explicit_content(&decoded.bag_value).unwrap())
                .unwrap()
                .cert_value
                .as_bytes(),
            b"cert"
        );
    }
}
