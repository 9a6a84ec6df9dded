// Package host is the terminal's ISO 8583 conversation with the acquirer.
//
// It has two halves with a seam between them:
//
//   - the link (package host/link): one connection, dialled lazily and
//     replaced after it fails, one request at a time, replies matched on
//     MTI class, DE11 and DE41, every call ended within its timeout, and
//     the workarounds the connection module needs. It never looks inside a
//     message beyond what matching needs.
//   - the messages (this package): dialects as data (Dialect: name, spec,
//     framing, how each message maps, what a repeated reversal looks like),
//     typed message structs per dialect packed with iso8583.Message.Marshal
//     and read with Unmarshal, and the Client posd uses for sign-on, echo,
//     purchase, reversal and advice, refund, pre-authorization and balance
//     inquiry (Purchase with Purchase.Kind), void and completion
//     (FollowUp), and the batch close (Settle, Upload).
//
// The dialects are ASCII87 (ISO 8583:1987 in ASCII, the default) and CUP
// (China UnionPay style: BCD, TPDU and message header). The acquirer
// simulator speaks both from the same definitions.
//
// A purchase may carry an online PIN block (DE52, under the PIN key of the
// message's own DUKPT KSN) and the card's ICC data (DE55, BER-TLV, never
// clear card data); its answer may carry the issuer's data for the card
// (DE55: issuer authentication data 91, issuer scripts 71/72; see icc.go),
// with DE39 as the card's ARC. A sale the card approved offline is
// forwarded later as an advice (0220, Client.Advice): the purchase's card
// fields with the TC's ICC data, the terminal's reference in DE37 (the
// host deduplicates by terminal id and it) and "Y1" in DE39.
//
// A refund, a pre-authorization and a balance inquiry read the card like
// a purchase (a balance inquiry's answer carries the available balance in
// DE54). A void and a completion refer to an earlier approval (its RRN,
// authorization code and original data elements) and carry no card data;
// neither do a settlement (the batch's totals, answered "00" balanced or
// "95" out of balance) and a batch upload (one transaction of the batch,
// by the terminal's reference). A reversal says what kind it reverses.
// Each dialect's doc comment has the table of what tells the kinds apart
// on its wire; a decoder accepts only the fields a kind defines.
//
// Any response may carry the host's notices in DE62, in both dialects
// (notice.go): DF01 tells the terminal an update waits at its terminal
// management system (Result.UpdateWaiting; Client.OnHint calls back on
// it, the client knowing nothing of updates). Client.SetAddr moves the
// next connection to another host address, between two exchanges.
//
// The host may send requests of its own on the link: its echo test
// (ascii87 0800 DE70 301, cup 0820 60.3 301) is answered "00" at once,
// also while a request of the terminal's waits for its reply; any other
// is refused with "12" (RCHostRequestRefused; see Client.answer).
//
// The MAC of a response is verified before anything else in it is read
// (the link reads only MTI, DE11 and DE41 to route it). Logs carry MTI,
// STAN and response code only; error texts never carry card data.
package host
