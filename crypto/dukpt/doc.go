// Package dukpt implements Derived Unique Key Per Transaction key
// management for the terminal and for the host side of tests and tools.
//
// TDES DUKPT follows ANSI X9.24-1:2009 annex A: the initial key (IPEK) is
// derived from a double-length BDK and the 59-bit initial KSN (A.6); each
// transaction key comes from the initial key by one non-reversible key
// generation step per one-bit of the 21-bit transaction counter (A.2, A.3);
// counters with more than ten one-bits are never used. TDESVariant applies
// the PIN, MAC request/response and data request/response variants of
// table A-1, including the one-way encryption step the 2009 edition adds to
// the data variants.
//
// AES DUKPT follows ANSI X9.24-3:2017: AES-128/192/256 BDKs, a 12-byte KSN
// (8-byte initial key ID and 32-bit counter with at most sixteen
// one-bits), keys derived by AES-ECB encryption of the derivation data of
// 6.3.2 (version, block counter, key usage, algorithm, length, KSN data),
// and working keys of type 2TDEA, 3TDEA or AES for the usages of table 2.
// AESDeriveUpdateKey gives the update key of 6.5.
//
// Receivers derive any transaction key from the BDK (or the initial key)
// and the KSN. Originators (TDESOriginator, AESOriginator) keep the
// standard's register sets instead — future key registers for TDES,
// intermediate derivation key registers for AES — so each transaction
// costs a few derivations and the initial key is erased after loading.
// Their state can be saved with MarshalBinary (to be stored wrapped under
// the device key) and resumed with UnmarshalOriginator.
//
// The tests carry the published vectors: the X9.24-1:2009 A.4 initial and
// rollover sequences (KSN, transaction key, encrypted PIN block), the
// X9.24-3:2017 supplement initial keys, transaction keys and update keys
// for the AES-128 and AES-256 BDKs, and the data, MAC and PIN values for
// those KSNs reproduced in the tests of openemv/dukpt and moov-io/dukpt.
//
// Keys are plain byte slices owned by the caller; functions never keep or
// alter them and wipe their own temporaries. Nothing here logs or puts key
// bytes into errors.
package dukpt
