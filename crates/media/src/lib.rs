//! BGRA to I420, OpenH264 encoding, fragmented MP4 writing and the age segment encryption stream.
