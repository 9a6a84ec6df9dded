// Package emv is posd's EMV kernel: it runs a chip card (EMV 4.4 books 1
// to 4, PBOC 3.0 compatible) or a contactless card (EMV Book A/B entry
// point, then kernel 2, 3 or 7 semantics) through an apdu.Transceiver,
// and does no I/O of its own. It is a functional kernel, not a certified
// one: where it departs from the certified kernels is listed below.
//
// # Use
//
//	cfg, err := emv.LoadParams(paramFile)     // or LoadParamsFile, SimParams()
//	err = cfg.AddCAPKs(deckKeys...)           // CA keys from elsewhere
//	k := emv.New(cfg, emv.Opts{Clock: c, Rand: r, Logger: l})
//	s, err := k.Start(ctx, card, emv.Contact, txn, ui)
//	switch s.Outcome() {
//	case emv.OutcomeOnlineRequest:
//		de55 := s.OnlineData()             // to the host, with s.Card() and s.CVM()
//		out, err := s.Complete(ctx, hostResponse)
//	case emv.OutcomeApprovedOffline, emv.OutcomeDeclinedOffline:
//	case emv.OutcomeTryAnotherInterface:       // ask for insert or swipe
//	case emv.OutcomeEndApplication:            // err says why (errors.go), s.Reason() too
//	}
//	record := s.Summary()                     // AID, label, TVR, TSI, cryptogram, CVM: nothing sensitive
//	s.Wipe()
//
// Start runs application selection through the first GENERATE AC
// (contact) or the whole contactless kernel. Its Session's Outcome is
// one of OutcomeApprovedOffline, OutcomeDeclinedOffline,
// OutcomeOnlineRequest, OutcomeTryAnotherInterface and
// OutcomeEndApplication (with a Reason and an error);
// OutcomeSelectNext is handled inside Start, which goes back to
// selection by itself. Complete turns an online request into
// OutcomeApproved or OutcomeDeclined: for a contact card it runs issuer
// scripts (71 before, 72 after the second GENERATE AC, results in 9F5B),
// issuer authentication (EXTERNAL AUTHENTICATE, or 91 in CDOL2), the
// second GENERATE AC (TC when the host approved, AAC otherwise), and
// when the host did not respond the default action codes (Y3/Z3); for a
// contactless card it records the answer only (no second tap).
//
// The caller implements UI: Select (cardholder selection or
// confirmation), Message (remove card, see phone, insert or swipe, PIN
// OK, incorrect PIN...), OfflinePIN (the format 2 plaintext PIN block the
// PIN pad built; the kernel enciphers it itself for enciphered offline
// PIN, and wipes the buffer after VERIFY; ErrPINBypass bypasses). A UI
// that also implements OnlinePINEntry is asked for the online PIN during
// cardholder verification; otherwise the kernel assumes the caller
// captures it after Start when CVM().Method is CVMOnlinePIN.
//
// Card gives the account data (PAN, PAN sequence number, expiry, track 2
// equivalent, service code): sensitive, for the caller's encryption only,
// with its own Wipe.
//
// # Online data (DE55)
//
// OnlineData returns, as BER-TLV in this order, the objects the schemes
// require for an ARQC that the transaction has: 9F26 9F27 9F10 9F37 9F36
// 95 9A 9C 9F02 5F2A 82 9F1A 9F03 9F33 9F34 9F35 84 9F09 9F41 5F34, then
// 9F66 (kernels 3 and 7), 9F6C, 9F6E, 9F7C and 9F5B when present. 9F1E
// (IFD serial number) is not sent; DE41 identifies the terminal.
//
// # Card data in logs and errors
//
// The data dictionary (dict.go) marks the sensitive data elements (5A,
// 57, 56, 5F20, 5F24, 9F0B, 9F1F, 9F20, 9F6B, 99); logs show a data
// object's value only when the dictionary knows it as not sensitive, and
// otherwise its length. Commands are logged in full except VERIFY and
// unknown or script commands (header and length). Errors never quote
// card data. The Logger (debug level) is the caller's; nil discards.
//
// # Traces
//
// A Recorder wraps the transceiver and, after a kernel run on it, makes a
// Trace: the exchanges, the terminal values the run used and the CA keys
// it looked up. Replay (and "posctl emv replay") runs the kernel against
// a trace, whose values override the configuration, with a card that
// answers only the recorded commands. The README gives the JSON format.
//
// # Where this kernel departs from the certified kernels
//
// General:
//   - Not certified (no EMVCo level 2 approval, no scheme letter); use on
//     the simulated board and test cards.
//   - No terminal exception file (TVR byte 1 bit 5 is never set; posd's
//     risk checks come after the kernel), no transaction log for split
//     sales (the floor limit compares this amount only), no certificate
//     revocation list (expired CA keys are refused).
//   - Random selection draws one random byte, reduced to 1-99.
//   - Case 4 commands always carry Le = 00; 61xx, 6Cxx and T=0 warnings
//     are handled by the kernel because the contact reader returns them.
//   - Refunds and other transaction types go through the same terminal
//     action analysis as purchases (no forced AAC for refunds).
//
// Contact:
//   - Selection: PSE directory entries naming a DDF (9D) are not
//     followed; the application label (50) is shown, the preferred name,
//     code table and language preference are not used.
//   - CVM: biometric and scheme-proprietary codes count as unrecognised;
//     online PIN is the caller's (OnlinePINEntry); a PIN block that is not
//     format 2 counts as a PIN pad failure; the ICC PIN encipherment
//     key's certificate is checked without static data. A bypassed PIN
//     entry fails that CVM only: a later PIN CVM of the list asks for
//     the PIN again (book 4 lets a terminal count it as bypassed too).
//   - A DDOL whose data would not fit INTERNAL AUTHENTICATE (over 255
//     bytes) fails DDA (TVR byte 1 bit 4) without sending the command,
//     like a DDOL without the unpredictable number: books 2 and 3 give
//     no rule of their own for it, and a failed step of DDA is DDA
//     failed (book 2 section 6.5), which the action codes then weigh.
//     A CDOL or PDOL that long ends the transaction instead: GENERATE
//     AC and GET PROCESSING OPTIONS cannot be left out.
//   - CDA is requested on every TC or ARQC of the first GENERATE AC and on
//     a TC of the second ("mode 1"); a failed CDA check declines the
//     transaction, the ARQC included. When the keys cannot be recovered
//     before GENERATE AC, CDA is not requested and its TVR bit is set.
//   - The CID's advice bit and reason codes other than "service not
//     allowed" are ignored. Issuer script commands are sent as given: no
//     128-byte limit, no check of secure messaging; a script template
//     holding anything but one 4-byte 9F18 and 86 commands of one of the
//     four cases is not performed at all (9F5B result 1, command 0).
//
// Contactless entry point (Book B):
//   - Pre-processing: zero amount, transaction limit (at or above: not
//     allowed), floor limit (above: online cryptogram required; the
//     contact floor limit when the contactless one is absent) and CVM
//     required limit (at or above; above for kernel 2, see there), per
//     AID and currency; an AID without limits for the currency is not
//     allowed; no status check.
//   - No combination at all, or only excluded by pre-processing: try
//     another interface; no PPSE or no matching directory entry: end
//     application ("insert, swipe or try another card").
//   - Directory entries with a domestic kernel identifier are skipped;
//     extended selection (9F29) is appended to the final SELECT as is.
//   - No restart inside Start, no issuer update processing, no torn
//     transaction recovery; UI requests are reduced to Message values,
//     without hold times. A device that wants its holder to confirm on
//     it (see the kernels) ends with ErrSeePhone and ReasonSeePhone
//     after MsgSeePhone: the caller asks for the same device again (Book
//     A's Try Again), and that tap is a new Start.
//   - Track 2 equivalent data (57) whose PAN is not the PAN (5A) ends the
//     transaction (ErrFormat): the host would be sent one account, the
//     terminal would record and check another.
//
// Kernel 3 (Visa qVSDC):
//   - qVSDC only: a GPO answer without a cryptogram (MSD, contact VSDC
//     path) or a PDOL without the TTQ gives try another interface.
//   - The cryptogram type comes from 9F27, else from the CVR in the
//     issuer application data (bits 6-5 of byte 5, or of byte 4 in
//     Visa's IAD format 2, whose CVR has no length byte).
//   - fDDA signs the unpredictable number, and for version 01 (9F69
//     starting with 01) also the amount, the currency and 9F69; the card
//     authentication related data is not checked further.
//   - No ODA on an online transaction: an ARQC goes online with "ODA not
//     performed" in the TVR, and the TTQ never claims "ODA for online
//     authorizations supported" (byte 1 bit 1), whatever the parameters
//     say (a capture replayed with its own 9F66 keeps it).
//   - Below the CVM required limit no CVM is done whatever the CTQ asks
//     (the small-amount no-CVM rule); above it: CDCVM when the CTQ says
//     the device did it, else online PIN for an ARQC when the reader
//     supports it (unless the card asks for a signature the reader
//     supports), else signature; an offline approval needing a CVM the
//     reader cannot do is declined.
//   - A TC on an expired application is declined offline.
//   - The track 2 equivalent data (57) is mandatory (a PAN alone ends
//     the transaction, ErrDataMissing).
//   - The online data (DE55) carries the TVR as the PDOL sent it, which
//     the card's cryptogram covers; the TVR bits the kernel sets after the
//     GPO (ODA not performed, CVM) stay in Summary and the record.
//   - GPO 6984: try another interface; 6985: select next; 6986: "see
//     phone" (ErrSeePhone).
//
// Kernel 7 (UnionPay qPBOC): run with kernel 3's semantics (the TTQ and
// CTQ share the layout); no electronic cash (EC) balance or offline
// spending amount processing, no domestic algorithms (SM2/SM3/SM4).
//
// Kernel 2 (Mastercard M/Chip):
//   - EMV mode only: a card without it (AIP byte 2 bit 8) gets try another
//     interface; no mag-stripe mode, data storage, relay resistance,
//     balance reading, torn transactions or outcome parameter set.
//   - The transaction limit is checked after GPO against the on-device
//     CVM limit when the card supports on-device CVM, else the plain one.
//     Its limits are amounts above which (C-2's DF8123 to DF8126): an
//     amount equal to the transaction limit is allowed, one equal to the
//     CVM required limit needs no CVM; pre-processing follows this for
//     kernel 2 combinations.
//   - On-device CVM above the CVM limit gives CVMCDCVM with CVM Results
//     01 00 02; otherwise the CVM list runs with the CVM capability of the
//     amount (offline PIN removed).
//   - Terminal risk management is the floor limit only; one GENERATE AC
//     with CDA; a failed CDA declines.
//   - An AAC whose POS cardholder interaction information (DF4B) asks for
//     on-device cardholder verification (DF4B AND 00030F not zero) is
//     "see phone" (ErrSeePhone), not a decline.
package emv
