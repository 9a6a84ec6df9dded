// Package mac computes the message authentication codes used between the
// terminal and the acquirer and for key check values:
//
//   - ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC with DES or TDES) and
//     algorithm 3 (the "retail MAC" of ANSI X9.19), with padding methods 1
//     and 2;
//   - CMAC (NIST SP 800-38B) over any 64- or 128-bit block cipher, with
//     AES and TDES helpers;
//   - HMAC-SHA256;
//   - key check values (KCV) for TDES and AES keys.
//
// Verification must go through Equal, which compares in constant time.
// Nothing in this package logs or returns key material in errors.
package mac
