// Empty: this object library only carries the precompiled header.
