//! The known keys and cases of `vectors/` (made by Python `cryptography`; see
//! `vectors/README.md`), read with `localhsm::vectors::format`, the one reader of that format.

use localhsm::crypto::Jwk;
use localhsm::vectors::format::VectorFile;
use serde_json::Value;

use super::repo_path;

fn read(file: &str) -> String {
    let path = repo_path("vectors").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `vectors/<file>`.
pub fn vector_file(file: &str) -> VectorFile {
    VectorFile::from_json(&read(file)).unwrap_or_else(|e| panic!("parse vectors/{file}: {e}"))
}

/// The raw JSON of key `id` in `vectors/<file>`.
pub fn vector_key_json(file: &str, id: &str) -> Value {
    let doc: Value = serde_json::from_str(&read(file))
        .unwrap_or_else(|e| panic!("vectors/{file} is not JSON: {e}"));
    match &doc["keys"][id] {
        Value::Null => panic!("vectors/{file}: no key {id:?}"),
        key => key.clone(),
    }
}

/// Key `id` of `vectors/<file>` as a JWK.
pub fn vector_jwk(file: &str, id: &str) -> Jwk {
    serde_json::from_value(vector_key_json(file, id))
        .unwrap_or_else(|e| panic!("vectors/{file} key {id}: bad JWK: {e}"))
}
