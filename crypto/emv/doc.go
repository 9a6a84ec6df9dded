// Package emv holds the cryptography of EMV chip and contactless payments
// (EMV 4.x book 2): the issuer's symmetric keys and cryptograms, and the
// RSA certificates and signatures of offline data authentication.
//
// Symmetric side (the card computes, the issuer checks):
//
//   - DeriveICCMasterKey: ICC master key from the issuer master key, the PAN
//     and the PAN sequence number; option A (book 2 A1.4.1) and option B
//     for PANs longer than 16 digits (A1.4.2), or the choice by PAN length.
//   - DeriveSessionKey and CommonSessionKey: the AC session key from the
//     ICC master key: EMV common session key derivation (A1.3.1, R = ATC
//     and zeros), Mastercard SKD (R = ATC, zeros, unpredictable number) or
//     none (the ICC master key itself, Visa CVN 10).
//   - GenerateAC and VerifyAC: the 8-byte ARQC, TC or AAC, ISO/IEC 9797-1
//     MAC algorithm 3 with padding method 1 or 2 (A1.2.1).
//   - ARPCMethod1 and ARPCMethod2: the issuer's response cryptogram
//     (book 2 section 8.2).
//
// Offline data authentication (the terminal checks, the card signs):
//
//   - CAPK and CAPKStore: certification authority public keys by RID and
//     index, with the SHA-1 checksum of book 2 section 11.2.2 checked on
//     every key added; ParseCAPKFile and EncodeCAPKFile read and write the
//     JSON parameter file.
//   - RecoverIssuerPublicKey (format 02, book 2 section 5.3 and 6.3) and
//     RecoverICCPublicKey (format 04, section 6.4, with the static data to
//     be authenticated in the hash) recover and check certificates and
//     expose their fields. The expiry and PAN or issuer identifier checks
//     are left to the caller (MonthYear.ExpiredOn, MatchesPAN), because the
//     kernel records each failure in its own TVR bit.
//   - VerifySSAD: Signed Static Application Data, format 03 (SDA, section
//     5.4), giving the data authentication code.
//   - VerifySDAD: Signed Dynamic Application Data, format 05, with the
//     terminal dynamic data (DDOL data for DDA, section 6.5).
//     VerifyCDA: the same with the unpredictable number, and the ICC
//     dynamic data read as the CDA fields (section 6.6): ICC dynamic
//     number, cryptogram information data, AC and transaction data hash;
//     CDATransactionDataHash computes the hash the caller compares.
//
// Signing side, for the simulated cards, the simulated issuer and the
// test CA only: GenerateKey, TestCA, SignIssuerCert, SignICCCert,
// SignSSAD, SignSDAD and SignCDA produce the certificates and signatures
// the verifying side reads, so the simulator's cards carry real chains.
// The private-key operation uses math/big, which is not constant time:
// it must never hold a production key.
//
// All RSA operations are the raw ones EMV uses (no PKCS #1 padding); the
// hash is SHA-1, the only algorithm book 2 defines (indicator 01); public
// exponents are 3 or 65537. Moduli are at most 248 bytes (1984 bits).
//
// Nothing here logs; errors are the sentinel values of errors.go, wrapped
// with context that never includes key bytes, and no input panics.
package emv
