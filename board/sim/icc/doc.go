// Package icc is a software EMV chip card for the simulated board and for
// tests: a Profile (applications with their AIDs, labels, priorities,
// PDOL, AIP, files and data objects, CVM list, keys and risk rules) made
// into a Card, which a reader simulator reaches through a Port, one per
// presentation: Card.Present(Contact) for the TDA8029 simulator's slot,
// Card.Present(Contactless) for the PN532 simulator's field.
//
// The card answers as EMV 4.x books 1 and 3 describe:
//
//   - SELECT of 1PAY.SYS.DDF01 (contact; its directory in SFI 1), of
//     2PAY.SYS.DDF01 (contactless; the directory in the FCI, with kernel
//     identifiers), of an application by its whole or partial AID (P2 02:
//     next occurrence). A blocked application answers its FCI with 6283.
//   - GET PROCESSING OPTIONS (the ATC counts up): AIP and AFL in format 1
//     or 2; for the quick contactless kernels (qVSDC, qPBOC) the card's
//     decision at once (see KernelQuick).
//   - READ RECORD, GET DATA (9F36, 9F13, 9F17, 9F4F).
//   - VERIFY, plaintext (P2 80) or enciphered (P2 88, under the ICC key,
//     after GET CHALLENGE): ISO 9564 format 2 PIN block; 63Cx while tries
//     remain, 6983 once the counter is 0.
//   - INTERNAL AUTHENTICATE (DDA, format 1, with the DDOL length checked).
//   - GENERATE AC, first and second, over CDOL1 and CDOL2, format 1 or 2,
//     CDA (format 2 with 9F4B) when the terminal asks and the AIP offers
//     it; the card's own risk management (Risk) may answer an ARQC or an
//     AAC instead of the TC asked.
//   - EXTERNAL AUTHENTICATE (or 91 in CDOL2): ARPC method 1 or 2.
//   - Issuer script commands with a MAC (ScriptMAC): APPLICATION BLOCK
//     and UNBLOCK, CARD BLOCK (then every command answers 6A81), PIN
//     UNBLOCK, PUT DATA of the offline limits.
//   - Malformed and unknown commands: 6700, 6A86, 6D00, 6E00, 6985...
//     never a panic.
//
// On the contact interface the card speaks T=0 (ISO/IEC 7816-3, EMV book
// 1 annex A): a command with data whose answer has data gets 61xx and
// waits for GET RESPONSE (a warning such as 6283 comes first instead); a
// command without data whose Le is not the length of its answer gets
// 6Cxx. Contactless, whole responses come back.
//
// ACInput says what an application cryptogram covers, per cryptogram
// version (CVN); the simulated issuer builds the same from DE55.
//
// The card's state (ATC, last online ATC, PIN try counter, blocked
// application, offline counters) lasts as long as the Card; each Port
// starts with nothing selected. Port.Remove and Port.RemoveWhen take the
// card away between two commands.
//
// Nothing here logs; errors carry no card data. The private keys are
// test keys (see crypto/emv's signing side).
package icc
