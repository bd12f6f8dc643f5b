//! Keys as PKCS#11 objects: an EC or RSA key is a private and a public key object, an oct
//! key a secret key object, each for the key's current version. Their attributes come from
//! the key bundle (public JWK, `key_ops`, exportability) and are compared byte for byte
//! against search templates. A certificate is a `CKO_CERTIFICATE` object and a secret a
//! `CKO_DATA` object, each for its current version too.

use std::collections::BTreeMap;

use cryptoki_sys::*;
use localhsm::crypto::{CurveName, KeyFamily, KeyOperation, KeySpec};
use localhsm::model::certificates::CertificateBundle;
use localhsm::model::{KeyBundle, SecretBundle};

/// `CK_UNAVAILABLE_INFORMATION`: the length reported for an attribute that cannot be read.
pub const CK_UNAVAILABLE_INFORMATION: CK_ULONG = CK_ULONG::MAX;

/// The tag that keeps a `CKA_ID` given by a PKCS#11 template with the key (hex).
pub const ID_TAG: &str = "pkcs11-id";

/// A PKCS#11 object: which key version it shows, and as what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// The vault (token).
    pub vault: String,
    /// The key's name as created.
    pub name: String,
    /// The key version.
    pub version: String,
    /// `CKO_PRIVATE_KEY`, `CKO_PUBLIC_KEY`, `CKO_SECRET_KEY` (a key), `CKO_CERTIFICATE` (a
    /// certificate) or `CKO_DATA` (a secret).
    pub class: CK_OBJECT_CLASS,
}

impl ObjectRef {
    /// Whether only a logged-in user sees and uses the object.
    pub fn is_private(&self) -> bool {
        !matches!(self.class, CKO_PUBLIC_KEY | CKO_CERTIFICATE)
    }

    /// Whether the object shows a key (rather than a certificate or a secret).
    pub fn is_key(&self) -> bool {
        matches!(
            self.class,
            CKO_PRIVATE_KEY | CKO_PUBLIC_KEY | CKO_SECRET_KEY
        )
    }
}

/// One attribute's value as `C_GetAttributeValue` reports it.
#[derive(Debug, PartialEq, Eq)]
pub enum AttrValue<'a> {
    /// The value's bytes.
    Value(&'a [u8]),
    /// The object has it, and it may not leave (`CKR_ATTRIBUTE_SENSITIVE`).
    Sensitive,
    /// The object has no such attribute (`CKR_ATTRIBUTE_TYPE_INVALID`).
    Invalid,
}

/// An object's attributes.
pub struct Object {
    /// Which key version, as what.
    pub target: ObjectRef,
    values: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    sensitive: Vec<CK_ATTRIBUTE_TYPE>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A data object's CKA_VALUE is a secret's value: only the attribute types are shown.
        f.debug_struct("Object")
            .field("target", &self.target)
            .field("attributes", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        for v in self.values.values_mut() {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

impl Object {
    /// One attribute.
    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> AttrValue<'_> {
        if let Some(v) = self.values.get(&ty) {
            AttrValue::Value(v)
        } else if self.sensitive.contains(&ty) {
            AttrValue::Sensitive
        } else {
            AttrValue::Invalid
        }
    }

    /// Whether every attribute of `template` has exactly the given value here.
    pub fn matches(&self, template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> bool {
        template
            .iter()
            .all(|(ty, want)| self.values.get(ty).is_some_and(|v| v == want))
    }
}

/// A `CK_ULONG` attribute value, in the platform's layout.
pub fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// A `CK_BBOOL` attribute value.
pub fn bool_attr(v: bool) -> Vec<u8> {
    vec![if v { CK_TRUE } else { CK_FALSE }]
}

/// The DER `OBJECT IDENTIFIER` of a curve (`CKA_EC_PARAMS`).
pub fn ec_params(curve: CurveName) -> Option<&'static [u8]> {
    match curve {
        CurveName::P256 => Some(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
        CurveName::P384 => Some(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
        CurveName::P521 => Some(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23]),
        CurveName::P256K => Some(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]),
        _ => None,
    }
}

/// The curve a `CKA_EC_PARAMS` value names.
pub fn curve_of_params(der: &[u8]) -> Option<CurveName> {
    [
        CurveName::P256,
        CurveName::P384,
        CurveName::P521,
        CurveName::P256K,
    ]
    .into_iter()
    .find(|c| ec_params(*c) == Some(der))
}

/// DER `OCTET STRING` around `content` (`CKA_EC_POINT` is the point wrapped in one).
fn der_octet_string(content: &[u8]) -> Vec<u8> {
    der_tlv(0x04, content)
}

/// A DER element of `tag` around `content` (shorter than 64 KiB).
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xff {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len.saturating_sub(bytes.len())];
    out.extend_from_slice(bytes);
    out
}

/// The `CKA_ID` of a key version: the one a template gave (kept in [`ID_TAG`]), else the
/// version's 16 bytes, so a key pair's two objects share it as tools expect.
pub fn key_id(bundle: &KeyBundle) -> Vec<u8> {
    bundle
        .tags
        .get(ID_TAG)
        .and_then(|h| hex::decode(h).ok())
        .or_else(|| hex::decode(&bundle.version).ok())
        .unwrap_or_else(|| bundle.version.as_bytes().to_vec())
}

/// The objects that show a key version. `spec` is the key's type and size.
pub fn key_objects(bundle: &KeyBundle, spec: KeySpec) -> Vec<Object> {
    let ops = |op: KeyOperation| bundle.key_ops.contains(&op);
    let exportable = bundle.attributes.exportable;
    let target = |class| ObjectRef {
        vault: bundle.vault.clone(),
        name: bundle.name.clone(),
        version: bundle.version.clone(),
        class,
    };
    let mut common = BTreeMap::new();
    common.insert(CKA_TOKEN, bool_attr(true));
    common.insert(CKA_LABEL, bundle.name.as_bytes().to_vec());
    common.insert(CKA_ID, key_id(bundle));
    common.insert(CKA_MODIFIABLE, bool_attr(false));
    common.insert(CKA_COPYABLE, bool_attr(false));
    common.insert(CKA_DESTROYABLE, bool_attr(!bundle.managed));
    common.insert(CKA_DERIVE, bool_attr(false));
    common.insert(CKA_START_DATE, Vec::new());
    common.insert(CKA_END_DATE, Vec::new());
    common.insert(CKA_LOCAL, bool_attr(false));
    let private_flags = |m: &mut BTreeMap<_, _>| {
        m.insert(CKA_PRIVATE, bool_attr(true));
        m.insert(CKA_SENSITIVE, bool_attr(!exportable));
        m.insert(CKA_ALWAYS_SENSITIVE, bool_attr(!exportable));
        m.insert(CKA_EXTRACTABLE, bool_attr(exportable));
        m.insert(CKA_NEVER_EXTRACTABLE, bool_attr(!exportable));
        m.insert(CKA_WRAP_WITH_TRUSTED, bool_attr(false));
        m.insert(CKA_ALWAYS_AUTHENTICATE, bool_attr(false));
    };
    match spec {
        KeySpec::Oct(bits) => {
            let mut m = common;
            private_flags(&mut m);
            m.insert(CKA_CLASS, ulong(CKO_SECRET_KEY));
            m.insert(CKA_KEY_TYPE, ulong(CKK_AES));
            m.insert(CKA_VALUE_LEN, ulong((bits / 8) as CK_ULONG));
            m.insert(CKA_ENCRYPT, bool_attr(ops(KeyOperation::Encrypt)));
            m.insert(CKA_DECRYPT, bool_attr(ops(KeyOperation::Decrypt)));
            m.insert(CKA_WRAP, bool_attr(ops(KeyOperation::WrapKey)));
            m.insert(CKA_UNWRAP, bool_attr(ops(KeyOperation::UnwrapKey)));
            m.insert(CKA_SIGN, bool_attr(false));
            m.insert(CKA_VERIFY, bool_attr(false));
            m.insert(CKA_TRUSTED, bool_attr(false));
            vec![Object {
                target: target(CKO_SECRET_KEY),
                values: m,
                sensitive: vec![CKA_VALUE],
            }]
        }
        KeySpec::Ec(_) | KeySpec::Rsa(_) => {
            let mut public_parts = BTreeMap::new();
            let (key_type, sensitive) = match spec {
                KeySpec::Ec(curve) => {
                    let n = curve.scalar_len();
                    let coord = |c: &Option<localhsm::crypto::Base64Url>| {
                        left_pad(c.as_ref().map(|b| b.0.as_slice()).unwrap_or(&[]), n)
                    };
                    let mut point = vec![0x04];
                    point.extend(coord(&bundle.key.x));
                    point.extend(coord(&bundle.key.y));
                    public_parts
                        .insert(CKA_EC_PARAMS, ec_params(curve).unwrap_or_default().to_vec());
                    public_parts.insert(CKA_EC_POINT, der_octet_string(&point));
                    (CKK_EC, vec![CKA_VALUE])
                }
                _ => {
                    let n = bundle
                        .key
                        .n
                        .as_ref()
                        .map(|b| b.0.clone())
                        .unwrap_or_default();
                    let e = bundle
                        .key
                        .e
                        .as_ref()
                        .map(|b| b.0.clone())
                        .unwrap_or_default();
                    public_parts.insert(CKA_MODULUS_BITS, ulong((n.len() * 8) as CK_ULONG));
                    public_parts.insert(CKA_MODULUS, n);
                    public_parts.insert(CKA_PUBLIC_EXPONENT, e);
                    (
                        CKK_RSA,
                        vec![
                            CKA_PRIVATE_EXPONENT,
                            CKA_PRIME_1,
                            CKA_PRIME_2,
                            CKA_EXPONENT_1,
                            CKA_EXPONENT_2,
                            CKA_COEFFICIENT,
                        ],
                    )
                }
            };
            let mut private = common.clone();
            private.extend(public_parts.clone());
            private_flags(&mut private);
            private.insert(CKA_CLASS, ulong(CKO_PRIVATE_KEY));
            private.insert(CKA_KEY_TYPE, ulong(key_type));
            private.insert(CKA_SIGN, bool_attr(ops(KeyOperation::Sign)));
            private.insert(CKA_DECRYPT, bool_attr(ops(KeyOperation::Decrypt)));
            private.insert(CKA_UNWRAP, bool_attr(ops(KeyOperation::UnwrapKey)));
            private.insert(CKA_SIGN_RECOVER, bool_attr(false));
            let mut public = common;
            public.extend(public_parts);
            public.insert(CKA_CLASS, ulong(CKO_PUBLIC_KEY));
            public.insert(CKA_KEY_TYPE, ulong(key_type));
            public.insert(CKA_PRIVATE, bool_attr(false));
            public.insert(CKA_VERIFY, bool_attr(ops(KeyOperation::Verify)));
            public.insert(CKA_ENCRYPT, bool_attr(ops(KeyOperation::Encrypt)));
            public.insert(CKA_WRAP, bool_attr(ops(KeyOperation::WrapKey)));
            public.insert(CKA_VERIFY_RECOVER, bool_attr(false));
            public.insert(CKA_TRUSTED, bool_attr(false));
            vec![
                Object {
                    target: target(CKO_PRIVATE_KEY),
                    values: private,
                    sensitive,
                },
                Object {
                    target: target(CKO_PUBLIC_KEY),
                    values: public,
                    sensitive: Vec::new(),
                },
            ]
        }
    }
}

/// The `CKO_CERTIFICATE` object of a certificate's version; `None` while it is pending (no
/// DER yet) or when the DER does not parse. `id` is the `CKA_ID` of the certificate's key,
/// so tools pair the certificate with its private key.
pub fn certificate_object(bundle: &CertificateBundle, id: Vec<u8>) -> Option<Object> {
    let der = bundle.cer.as_ref()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let mut m = BTreeMap::new();
    m.insert(CKA_CLASS, ulong(CKO_CERTIFICATE));
    m.insert(CKA_CERTIFICATE_TYPE, ulong(CKC_X_509));
    m.insert(CKA_TOKEN, bool_attr(true));
    m.insert(CKA_PRIVATE, bool_attr(false));
    m.insert(CKA_MODIFIABLE, bool_attr(false));
    m.insert(CKA_COPYABLE, bool_attr(false));
    m.insert(CKA_DESTROYABLE, bool_attr(true));
    m.insert(CKA_TRUSTED, bool_attr(false));
    m.insert(CKA_CERTIFICATE_CATEGORY, ulong(0));
    m.insert(CKA_LABEL, bundle.name.as_bytes().to_vec());
    m.insert(CKA_ID, id);
    m.insert(CKA_SUBJECT, tbs.subject.as_raw().to_vec());
    m.insert(CKA_ISSUER, tbs.issuer.as_raw().to_vec());
    // PKCS#11 wants the whole DER INTEGER, not only its content octets.
    m.insert(CKA_SERIAL_NUMBER, der_tlv(0x02, tbs.raw_serial()));
    m.insert(CKA_START_DATE, Vec::new());
    m.insert(CKA_END_DATE, Vec::new());
    m.insert(CKA_VALUE, der.clone());
    Some(Object {
        target: ObjectRef {
            vault: bundle.vault.clone(),
            name: bundle.name.clone(),
            version: bundle.version.clone(),
            class: CKO_CERTIFICATE,
        },
        values: m,
        sensitive: Vec::new(),
    })
}

/// The application every secret's `CKO_DATA` object names (`CKA_APPLICATION`).
pub const DATA_APPLICATION: &str = "localhsm";

/// The `CKO_DATA` object of a secret's version. Its `CKA_VALUE` is the secret's value when
/// `bundle` carries it; a bundle without one (a value the vault will not hand out: a
/// disabled version, a certificate's withheld key) reads as sensitive.
pub fn data_object(bundle: &SecretBundle) -> Object {
    let mut m = BTreeMap::new();
    m.insert(CKA_CLASS, ulong(CKO_DATA));
    m.insert(CKA_TOKEN, bool_attr(true));
    m.insert(CKA_PRIVATE, bool_attr(true));
    m.insert(CKA_MODIFIABLE, bool_attr(false));
    m.insert(CKA_COPYABLE, bool_attr(false));
    m.insert(CKA_DESTROYABLE, bool_attr(!bundle.managed));
    m.insert(CKA_LABEL, bundle.name.as_bytes().to_vec());
    m.insert(CKA_APPLICATION, DATA_APPLICATION.as_bytes().to_vec());
    let mut sensitive = Vec::new();
    match &bundle.value {
        Some(v) => {
            m.insert(CKA_VALUE, v.expose().as_bytes().to_vec());
        }
        None => sensitive.push(CKA_VALUE),
    }
    Object {
        target: ObjectRef {
            vault: bundle.vault.clone(),
            name: bundle.name.clone(),
            version: bundle.version.clone(),
            class: CKO_DATA,
        },
        values: m,
        sensitive,
    }
}

/// The family a `CKA_KEY_TYPE` names, if the module keeps keys of it.
pub fn family_of_key_type(ty: CK_KEY_TYPE) -> Option<KeyFamily> {
    match ty {
        CKK_EC => Some(KeyFamily::Ec),
        CKK_RSA => Some(KeyFamily::Rsa),
        CKK_AES => Some(KeyFamily::Oct),
        _ => None,
    }
}

/// The longest attribute value a template may carry. Nothing a vault holds comes near it
/// (a Key Vault request is at most 1 MiB); a larger declared length is refused before a
/// byte is read, rather than read past the end of the caller's buffer.
pub const MAX_TEMPLATE_VALUE_LEN: usize = 1 << 20;

/// The one length a value of attribute `ty` can have, for the `CK_BBOOL` and `CK_ULONG`
/// attributes; `None` for variable-length ones.
pub fn fixed_value_len(ty: CK_ATTRIBUTE_TYPE) -> Option<usize> {
    match ty {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_TRUSTED => Some(std::mem::size_of::<CK_BBOOL>()),
        CKA_CLASS
        | CKA_KEY_TYPE
        | CKA_VALUE_LEN
        | CKA_MODULUS_BITS
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_KEY_GEN_MECHANISM => Some(std::mem::size_of::<CK_ULONG>()),
        _ => None,
    }
}

/// A template, its values copied out of the caller's memory.
#[derive(Default)]
pub struct Template(pub Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A template may carry key material (CKA_VALUE): only the types are shown.
        f.debug_list()
            .entries(self.0.iter().map(|(t, _)| t))
            .finish()
    }
}

impl Drop for Template {
    fn drop(&mut self) {
        for (_, v) in &mut self.0 {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

impl Template {
    /// The raw value of `ty`, if given.
    pub fn bytes(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_slice())
    }

    /// A `CK_BBOOL` value; `Err(CKR_ATTRIBUTE_VALUE_INVALID)` when it is not one byte.
    pub fn bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<bool>, CK_RV> {
        match self.bytes(ty) {
            None => Ok(None),
            Some([b]) => Ok(Some(*b != CK_FALSE)),
            Some(_) => Err(CKR_ATTRIBUTE_VALUE_INVALID),
        }
    }

    /// A `CK_ULONG` value.
    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<CK_ULONG>, CK_RV> {
        match self.bytes(ty) {
            None => Ok(None),
            Some(b) => b
                .try_into()
                .map(|a| Some(CK_ULONG::from_ne_bytes(a)))
                .map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID),
        }
    }
}
