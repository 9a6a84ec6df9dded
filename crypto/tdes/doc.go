// Package tdes builds the Triple DES (TDEA, ANSI X9.52 / NIST SP 800-67)
// block ciphers of posd: every TDES key in the crypto packages and the
// wire security becomes a cipher here and nowhere else.
//
// Keys are double length (16 bytes, K1 K2, used as K1 K2 K1: keying
// option 2) or triple length (24 bytes, K1 K2 K3: keying option 1). The
// cipher encrypts as E(K3, D(K2, E(K1, block))) and decrypts the other way
// round.
//
// Each DES key schedule is computed once per key. A double-length key is
// never expanded into a 24-byte K1 K2 K1 copy: its cipher holds the two
// DES schedules of K1 and K2 and uses the K1 schedule for the first and
// the third step, where the standard library's three-key cipher would
// compute the K1 schedule twice. Setting up a key costs most of the time
// for DUKPT, PIN blocks, check values and card data (one to a few blocks
// per key); see the package benchmarks.
//
// NewCipher copies nothing it keeps except the key schedules; callers own
// and wipe their key bytes. Errors never carry key bytes.
package tdes
