package acquirer

import (
	"fmt"
	"math"
	"time"

	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// Advices (0220, answered 0230): sales the card approved offline,
// forwarded afterwards. The first rule that matches wins:
//
//	request MAC missing, KSN unusable or MAC wrong  "A0", journal mac_ok=false
//	track 2 missing, not decryptable or without PAN "30" (format error)
//	over the rate limit (Opts.AdviceRate)           "91" (host.AdviceBusy), journal busy=true
//	DE55 present, PAN not a card of the deck        "14" invalid card number
//	DE55's 5F34 not two BCD digits                  "30" (format error)
//	TC (DE55) does not verify under the issuer's    "Q1", journal tc_ok=false
//	keys, 9F27 absent or not a TC, 9F10 not of the
//	scheme's cryptogram version, or 9F02/5F2A
//	differ from DE4/DE49 (see issuer.go)
//	terminal id + ref (DE41 + DE37) already had     "00", journal duplicate=true (not counted again)
//	anything else                                   "00", journal duplicate=false
//
// Magic amounts do not apply to advices: the card has approved. An advice
// without DE55 (a swiped sale approved offline) is not the issuer's
// business and has no tc_ok. The 0230 echoes DE37 and carries no issuer
// data.
//
// Deduplication: the set of advices accepted ("00") is kept in memory and
// rebuilt at start from Opts.History, a journal written before (the
// command passes its -journal file): the lines of kind "advice",
// direction "in" and response_code "00". An advice accepted for the
// first time also goes in the ledger (ledger.go), as a debit of its
// batch (Request.Batch). Every advice whose MAC verifies
// and whose track reads takes a token of the rate limit, repeats included.

// adviceKey identifies an advice: terminal id (as journaled, without its
// padding) and ref.
func adviceKey(tid, ref string) string { return tid + "|" + ref }

// adviceRecord is an advice the simulator has.
type adviceRecord struct {
	amount   int64
	currency string
}

// bucket is a token bucket: rate tokens a second up to burst; rate 0
// lets everything through.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64) bucket {
	return bucket{rate: rate, burst: math.Max(1, rate), tokens: math.Max(1, rate)}
}

// take takes a token at time now; false when there is none. A clock that
// steps back refills nothing.
func (b *bucket) take(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// AdviceTotal returns the number and the total amount of the distinct
// advices accepted in currency (ISO 4217 numeric), those rebuilt from
// Opts.History included: a duplicate is counted once.
func (s *Server) AdviceTotal(currency string) (count int, amount int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.advices {
		if a.currency == currency {
			count++
			amount += a.amount
		}
	}
	return count, amount
}

func (s *Server) advice(req host.Request, sess *wiresec.Session, macOK bool, in Entry) (Entry, *host.Response, Entry) {
	in.Ref, in.Batch = req.Ref, req.Batch
	rc := ""
	switch {
	case !macOK:
		rc = RCMACFailure
	default:
		pan, frc := s.readCard(sess, req, &in)
		if frc != "" {
			rc = frc
			break
		}
		if !s.takeAdviceToken() {
			rc, in.Busy = host.AdviceBusy, true
			note(&in, "rate limit: busy")
			break
		}
		if rc = s.checkTC(req, pan, &in); rc != "" {
			break
		}
		rc = host.AdviceAccepted
		if s.keepAdvice(req, &in) {
			res := s.ledger.do(lreqOf(req, &in))
			if res.note != "" {
				note(&in, res.note)
			}
		}
	}
	in.ResponseCode = rc
	resp, out := s.reply(req, rc, in)
	return in, resp, out
}

// takeAdviceToken applies the rate limit.
func (s *Server) takeAdviceToken() bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adviceRate.take(now)
}

// checkTC verifies the TC of an advice that carries DE55 (see issue for
// the purchase's ARQC). It returns the response code of a failure.
func (s *Server) checkTC(req host.Request, pan string, in *Entry) string {
	if len(req.ICC) == 0 {
		return ""
	}
	f := false
	in.TCOK = &f
	card, ok := s.cards(pan)
	if !ok {
		note(in, "card not on file")
		return RCInvalidCard
	}
	in.Scheme = card.Scheme
	rc, c := s.verifyAC(req, pan, card, in, acTC)
	c.wipe() // an advice's answer carries no issuer data
	if rc != "" {
		return rc
	}
	*in.TCOK = true
	return ""
}

// keepAdvice adds an accepted advice to the set, or marks it a
// duplicate; true when it is new.
func (s *Server) keepAdvice(req host.Request, in *Entry) bool {
	k := adviceKey(in.TerminalID, req.Ref)
	s.mu.Lock()
	first, dup := s.advices[k]
	if !dup {
		s.advices[k] = adviceRecord{amount: req.Amount, currency: req.Currency}
	}
	s.mu.Unlock()
	in.Duplicate = dup
	if !dup {
		note(in, "advice "+req.ResponseCode)
		return true
	}
	note(in, "advice already had")
	if first.amount != req.Amount || first.currency != req.Currency {
		note(in, fmt.Sprintf("amount or currency differ from the first (%d %s)", first.amount, first.currency))
	}
	return false
}
