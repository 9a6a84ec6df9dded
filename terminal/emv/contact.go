package emv

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// runContact is the contact flow of book 3 chapter 10 up to the first
// GENERATE AC.
func (st *txnState) runContact() error {
	blocked, err := st.buildContactCandidates()
	if err != nil {
		return err
	}
	// The GPO response and the records are one set of card data: an
	// object either gives twice ends the transaction (book 3 section
	// 10.2), so that a record cannot replace the AIP or AFL the card
	// answered GPO with.
	var seen map[tag]bool
	for {
		if err := st.chooseContact(blocked); err != nil {
			return err
		}
		seen = map[tag]bool{}
		err := st.gpo(seen)
		if errors.Is(err, errSelectNext) {
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: conditions of use not satisfied, next application")
			st.removeCandidate(st.sel)
			st.ui.Message(st.ctx, MsgTryAgain)
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if err := st.readRecords(seen); err != nil {
		return err
	}
	for _, t := range []tag{0x5F24, 0x5A, 0x8C, 0x8D} {
		if st.icc[t] == nil {
			st.tvr.set(tvrICCDataMissing)
			return fmt.Errorf("%w: %v (%s)", ErrDataMissing, t, dictionary[t].name)
		}
	}
	if err := st.oda(); err != nil {
		return err
	}
	st.restrictions()
	if err := st.verifyCardholder(); err != nil {
		return err
	}
	if err := st.riskManagement(); err != nil {
		return err
	}
	return st.firstGenerateAC(st.actionAnalysis())
}

// gpo sends GET PROCESSING OPTIONS with the PDOL data (book 3 section
// 10.1) and stores the AIP and AFL (formats 1 and 2), marking what it
// stored in seen. 6985 asks for the next application.
func (st *txnState) gpo(seen map[tag]bool) error {
	var pdol []dolEntry
	if b := st.icc[0x9F38]; b != nil {
		var err error
		if pdol, err = parseDOL(b); err != nil {
			return fmt.Errorf("%w: PDOL: %w", ErrFormat, err)
		}
	}
	st.pdolData = st.dolData(pdol)
	data, err := gpoData(st.pdolData)
	if err != nil {
		return err
	}
	resp, sw, err := st.send("GET PROCESSING OPTIONS", 0x80, 0xA8, 0x00, 0x00, data, case4)
	if err != nil {
		return err
	}
	if sw == 0x6985 && st.iface == Contact {
		return errSelectNext
	}
	if sw != 0x9000 {
		return statusErr("GET PROCESSING OPTIONS", sw)
	}
	return st.parseGPO(resp, seen)
}

// gpoData is the data field of GET PROCESSING OPTIONS: the PDOL data in
// the command template 83, whose length takes the BER-TLV long form
// 81 xx from 128 bytes on (book 3 annex B), and which must fit a short
// APDU (Lc at most 255).
func gpoData(pdolData []byte) ([]byte, error) {
	switch n := len(pdolData); {
	case n < 0x80:
		return append([]byte{0x83, byte(n)}, pdolData...), nil
	case n <= 0xFF-3:
		return append([]byte{0x83, 0x81, byte(n)}, pdolData...), nil
	default:
		return nil, fmt.Errorf("%w: PDOL asks for %d bytes", ErrFormat, n)
	}
}

// parseGPO reads a GET PROCESSING OPTIONS response: format 1 (80: AIP
// then AFL) or format 2 (77: data objects). The objects stored are
// marked in seen, so that the records cannot give them again.
func (st *txnState) parseGPO(resp []byte, seen map[tag]bool) error {
	objs, err := parseTLV(resp)
	if err != nil || len(objs) != 1 {
		return fmt.Errorf("%w: GET PROCESSING OPTIONS response", ErrFormat)
	}
	switch o := objs[0]; o.tag {
	case 0x80:
		if len(o.value) < 2 || (len(o.value)-2)%4 != 0 {
			return fmt.Errorf("%w: format 1 GPO response of %d bytes", ErrFormat, len(o.value))
		}
		st.icc[0x82] = bytes.Clone(o.value[:2])
		seen[0x82] = true
		if len(o.value) > 2 {
			st.icc[0x94] = bytes.Clone(o.value[2:])
			seen[0x94] = true
		}
	case 0x77:
		if err := storeNew(st.icc, seen, o.children); err != nil {
			return err
		}
		st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: GPO", logObjects("data", o.children))
	default:
		return fmt.Errorf("%w: GET PROCESSING OPTIONS template %v", ErrFormat, o.tag)
	}
	if len(st.icc[0x82]) != 2 {
		return fmt.Errorf("%w: AIP", ErrDataMissing)
	}
	if st.iface == Contact && len(st.icc[0x94]) == 0 {
		return fmt.Errorf("%w: AFL", ErrDataMissing)
	}
	return nil
}

// aflEntry is one entry of the application file locator.
type aflEntry struct{ sfi, first, last, oda byte }

func parseAFL(b []byte) ([]aflEntry, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%w: AFL of %d bytes", ErrFormat, len(b))
	}
	var out []aflEntry
	for i := 0; i < len(b); i += 4 {
		e := aflEntry{sfi: b[i] >> 3, first: b[i+1], last: b[i+2], oda: b[i+3]}
		if b[i]&0x07 != 0 || e.sfi < 1 || e.sfi > 30 || e.first < 1 || e.last < e.first || int(e.oda) > int(e.last-e.first)+1 {
			return nil, fmt.Errorf("%w: AFL entry %X", ErrFormat, b[i:i+4])
		}
		out = append(out, e)
	}
	return out, nil
}

// readRecords reads the records the AFL names (book 3 section 10.2),
// stores their data objects and keeps the static data to be
// authenticated: for SFIs 1 to 10 the value of the 70 template, for the
// others the whole record.
func (st *txnState) readRecords(seen map[tag]bool) error {
	afl, err := parseAFL(st.icc[0x94])
	if err != nil {
		return err
	}
	for _, e := range afl {
		for rec := int(e.first); rec <= int(e.last); rec++ {
			data, sw, err := st.send("READ RECORD", 0x00, 0xB2, byte(rec), e.sfi<<3|4, nil, case2)
			if err != nil {
				return err
			}
			if sw != 0x9000 {
				return statusErr(fmt.Sprintf("READ RECORD %d/%d", e.sfi, rec), sw)
			}
			objs, static, err := parseRecord(e.sfi, data)
			if err != nil {
				return fmt.Errorf("record %d of SFI %d: %w", rec, e.sfi, err)
			}
			if objs == nil && rec < int(e.first)+int(e.oda) {
				// Book 3 section 10.3: a record read for offline data
				// authentication that is not a 70 template makes it
				// fail, whatever a signature over it says.
				st.staticBad = true
			}
			if objs != nil {
				if err := storeNew(st.icc, seen, objs); err != nil {
					return err
				}
				st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: record", slog.Int("sfi", int(e.sfi)), slog.Int("rec", rec), logObjects("data", objs))
			}
			if rec < int(e.first)+int(e.oda) {
				st.static = append(st.static, static...)
			}
		}
	}
	return nil
}

// parseRecord reads a READ RECORD response: the data objects of its 70
// template (nil for a proprietary record of SFI 11 to 30) and the part of
// it signed for offline data authentication (book 3 section 10.3): the
// template's value for SFIs 1 to 10, which must be a 70 template; above,
// the template with its tag and length, or the whole record when it is
// no template. 00 and FF bytes after the template are padding (see
// recordBody), signed in neither case.
func parseRecord(sfi byte, data []byte) ([]tlvObject, []byte, error) {
	body := recordBody(data)
	objs, perr := parseTLV(body)
	isTemplate := perr == nil && len(objs) == 1 && objs[0].tag == 0x70
	if sfi > 10 {
		if isTemplate {
			return objs[0].children, body, nil
		}
		return nil, data, nil
	}
	if !isTemplate {
		return nil, nil, fmt.Errorf("%w: not a 70 template", ErrFormat)
	}
	h, n, err := tlvHeader(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return objs[0].children, body[h : h+n], nil
}

// recordBody returns the first data object of a record, without the 00
// bytes before it, when only 00 and FF bytes follow it: cards answer
// READ RECORD with the whole fixed-length record, its unused bytes
// erased to FF (or 00), and ISO/IEC 7816-4 section 5.2 lets such bytes
// stand before, between and after BER-TLV data objects. Anything else
// after the object is returned as it is, for the caller to refuse: the
// issuer's signature covers the template, not what follows it.
func recordBody(data []byte) []byte {
	b := trimPad(data)
	h, n, err := tlvHeader(b)
	if err != nil {
		return data
	}
	for _, x := range b[h+n:] {
		if x != 0x00 && x != 0xFF {
			return data
		}
	}
	return b[:h+n]
}

// restrictions is processing restrictions (book 3 section 10.4).
func (st *txnState) restrictions() {
	if v := st.icc[0x9F08]; v != nil && !bytes.Equal(v, st.aid.AppVersion[:]) {
		st.tvr.set(tvrVersionsDiffer)
	}
	st.usageControl()
	today := dateValue(st.term[0x9A])
	if eff, ok := yymmdd(st.icc[0x5F25]); ok && eff > today {
		st.tvr.set(tvrNotYetEffective)
	}
	if exp, ok := yymmdd(st.icc[0x5F24]); ok && exp < today {
		st.tvr.set(tvrExpired)
	} else if !ok && st.icc[0x5F24] != nil {
		st.tvr.set(tvrExpired)
	}
}

// usageControl checks the application usage control against the
// terminal and the transaction.
func (st *txnState) usageControl() {
	auc := st.icc[0x9F07]
	if len(auc) != 2 {
		return
	}
	// Book 3 annex A1: terminal types 14, 15 and 16 (operated by a
	// financial institution, unattended) with the cash capability are
	// ATMs, and no other: a merchant's or a cardholder's unattended
	// terminal (2x, 3x) is not one even when it dispenses cash.
	tt := st.term[0x9F35][0]
	atm := (tt == 0x14 || tt == 0x15 || tt == 0x16) && st.term[0x9F40][0]&0x80 != 0
	if atm && auc[0]&0x02 == 0 || !atm && auc[0]&0x01 == 0 {
		st.tvr.set(tvrServiceNotAllowed)
		return
	}
	icc := st.icc[0x5F28]
	if len(icc) != 2 {
		return
	}
	domestic := bytes.Equal(icc, st.term[0x9F1A])
	pick := func(dom, intl byte) byte {
		if domestic {
			return dom
		}
		return intl
	}
	ok := true
	switch st.txn.Type {
	case TypeCash:
		ok = auc[0]&pick(0x80, 0x40) != 0
	case TypePurchase, TypeCashback:
		ok = auc[0]&pick(0x20, 0x10) != 0 || auc[0]&pick(0x08, 0x04) != 0
	}
	if st.txn.Type == TypeCashback || st.txn.OtherAmount > 0 {
		ok = ok && auc[1]&pick(0x80, 0x40) != 0
	}
	if !ok {
		st.tvr.set(tvrServiceNotAllowed)
	}
}

// yymmdd reads a BCD date into YYYYMMDD (years 00-49 are 20xx).
func yymmdd(b []byte) (int, bool) {
	if len(b) != 3 {
		return 0, false
	}
	v, ok := bcdValue(b)
	if !ok {
		return 0, false
	}
	y, m, d := int(v/10000), int(v/100%100), int(v%100)
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, false
	}
	if y < 50 {
		y += 2000
	} else {
		y += 1900
	}
	return y*10000 + m*100 + d, true
}

func dateValue(b []byte) int {
	v, _ := yymmdd(b)
	return v
}

// riskManagement is terminal risk management (book 3 section 10.6):
// floor limit, random transaction selection and velocity checking.
func (st *txnState) riskManagement() error {
	if st.txn.ForceOnline {
		st.tvr.set(tvrMerchantForced)
	}
	if st.aip()[0]&0x08 == 0 {
		return nil
	}
	amount := st.txn.Amount
	l := st.limits
	if amount >= l.FloorLimit {
		st.tvr.set(tvrFloorLimit)
	} else if l.RandomThreshold != NoLimit {
		target := st.aid.TargetPercent
		if amount >= l.RandomThreshold && l.FloorLimit > l.RandomThreshold {
			target += int(int64(st.aid.MaxTargetPercent-st.aid.TargetPercent) * (amount - l.RandomThreshold) / (l.FloorLimit - l.RandomThreshold))
		}
		draw, err := st.draw()
		if err != nil {
			return err
		}
		if draw <= target {
			st.tvr.set(tvrRandomSelected)
		}
	}
	if len(st.icc[0x9F14]) == 1 && len(st.icc[0x9F23]) == 1 {
		atc, err1 := st.getData(0x9F36, 2)
		last, err2 := st.getData(0x9F13, 2)
		if errors.Is(err1, ErrCardRemoved) || errors.Is(err1, ErrCancelled) {
			return err1
		}
		if errors.Is(err2, ErrCardRemoved) || errors.Is(err2, ErrCancelled) {
			return err2
		}
		if err1 != nil || err2 != nil {
			st.tvr.set(tvrLCOLExceeded)
			st.tvr.set(tvrUCOLExceeded)
		} else {
			if beUint(last) == 0 {
				st.tvr.set(tvrNewCard)
			}
			diff := int64(beUint(atc)) - int64(beUint(last))
			if diff < 0 || diff > int64(st.icc[0x9F14][0]) {
				st.tvr.set(tvrLCOLExceeded)
			}
			if diff < 0 || diff > int64(st.icc[0x9F23][0]) {
				st.tvr.set(tvrUCOLExceeded)
			}
		}
	}
	st.tsi.set(tsiTerminalRisk)
	return nil
}

// draw is the random selection number, 1 to 99.
func (st *txnState) draw() (int, error) {
	var b [1]byte
	if _, ok := st.over[tagRandomDraw]; !ok {
		if _, err := io.ReadFull(st.rand, b[:]); err != nil {
			return 0, fmt.Errorf("%w: random source: %v", ErrParams, err)
		}
		b[0] = b[0]%99 + 1
	}
	st.setTerm(tagRandomDraw, b[:])
	st.drawn = true
	if v := st.term[tagRandomDraw]; len(v) == 1 {
		return int(v[0]), nil
	}
	return 99, nil
}

// getData reads a data object with GET DATA; its length must be n.
func (st *txnState) getData(t tag, n int) ([]byte, error) {
	tb := t.bytes()
	if len(tb) == 1 {
		tb = []byte{0x00, tb[0]}
	}
	data, sw, err := st.send("GET DATA", 0x80, 0xCA, tb[0], tb[1], nil, case2)
	if err != nil {
		return nil, err
	}
	if sw != 0x9000 {
		return nil, statusErr("GET DATA "+t.String(), sw)
	}
	objs, err := parseTLV(data)
	if err != nil {
		return nil, fmt.Errorf("%w: GET DATA %v: %w", ErrFormat, t, err)
	}
	o, ok := find(objs, t)
	if !ok || len(o.value) != n {
		return nil, fmt.Errorf("%w: GET DATA %v", ErrFormat, t)
	}
	return o.value, nil
}

// iac returns an issuer action code or its default.
func (st *txnState) iac(t tag, def byte) []byte {
	if v := st.icc[t]; len(v) == 5 {
		return v
	}
	return bytes.Repeat([]byte{def}, 5)
}

// actionAnalysis is terminal action analysis (book 3 section 10.7): the
// cryptogram to ask for at the first GENERATE AC.
func (st *txnState) actionAnalysis() CryptogramType {
	if st.tvr.anyOf(st.aid.TACDenial[:]) || st.tvr.anyOf(st.iac(0x9F0E, 0x00)) {
		return AAC
	}
	if st.onlineCapable() {
		if st.txn.ForceOnline || st.tvr.anyOf(st.aid.TACOnline[:]) || st.tvr.anyOf(st.iac(0x9F0F, 0xFF)) {
			return ARQC
		}
		return TC
	}
	return st.defaultAnalysis()
}

// defaultAnalysis applies the default action codes (offline-only, or
// unable to go online).
func (st *txnState) defaultAnalysis() CryptogramType {
	if st.tvr.anyOf(st.aid.TACDefault[:]) || st.tvr.anyOf(st.iac(0x9F0D, 0xFF)) {
		return AAC
	}
	return TC
}

// p1 is the reference control parameter of GENERATE AC.
func p1(c CryptogramType) byte {
	switch c {
	case TC:
		return 0x40
	case ARQC:
		return 0x80
	}
	return 0x00
}

func cidType(cid byte) CryptogramType {
	switch cid & 0xC0 {
	case 0x00:
		return AAC
	case 0x40:
		return TC
	case 0x80:
		return ARQC
	}
	return CryptogramNone
}

// tcHash computes the TC hash value (98) when the CDOL asks for it.
func (st *txnState) tcHash(cdol []dolEntry) {
	if !dolHas(cdol, 0x98) {
		return
	}
	var tdol []dolEntry
	if b := st.icc[0x97]; b != nil {
		tdol, _ = parseDOL(b)
	} else if st.aid.DefaultTDOL != nil {
		tdol, _ = parseDOL(st.aid.DefaultTDOL)
		st.tvr.set(tvrDefaultTDOL)
	}
	h := sha1.Sum(buildDOL(tdol, st.dolValue))
	st.term[0x98] = h[:]
}

// generateAC sends GENERATE AC with the CDOL's data and reads the
// response (formats 1 and 2), checking the cryptogram type against the
// one asked for and, under CDA, the signature.
func (st *txnState) generateAC(want CryptogramType, second bool) error {
	name, dolTag := "GENERATE AC 1", tag(0x8C)
	if second {
		name, dolTag = "GENERATE AC 2", 0x8D
	}
	cdol, err := parseDOL(st.icc[dolTag])
	if err != nil {
		return fmt.Errorf("%w: %v: %w", ErrFormat, dolTag, err)
	}
	st.tcHash(cdol)
	data := st.dolData(cdol)
	if second {
		st.cdol2Data = data
	} else {
		st.cdol1Data = data
	}
	p := p1(want)
	cda := st.cda && want != AAC
	if cda {
		p |= 0x10
	}
	resp, sw, err := st.send(name, 0x80, 0xAE, p, 0x00, data, case4)
	if err != nil {
		return err
	}
	if sw != 0x9000 {
		return statusErr(name, sw)
	}
	ac, raw, err := parseACResponse(resp)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(ac[0x9F27]) != 1 || len(ac[0x9F36]) != 2 {
		return fmt.Errorf("%w: %s without CID or ATC", ErrDataMissing, name)
	}
	cid := ac[0x9F27][0]
	got := cidType(cid)
	if !allowedCryptogram(want, got, second) {
		return fmt.Errorf("%w: %s: card returned %v for %v", ErrFormat, name, got, want)
	}
	for t, v := range ac {
		st.icc[t] = bytes.Clone(v)
	}
	st.cid, st.crypto = cid, got
	st.tsi.set(tsiCardRisk)
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: "+name, slog.String("cid", fmt.Sprintf("%02X", cid)), slog.String("type", got.String()))
	if cid&0x07 == 0x01 {
		return fmt.Errorf("%w (%s)", ErrServiceNotAllowed, name)
	}
	if cda && got != AAC {
		st.tsi.set(tsiODA)
		if err := st.verifyCDA(ac, raw, second); err != nil {
			st.tvr.set(tvrCDAFailed)
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: CDA failed", slog.String("error", err.Error()))
			return errCDAFailed
		}
	}
	if len(st.icc[0x9F26]) != 8 {
		return fmt.Errorf("%w: %s without the application cryptogram", ErrDataMissing, name)
	}
	return nil
}

// allowedCryptogram: the card may answer a request for a TC with any
// cryptogram (an ARQC only at the first GENERATE AC), a request for an
// ARQC with an ARQC or an AAC, and a request for an AAC with an AAC.
func allowedCryptogram(want, got CryptogramType, second bool) bool {
	switch got {
	case AAC:
		return true
	case TC:
		return want == TC
	case ARQC:
		return !second && (want == ARQC || want == TC)
	}
	return false
}

// parseACResponse reads a GENERATE AC response: format 1 (80: CID, ATC,
// AC, issuer application data) or format 2 (77: data objects, also
// returned as received for the CDA hash).
func parseACResponse(resp []byte) (map[tag][]byte, [][]byte, error) {
	objs, err := parseTLV(resp)
	if err != nil || len(objs) != 1 {
		return nil, nil, fmt.Errorf("%w: response is not one template", ErrFormat)
	}
	ac := map[tag][]byte{}
	switch o := objs[0]; o.tag {
	case 0x80:
		if len(o.value) < 11 || len(o.value) > 43 {
			return nil, nil, fmt.Errorf("%w: format 1 of %d bytes", ErrFormat, len(o.value))
		}
		ac[0x9F27] = o.value[:1]
		ac[0x9F36] = o.value[1:3]
		ac[0x9F26] = o.value[3:11]
		if len(o.value) > 11 {
			ac[0x9F10] = o.value[11:]
		}
		return ac, nil, nil
	case 0x77:
		if err := storeNew(ac, map[tag]bool{}, o.children); err != nil {
			return nil, nil, err
		}
		resp = trimPad(resp)
		h, n, err := tlvHeader(resp)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		raw, err := rawObjects(resp[h : h+n])
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		return ac, raw, nil
	}
	return nil, nil, fmt.Errorf("%w: template %v", ErrFormat, objs[0].tag)
}

// errCDAFailed is returned inside the kernel when the CDA signature of a
// GENERATE AC response fails: the transaction is declined.
var errCDAFailed = errors.New("emv: CDA failed")

// firstGenerateAC asks for want and sets the outcome.
func (st *txnState) firstGenerateAC(want CryptogramType) error {
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: action analysis", slog.String("tvr", st.tvr.String()), slog.String("request", want.String()))
	err := st.generateAC(want, false)
	if errors.Is(err, errCDAFailed) {
		st.outcome, st.reason = OutcomeDeclinedOffline, ReasonCDAFailed
		return nil
	}
	if err != nil {
		return err
	}
	switch st.crypto {
	case TC:
		st.outcome = OutcomeApprovedOffline
	case ARQC:
		st.outcome = OutcomeOnlineRequest
	default:
		st.outcome = OutcomeDeclinedOffline
	}
	return nil
}
