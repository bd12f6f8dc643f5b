//! localhsm core (crate docs written below).
pub mod clock;
pub mod crypto;
pub mod error;
pub mod handle;
pub mod hazmat;
pub mod model;
pub mod store;
pub mod vault;

pub use clock::{Clock, ManualClock, OffsetClock, SystemClock, UnixTime};
pub use crypto::KeySpec;
pub use error::{Error, Result};
pub use handle::KeyHandle;
pub use store::{MasterKeySource, Store, StoreBuilder, SweepReport};
pub use vault::Vault;
pub mod cli;
pub mod server;
