package acquirer

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"posd/board/sim/deck"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// The transaction types beyond the sale (host/kinds.go). Refunds,
// pre-authorizations and balance inquiries carry the card like a purchase
// and are decided like one (MAC, track, issuer's ARQC and PIN checks,
// magic amounts and their faults), then by the ledger's rules (ledger.go):
//
//	refund        "00" a credit of its batch; over what its original (when
//	              named) has left: "13"; original not found: "25"
//	preauth       "00" a hold with an auth code, no money in the totals
//	balance       "00" with the card's available balance (BalanceOf) in
//	              the request's currency; a card not in the deck: "14";
//	              nothing in the ledger
//
// Voids and completions refer to an earlier approval instead of a card:
// their MAC is checked ("A0"); when one carries card data anyway, its
// track and chip data are checked like a purchase's ("30", "14", "Q1",
// "55", "75"); magic amounts do not apply. Settlements (0500) and batch
// upload items (0320) are MAC-checked, then decided by the ledger. Every
// request of a settled batch is declined "77" (but advices and
// reversals), see ledger.go.

// BalanceOf is the available balance the simulated issuer answers a
// balance inquiry of card with, in minor units of the request's currency:
// from 1,000.00 to 100,999.99, fixed per deck card (the first 8 bytes of
// SHA-256 of "acquirer-sim balance", a zero byte and the card's name, as
// a big-endian number, modulo 10,000,000, plus 100,000). It does not move
// with the card's purchases.
func BalanceOf(card deck.Card) int64 {
	h := sha256.Sum256([]byte("acquirer-sim balance\x00" + card.Name))
	return 100000 + int64(binary.BigEndian.Uint64(h[:8])%10000000)
}

// origFields journals how a request names its original.
func origFields(req host.Request, in *Entry) {
	in.Batch = req.Batch
	in.OrigKind, in.OrigRRN, in.OrigAuthCode = string(req.OrigKind), req.OrigRRN, req.OrigAuthCode
	in.OrigBatch = req.OrigBatch
	if req.OrigSTAN != 0 {
		in.OrigSTAN = fmt.Sprintf("%06d", req.OrigSTAN)
	}
}

// followUp decides on a void or a completion.
func (s *Server) followUp(req host.Request, sess *wiresec.Session, macOK bool, in Entry) (Entry, *host.Response, Entry) {
	origFields(req, &in)
	rc := ""
	switch {
	case !macOK:
		rc = RCMACFailure
	case len(req.Track2Enc) > 0:
		// Card data, which a follow-up need not carry: checked like a
		// purchase's. The answer carries no issuer data.
		pan, frc := s.readCard(sess, req, &in)
		if frc != "" {
			rc = frc
			break
		}
		var c *chip
		rc, c = s.issue(sess, req, pan, &in)
		c.wipe()
	case len(req.ICC) > 0 || len(req.PINBlock) > 0:
		note(&in, "chip data or PIN block without a track")
		rc = RCFormatError
	}
	if rc == "" {
		in.RRN, in.AuthCode = s.rrn(), s.authCode()
		res := s.ledger.do(lreqOf(req, &in))
		s.applyResult(res, &in)
		rc = res.rc
		in.Voided = req.Kind == host.KindVoid && rc == RCApproved
	}
	in.ResponseCode = rc
	resp, out := s.reply(req, rc, in)
	return in, resp, out
}

// batchClose decides on a settlement or a batch upload item.
func (s *Server) batchClose(req host.Request, macOK bool, in Entry) (Entry, *host.Response, Entry) {
	origFields(req, &in)
	in.Ref = req.Ref
	if req.Kind == host.KindSettlement {
		in.AfterUpload, in.UploadCount = req.AfterUpload, req.UploadCount
		in.Totals = &SettlementTotals{Terminal: totalsOf(req.Totals)}
	}
	rc := RCMACFailure
	if macOK {
		res := s.ledger.do(lreqOf(req, &in))
		if res.note != "" {
			note(&in, res.note)
		}
		rc, in.Duplicate, in.Settled, in.Uploads = res.rc, res.dup, res.settled, res.uploads
		if res.host != nil && in.Totals != nil {
			in.Totals.Host = totalsOf(*res.host)
		}
	}
	in.ResponseCode = rc
	resp, out := s.reply(req, rc, in)
	return in, resp, out
}
