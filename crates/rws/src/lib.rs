//! The Recording Web Service: directory, auth, SRS sessions and control hub.
