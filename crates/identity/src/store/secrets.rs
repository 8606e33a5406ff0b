//! Server-side secrets generated on first start (`service_secrets`): the platform's one
//! way to keep them, for local use only.

pub use kuajing_platform::service_secrets::get_or_create;
