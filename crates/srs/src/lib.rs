//! The agent-side Screen Recording Service: loopback API, RWS link, recorder, spool.
