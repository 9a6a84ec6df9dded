package emv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Session is one transaction after Start: its outcome, the data for the
// host and the record, and the second half of a contact online
// transaction (Complete). Its methods are not safe for concurrent use.
type Session struct {
	st *txnState
}

// Outcome returns where the transaction stands.
func (s *Session) Outcome() Outcome { return s.st.outcome }

// Reason tells why the transaction ended, declined or changed interface
// (ReasonNone when nothing needs telling).
func (s *Session) Reason() Reason { return s.st.reason }

// deTags are the data objects of the online request (DE55), in order:
// what Visa, Mastercard and UnionPay require for an ARQC, then the
// contactless objects when present. 9F1E (IFD serial number) is not sent:
// DE41 identifies the terminal.
var deTags = []tag{0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A,
	0x82, 0x9F1A, 0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x84, 0x9F09, 0x9F41, 0x5F34,
	0x9F66, 0x9F6C, 0x9F6E, 0x9F7C, 0x9F5B}

// OnlineData returns the online request's chip data (ISO 8583 DE55):
// 9F26 9F27 9F10 9F37 9F36 95 9A 9C 9F02 5F2A 82 9F1A 9F03 9F33 9F34 9F35
// 84 9F09 9F41 5F34, then 9F66 9F6C 9F6E 9F7C 9F5B when the transaction
// has them, each as BER-TLV. Objects the transaction lacks are left out.
// For kernels 3 and 7, 95 is the TVR the card received in the PDOL (its
// cryptogram covers it); Summary has the terminal's final TVR.
// After Complete it carries the final cryptogram (for the advice or the
// reversal).
func (s *Session) OnlineData() []byte {
	st := s.st
	var out []byte
	for _, t := range deTags {
		v, ok := st.value(t)
		if !ok {
			continue
		}
		if t == 0x9F66 && st.kernel != 3 && st.kernel != 7 {
			continue
		}
		if t == 0x95 && st.cardTVR != nil {
			v = st.cardTVR
		}
		out = append(out, encodeTLV(t, v)...)
	}
	return out
}

// Card returns the card's account data. The caller owns the copy and
// must Wipe it.
func (s *Session) Card() CardData {
	st := s.st
	c := CardData{PAN: st.pan()}
	if v := st.icc[0x5F34]; len(v) == 1 {
		c.PANSequence = nibbles(v)
	}
	if v := st.icc[0x5F24]; len(v) == 3 {
		c.Expiry = nibbles(v)
	}
	if v := st.icc[0x57]; v != nil {
		c.Track2Equivalent = bytes.Clone(v)
		s := nibbles(v)
		if i := strings.IndexByte(s, 'D'); i > 0 && len(s) >= i+8 {
			if c.Expiry == "" {
				c.Expiry = s[i+1:i+5] + "31"
			}
			c.ServiceCode = s[i+5 : i+8]
		}
	}
	if v := st.icc[0x5F30]; len(v) == 2 {
		c.ServiceCode = nibbles(v)[1:]
	}
	return c
}

// CVM returns the cardholder verification result.
func (s *Session) CVM() CVMResult { return s.st.cvm }

// Summary returns what the sale record keeps; nothing in it is
// sensitive.
func (s *Session) Summary() Summary {
	st := s.st
	sum := Summary{
		TVR: st.tvr.String(), TSI: st.tsi.String(), CryptogramType: st.crypto, Cryptogram: st.crypto.String(),
		CVMResults: fmt.Sprintf("%X", st.cvm.Results[:]), CVM: st.cvm.Method.String(),
		Kernel: st.kernel, Interface: st.iface.String(), Outcome: st.outcome.String(),
	}
	if st.reason != ReasonNone {
		sum.Reason = st.reason.String()
	}
	if st.sel != nil {
		sum.AID = fmt.Sprintf("%X", st.sel.adf)
		sum.Label = st.sel.label
	}
	if v := st.icc[0x50]; v != nil {
		sum.Label = printableString(v)
	}
	if v := st.icc[0x9F36]; len(v) == 2 {
		sum.ATC = uint16(beUint(v))
	}
	return sum
}

// Wipe clears the card data the session holds. The session's outcome and
// summary stay.
func (s *Session) Wipe() {
	st := s.st
	for _, m := range []map[tag][]byte{st.icc, st.term} {
		for t, v := range m {
			if sensitive(t) {
				wipe(v)
			}
			delete(m, t)
		}
	}
	wipe(st.static)
	st.static = nil
	st.pdolData, st.cdol1Data, st.cdol2Data = nil, nil, nil
}

// Complete hands the host's answer back to the kernel (book 3 section
// 10.9 to 10.11). For a contact card: issuer scripts of template 71, issuer
// authentication (EXTERNAL AUTHENTICATE, or in the second GENERATE AC
// when CDOL2 asks for 91), the second GENERATE AC asking for a TC when
// the host approved and an AAC otherwise, then scripts of template 72;
// the results are in 9F5B. When the host did not respond, the default
// action codes decide (authorisation response code Y3 or Z3). For a
// contactless card Complete only records the answer. It returns
// OutcomeApproved or OutcomeDeclined; a card removed before the second
// GENERATE AC is ErrCardRemoved with OutcomeEndApplication (the sale
// must be reversed).
func (s *Session) Complete(ctx context.Context, r HostResponse) (Outcome, error) {
	st := s.st
	if st.stage != stageOnline {
		return st.outcome, fmt.Errorf("%w: Complete needs an online request (outcome %v)", ErrState, st.outcome)
	}
	st.ctx = ctx
	st.stage = stageDone
	st.recordHost(r)
	if st.iface == Contactless {
		if r.Responded && r.Approved {
			st.outcome = OutcomeApproved
		} else {
			st.outcome = OutcomeDeclined
		}
		st.finishComplete()
		return st.outcome, nil
	}
	err := st.complete(r)
	if err != nil {
		st.outcome = OutcomeEndApplication
		if st.reason == ReasonNone {
			st.reason = reasonOf(err)
		}
	}
	st.finishComplete()
	return st.outcome, err
}

func (st *txnState) finishComplete() {
	if st.sink != nil {
		st.sink.recordTerminal(st.term)
	}
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: complete", slog.String("outcome", st.outcome.String()),
		slog.String("tvr", st.tvr.String()), slog.String("tsi", st.tsi.String()), slog.String("cryptogram", st.crypto.String()))
}

func (st *txnState) complete(r HostResponse) error {
	want := AAC
	if r.Responded {
		st.term[0x8A] = []byte{r.ARC[0], r.ARC[1]}
		if len(r.IssuerAuthData) > 0 {
			st.term[0x91] = bytes.Clone(r.IssuerAuthData)
		}
		if err := st.runScripts(r.Scripts71, 0x71); err != nil {
			return err
		}
		if err := st.issuerAuth(); err != nil {
			return err
		}
		if r.Approved {
			want = TC
		}
	} else {
		want = st.defaultAnalysis()
		if want == TC {
			st.term[0x8A] = []byte("Y3")
		} else {
			st.term[0x8A] = []byte("Z3")
		}
	}
	err := st.generateAC(want, true)
	switch {
	case errors.Is(err, errCDAFailed):
		st.outcome, st.reason = OutcomeDeclined, ReasonCDAFailed
	case err != nil:
		return err
	case st.crypto == TC:
		st.outcome = OutcomeApproved
	default:
		st.outcome = OutcomeDeclined
	}
	if r.Responded {
		if err := st.runScripts(r.Scripts72, 0x72); err != nil {
			return err
		}
	}
	return nil
}

// issuerAuth performs issuer authentication with EXTERNAL AUTHENTICATE,
// unless the card takes the issuer authentication data in the second
// GENERATE AC (CDOL2 names 91) or does not support it (AIP).
func (st *txnState) issuerAuth() error {
	iad := st.term[0x91]
	if iad == nil || st.aip()[0]&0x04 == 0 {
		return nil
	}
	st.tsi.set(tsiIssuerAuth)
	if cdol2, err := parseDOL(st.icc[0x8D]); err == nil && dolHas(cdol2, 0x91) {
		return nil
	}
	_, sw, err := st.send("EXTERNAL AUTHENTICATE", 0x00, 0x82, 0x00, 0x00, iad, case3)
	if err != nil {
		return err
	}
	if sw != 0x9000 {
		st.tvr.set(tvrIssuerAuthFailed)
	}
	return nil
}

// runScripts runs issuer script templates (book 3 section 10.10): each
// 86 command in order until one fails (SW1 other than 90, 62 or 63); the
// result of each script goes to 9F5B (result nibble 0 not performed, 1
// failed, 2 done; then the failing command's number; then the script
// identifier or zeros). A script that does not parse (see parseScript)
// is not performed: none of its commands is sent, and its result is
// "failed" with command number 0.
func (st *txnState) runScripts(scripts [][]byte, want tag) error {
	for _, raw := range scripts {
		result := [5]byte{0x00}
		id, cmds, err := parseScript(raw, want)
		copy(result[1:], id)
		if err == nil {
			result[0] = 0x20
			for i, c := range cmds {
				st.tsi.set(tsiScript)
				// Sent as the issuer wrote it; its case (with Le or
				// not) comes from its bytes.
				_, sw, err := st.exchange("SCRIPT", c)
				if err != nil {
					return err
				}
				if s1 := byte(sw >> 8); s1 != 0x90 && s1 != 0x62 && s1 != 0x63 {
					result[0] = 0x10 | byte(min(i+1, 15))
					break
				}
			}
		} else {
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: issuer script not performed", slog.String("error", err.Error()))
			result[0] = 0x10
		}
		if result[0]&0xF0 == 0x10 {
			if want == 0x71 {
				st.tvr.set(tvrScriptFailedBefore)
			} else {
				st.tvr.set(tvrScriptFailedAfter)
			}
		}
		st.scripts = append(st.scripts, result[:]...)
	}
	return nil
}

// parseScript reads an issuer script template of tag want: an optional
// script identifier (9F18, 4 bytes) and the 86 commands, each a short
// command APDU of one of the four cases (apduCase). Anything else in the
// template, an identifier of another length or a command whose length
// bytes do not match its data fails the whole script (ErrFormat), so
// that a script is sent whole or not at all. The identifier is returned
// whenever it was read, for 9F5B.
func parseScript(raw []byte, want tag) (id []byte, cmds [][]byte, err error) {
	o, err := single(raw, want, "issuer script")
	if err != nil {
		return nil, nil, err
	}
	if v, ok := find(o.children, 0x9F18); ok && len(v.value) == 4 {
		id = v.value
	}
	seenID := false
	for i, c := range o.children {
		switch {
		case c.tag == 0x9F18 && !seenID && len(c.value) == 4:
			seenID = true
		case c.tag == 0x86 && apduCase(c.value) != 0:
			cmds = append(cmds, c.value)
		case c.tag == 0x86:
			return id, nil, fmt.Errorf("%w: issuer script command %d of %d bytes is no command APDU", ErrFormat, len(cmds)+1, len(c.value))
		default:
			return id, nil, fmt.Errorf("%w: issuer script object %d is %v", ErrFormat, i+1, c.tag)
		}
	}
	return id, cmds, nil
}
