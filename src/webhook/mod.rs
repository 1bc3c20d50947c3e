//! Webhooks' nouns: what an endpoint is, the events Machinist tells about,
//! how a delivery is signed and shaped, and which destinations it may reach.
//! Pure: no store, no clock, no network (sending is `delivery/`).
//!
//! - [`endpoint`]: a receiver's URL, format, event filter and subject
//!   filter ([`Endpoint`], [`EndpointSpec`], [`EndpointPatch`]).
//! - [`event`]: the stable event catalogue ([`EventType`]) and one event
//!   as stored and sent ([`Event`], `{type, timestamp, data}`).
//! - [`secret`]: per-endpoint `whsec_` secrets and the Standard Webhooks
//!   signature, made by the `standardwebhooks` crate ([`Secret`],
//!   [`Signer`]).
//! - [`destination`]: which URLs and addresses a delivery may go to
//!   ([`DestinationPolicy`]): https only, no private ranges, unless allowed.
//! - [`slack`]: the `slack` format, a body Slack and Mattermost incoming
//!   webhooks accept.

pub mod catalogue;
pub mod destination;
pub mod endpoint;
pub mod event;
pub mod secret;
pub mod slack;

pub use destination::{DestinationError, DestinationPolicy, redact};
pub use endpoint::{
    Endpoint, EndpointId, EndpointPatch, EndpointSource, EndpointSpec, Format, SpecError,
};
pub use event::{Event, EventType, Subject};
pub use secret::{EndpointSecrets, Secret, SecretError, Signer};
