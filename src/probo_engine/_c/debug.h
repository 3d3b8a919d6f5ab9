/* PROBO_DEBUG is set by setup.py (PROBO_DEBUG=1 builds a checked core). */
#ifndef PROBO_DEBUG
#define PROBO_DEBUG 0
#endif
