//! Live rooms and their sockets: the room state machine ([`room`]), the
//! registry and owner task that drive it ([`rooms`]), and the WebSocket
//! layer that carries players' messages to it ([`ws`]), and cluster mode,
//! where rooms run on one node and sockets on any ([`cluster`]).

pub mod cluster;
pub mod room;
pub mod rooms;
pub mod ws;
