package acquirer

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"posd/board/sim/deck"
	"posd/crypto/emv"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// The simulated issuer. A purchase whose DE55 or DE52 is present is
// checked against the deck's card of the PAN the terminal sent (the
// decrypted DE62) and the deck's issuer of its scheme (deck.Issuers):
//
//   - ARQC (DE55): the ICC master key from the issuer's IMK-AC, the PAN and
//     the PAN sequence number of 5F34 ("00" when absent); the session key
//     by the issuer's method from the ATC (9F36) and, for the Mastercard
//     method, the unpredictable number (9F37); the cryptogram over
//     ACInput with the issuer's padding, compared with 9F26. 9F27, when
//     present, must say ARQC; 9F02 must equal DE4 and 5F2A DE49, or the
//     cryptogram does not vouch for this transaction.
//   - TC (DE55 of an advice, 0220): the card's offline approval, verified
//     exactly like an ARQC (the same keys, session key, ACInput and
//     checks of 9F02 and 5F2A), but 9F27 must be present and say TC. The
//     answer (0230) carries no issuer data.
//   - PIN (DE52): opened with the PIN key of the request's own KSN
//     (wiresec) and compared with the card's PIN. Three wrong PINs in a
//     row block the card's PIN at the issuer until acquirer-sim restarts;
//     a right PIN before that resets the count.
//
// A consumer-presented QR payment (EMV QRCPS: DE22 starting with "03",
// the code made by the customer's phone, deck.CPM) is an ARQC checked as
// above but for two rules. The phone made the cryptogram before the
// amount was known, so 9F02 must be zero or equal DE4. And the same code
// must not pay twice (a screenshot shown again): the issuer remembers,
// per card (PAN and PSN), the ATCs of the last QRATCMemory QR cryptograms
// that verified, whatever the answer (approved or declined), and refuses
// an ATC it remembers (RCCardAuthFailed, "cryptogram replayed"). A void
// or completion that resends its original's QR data is not a replay. The
// memory lives as long as the process (a restart forgets it).
//
// After a good ARQC the answer's DE55 carries the issuer authentication
// data (91) for the response code sent, whatever it is: ARPC method 1 is
// ARPC (8) || ARC (2, DE39 in ASCII), method 2 is ARPC (4) || CSU (4) with
// CSU 00 80 00 00 on approval (issuer approves) and 00 00 00 00 otherwise.
// The ARPC key is the AC session key for the common session key method and
// the ICC master key for the others (Visa CVN 10, M/Chip CVN 16). The card
// named by Opts.ScriptCard also gets issuer script 72 (issuerScript),
// but not for a QR payment: no card is there to run it. A QR payment's
// answer still carries the ARPC (91) like a chip's; no card receives it.

// Response codes of the simulated issuer.
const (
	RCInvalidCard      = "14" // the card is not in the deck
	RCIncorrectPIN     = "55"
	RCPINTriesExceeded = "75"
	// RCCardAuthFailed: the ARQC does not verify, or does not vouch for
	// this transaction (card authentication failed).
	RCCardAuthFailed = "Q1"
)

// QRATCMemory is how many ATCs of QR cryptograms the issuer remembers
// per card.
const QRATCMemory = 256

// MaxPINTries is the number of wrong PINs in a row after which the issuer
// answers RCPINTriesExceeded.
const MaxPINTries = 3

// DefaultScriptCard is the deck card that gets the issuer script.
const DefaultScriptCard = "mastercard-debit"

// The issuer script (template 72) sent to the script card: one PUT DATA
// of the lower consecutive offline limit (9F14) with secure messaging
// (EMV book 2 9.2), built by the deck's issuer (deck.Issuer.ScriptCommand,
// the same code the simulated card verifies with):
//
//	72 xx
//	   9F18 04 00 00 00 01                  script identifier
//	   86 0A 84 DA 9F 14 05 05 <MAC, 4>     CLA 84, INS DA, P1P2 9F14,
//	                                        Lc 05, data 05, MAC
//
// MAC: ISO/IEC 9797-1 MAC algorithm 3, padding method 2, over the command
// header, the ATC (9F36), the ARQC (9F26) and the data, under the EMV
// common session key of MK-SMI (from the issuer's IMKSMI like MK-AC) with
// R = the ARQC (see icc.ScriptMAC).
var (
	scriptID   = []byte{0x00, 0x00, 0x00, 0x01}
	scriptData = []byte{0x05}
)

// chip is what a verified ARQC leaves for the answer.
type chip struct {
	iss       deck.Issuer
	card      deck.Card
	pan, psn  string
	mk, sk    []byte
	arqc, atc []byte
	// qr: a consumer-presented QR payment's cryptogram.
	qr bool
}

// isQR tells whether a request is a consumer-presented QR payment
// (DE22 "03x").
func isQR(req host.Request) bool { return strings.HasPrefix(req.EntryMode, "03") }

// atcRing is the ATCs of one card's QR cryptograms, the last
// QRATCMemory of them.
type atcRing struct {
	seen  map[uint16]struct{}
	order []uint16
	next  int // the oldest, once order is full
}

// add remembers atc; false when it already was.
func (r *atcRing) add(atc uint16) bool {
	if _, ok := r.seen[atc]; ok {
		return false
	}
	if len(r.order) < QRATCMemory {
		r.order = append(r.order, atc)
	} else {
		delete(r.seen, r.order[r.next])
		r.order[r.next] = atc
		r.next = (r.next + 1) % QRATCMemory
	}
	r.seen[atc] = struct{}{}
	return true
}

// qrKey is how the issuer's memory of QR ATCs names a card: no PAN is
// kept.
func qrKey(pan, psn string) [32]byte {
	return sha256.Sum256([]byte("acquirer-sim QR ATC\x00" + pan + "\x00" + psn))
}

// firstQRUse records the ATC of a QR cryptogram of the card (pan, psn);
// false when the issuer saw it already.
func (s *Server) firstQRUse(pan, psn string, atc []byte) bool {
	key := qrKey(pan, psn)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.qrATCs[key]
	if r == nil {
		r = &atcRing{seen: map[uint16]struct{}{}}
		s.qrATCs[key] = r
	}
	return r.add(binary.BigEndian.Uint16(atc))
}

func (c *chip) wipe() {
	if c != nil {
		clear(c.mk)
		clear(c.sk)
	}
}

func note(in *Entry, s string) {
	if in.Note != "" {
		in.Note += "; "
	}
	in.Note += s
}

// issue runs the issuer's checks of a purchase (none when it carries
// neither DE55 nor DE52). It returns the response code of a decline ("" to
// go on) and, when the ARQC verified, what the answer's DE55 needs.
func (s *Server) issue(sess *wiresec.Session, req host.Request, pan string, in *Entry) (string, *chip) {
	if len(req.ICC) == 0 && len(req.PINBlock) == 0 {
		return "", nil
	}
	if len(req.ICC) > 0 {
		f := false
		in.ARQCOK = &f
	}
	if len(req.PINBlock) > 0 {
		f := false
		in.PINPresent, in.PINOK = true, &f
	}
	card, ok := s.cards(pan)
	if !ok {
		note(in, "card not on file")
		return RCInvalidCard, nil
	}
	in.Scheme = card.Scheme
	var c *chip
	if len(req.ICC) > 0 {
		var rc string
		if rc, c = s.checkARQC(req, pan, card, in); rc != "" {
			return rc, nil
		}
	}
	if len(req.PINBlock) > 0 {
		if rc := s.checkPIN(sess, req.PINBlock, pan, card, in); rc != "" {
			return rc, c
		}
	}
	return "", c
}

// checkARQC verifies the ARQC of DE55, refuses a QR cryptogram used
// before, and journals arqc_ok.
func (s *Server) checkARQC(req host.Request, pan string, card deck.Card, in *Entry) (string, *chip) {
	rc, c := s.verifyAC(req, pan, card, in, acARQC)
	if rc != "" {
		return rc, nil
	}
	if c.qr && req.Kind != host.KindVoid && req.Kind != host.KindCompletion && !s.firstQRUse(pan, c.psn, c.atc) {
		c.wipe()
		note(in, "cryptogram replayed")
		return RCCardAuthFailed, nil
	}
	*in.ARQCOK = true
	return "", c
}

// An acType is the cryptogram a message must carry: its name in notes
// (bare and with its article), its cryptogram information data (9F27 bits
// 8-7) and whether 9F27 must be present to say so.
type acType struct {
	name, aName string
	cid         byte
	needsCID    bool
}

var (
	// acARQC: a purchase's cryptogram; 9F27, when present, says ARQC.
	acARQC = acType{name: "ARQC", aName: "an ARQC", cid: 0x80}
	// acTC: an advice's cryptogram, the card's offline approval; 9F27
	// must say TC.
	acTC = acType{name: "TC", aName: "a TC", cid: 0x40, needsCID: true}
)

// verifyAC verifies the application cryptogram of DE55 (9F26) of type
// want: the same issuer keys, session key and input (deck.ACInput) for an
// ARQC and a TC. It returns the response code of a failure ("" when the
// cryptogram verified) and, on success, the keys the answer's issuer data
// needs (the caller wipes them).
func (s *Server) verifyAC(req host.Request, pan string, card deck.Card, in *Entry, want acType) (string, *chip) {
	tlvs, err := host.ParseICC(req.ICC)
	if err != nil {
		note(in, "ICC data malformed")
		return RCFormatError, nil
	}
	v, err := host.ICCValues(tlvs)
	if err != nil {
		note(in, "ICC data malformed")
		return RCFormatError, nil
	}
	psn := "00"
	if p, ok := v["5F34"]; ok {
		if len(p) != 1 || p[0]>>4 > 9 || p[0]&0x0F > 9 {
			note(in, "PAN sequence number (5F34) malformed")
			return RCFormatError, nil
		}
		psn = fmt.Sprintf("%02X", p[0])
	}
	iss, ok := s.issuers[card.Scheme]
	if !ok {
		note(in, "no issuer keys for the card's scheme")
		return RCCardAuthFailed, nil
	}
	arqc := v["9F26"]
	if len(arqc) != emv.ACLen {
		note(in, "no "+want.name+" (9F26)")
		return RCCardAuthFailed, nil
	}
	cid, ok := v["9F27"]
	if !ok && want.needsCID {
		note(in, "no cryptogram information data (9F27)")
		return RCCardAuthFailed, nil
	}
	if ok && (len(cid) != 1 || cid[0]&0xC0 != want.cid) {
		note(in, "the cryptogram is not "+want.aName+" (9F27)")
		return RCCardAuthFailed, nil
	}
	data, err := deck.ACInput(card.Scheme, v)
	if err != nil {
		note(in, err.Error())
		return RCCardAuthFailed, nil
	}
	qr := isQR(req) && want == acARQC
	switch amount := hex.EncodeToString(v["9F02"]); {
	case amount == fmt.Sprintf("%012d", req.Amount):
	case qr && amount == "000000000000":
		// The phone made the cryptogram before the amount was known.
	case qr:
		note(in, "amount in DE55 (9F02) neither zero nor DE4")
		return RCCardAuthFailed, nil
	default:
		note(in, "amount in DE55 (9F02) differs from DE4")
		return RCCardAuthFailed, nil
	}
	if hex.EncodeToString(v["5F2A"]) != "0"+req.Currency {
		note(in, "currency in DE55 (5F2A) differs from DE49")
		return RCCardAuthFailed, nil
	}
	c := &chip{iss: iss, card: card, pan: pan, psn: psn, arqc: bytes.Clone(arqc), atc: bytes.Clone(v["9F36"]), qr: qr}
	if c.mk, err = emv.DeriveICCMasterKey(iss.IMKAC, pan, psn, iss.MKOption); err != nil {
		note(in, "ICC master key not derivable")
		return RCCardAuthFailed, nil
	}
	var un []byte
	if iss.SKD == emv.SKDMastercard {
		un = v["9F37"]
	}
	if c.sk, err = emv.DeriveSessionKey(iss.SKD, c.mk, c.atc, un); err != nil {
		c.wipe()
		note(in, "session key not derivable")
		return RCCardAuthFailed, nil
	}
	if err := emv.VerifyAC(c.sk, data, iss.Padding, arqc); err != nil {
		c.wipe()
		note(in, want.name+" does not verify")
		return RCCardAuthFailed, nil
	}
	return "", c
}

// checkPIN opens the PIN block with the request's PIN key and compares it
// with the card's PIN.
func (s *Server) checkPIN(sess *wiresec.Session, block []byte, pan string, card deck.Card, in *Entry) string {
	key := sha256.Sum256([]byte(pan))
	s.mu.Lock()
	tries := s.pinTries[key]
	s.mu.Unlock()
	if tries >= MaxPINTries {
		note(in, "PIN tries exceeded")
		return RCPINTriesExceeded
	}
	if card.PIN == "" {
		note(in, "no PIN on file")
		return RCIncorrectPIN
	}
	pin, err := sess.DecryptPIN(block, pan)
	if err != nil {
		note(in, "PIN block does not open")
		return RCIncorrectPIN
	}
	if subtle.ConstantTimeCompare([]byte(pin), []byte(card.PIN)) != 1 {
		s.mu.Lock()
		s.pinTries[key]++
		tries = s.pinTries[key]
		s.mu.Unlock()
		if tries >= MaxPINTries {
			note(in, "wrong PIN, tries exhausted")
			return RCPINTriesExceeded
		}
		note(in, "wrong PIN")
		return RCIncorrectPIN
	}
	s.mu.Lock()
	delete(s.pinTries, key)
	s.mu.Unlock()
	*in.PINOK = true
	return ""
}

// issuerData builds the DE55 of the answer with response code rc; script
// reports whether it holds the issuer script.
func (s *Server) issuerData(c *chip, rc string) (icc []byte, script bool, err error) {
	key := c.sk
	if c.iss.SKD == emv.SKDNone || c.iss.SKD == emv.SKDMastercard {
		key = c.mk
	}
	var d host.IssuerData
	switch c.iss.ARPCMethod {
	case 1:
		a, err := emv.ARPCMethod1(key, c.arqc, []byte(rc))
		if err != nil {
			return nil, false, fmt.Errorf("ARPC: %w", err)
		}
		d.AuthData = append(a, rc...)
	case 2:
		csu := []byte{0, 0, 0, 0}
		if rc == RCApproved {
			csu[1] = 0x80
		}
		a, err := emv.ARPCMethod2(key, c.arqc, csu, nil)
		if err != nil {
			return nil, false, fmt.Errorf("ARPC: %w", err)
		}
		d.AuthData = append(a, csu...)
	default:
		return nil, false, fmt.Errorf("ARPC method %d of the %s issuer unknown", c.iss.ARPCMethod, c.iss.Scheme)
	}
	if c.card.Name == s.scriptCard && !c.qr {
		sc, err := issuerScript(c)
		if err != nil {
			return nil, false, err
		}
		d.Scripts = append(d.Scripts, sc)
		script = true
	}
	icc, err = d.Encode()
	return icc, script, err
}

// issuerScript is the script of the script card (see scriptID).
func issuerScript(c *chip) (host.Script, error) {
	cmd, err := c.iss.ScriptCommand(c.pan, c.psn, c.atc, c.arqc, 0x84, 0xDA, 0x9F, 0x14, scriptData)
	if err != nil {
		return host.Script{}, fmt.Errorf("issuer script: %w", err)
	}
	return host.Script{After: true, ID: bytes.Clone(scriptID), Commands: [][]byte{cmd}}, nil
}
