/*
 * version.h - the one place unroll's version is written. The command's
 * --version, the runs and checkpoints the store records, the public
 * header and unroll.pc (the Makefile reads it from here) all take it
 * from this line, so they cannot disagree.
 */
#ifndef UNROLL_VERSION_H
#define UNROLL_VERSION_H

#define UNROLL_VERSION "0.1.0"

#endif
