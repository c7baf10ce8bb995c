//! Screen sources: X11 (MIT-SHM, XDamage, RandR, XFixes cursor) and a synthetic test source.
