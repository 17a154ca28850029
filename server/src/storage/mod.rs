//! Durable storage: the results database ([`store`]), the glue that turns a
//! room's effects into store writes and restores rooms after a restart
//! ([`persist`]), and uploaded bank files kept on disk ([`uploads`]).

pub mod persist;
pub mod store;
pub mod uploads;
