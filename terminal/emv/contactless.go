package emv

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// preprocess is Book B pre-processing for each contactless AID: which
// are allowed for the amount and, for each, whether an online cryptogram
// and a CVM are required. It returns false when none is allowed.
type preproc struct {
	allowed, onlineRequired, cvmRequired bool
}

func (st *txnState) preprocess() map[int]preproc {
	out := map[int]preproc{}
	amount := st.txn.Amount
	for i := range st.cfg.AIDs {
		a := &st.cfg.AIDs[i]
		if !a.Contactless {
			continue
		}
		l, ok := a.limits(st.txn.Currency)
		if !ok {
			continue
		}
		p := preproc{allowed: true}
		// Book B: at or above the transaction and CVM required limits;
		// Book C-2's limits are amounts above which (DF8124 to DF8126).
		reached := func(limit int64) bool {
			if a.Kernel == 2 {
				return amount > limit
			}
			return amount >= limit
		}
		limit := l.CLTransactionLimit
		if a.Kernel == 2 && l.CLTransactionLimitCDCVM > limit {
			limit = l.CLTransactionLimitCDCVM // the kernel checks the right one
		}
		if limit != NoLimit && reached(limit) {
			p.allowed = false
		}
		if amount == 0 {
			if a.ZeroAmountAllowed {
				p.onlineRequired = true
			} else if a.Kernel != 2 {
				p.allowed = false
			}
		}
		floor := l.CLFloorLimit
		if floor == NoLimit {
			floor = l.FloorLimit
		}
		if amount > floor {
			p.onlineRequired = true
		}
		if l.CLCVMLimit != NoLimit && reached(l.CLCVMLimit) {
			p.cvmRequired = true
		}
		if st.txn.ForceOnline {
			p.onlineRequired = true
		}
		out[i] = p
	}
	return out
}

// defaultKernel is the kernel of an AID whose directory entry names none
// (Book B table 3-6).
func defaultKernel(adf []byte) int {
	if len(adf) < 5 {
		return 0
	}
	switch fmt.Sprintf("%X", adf[:5]) {
	case "A000000004":
		return 2
	case "A000000003":
		return 3
	case "A000000025":
		return 4
	case "A000000065":
		return 5
	case "A000000152":
		return 6
	case "A000000333":
		return 7
	}
	return 0
}

// runContactless is the entry point (Book B) and the selected kernel.
func (st *txnState) runContactless() error {
	pre := st.preprocess()
	anyAllowed := false
	for _, p := range pre {
		anyAllowed = anyAllowed || p.allowed
	}
	if !anyAllowed {
		st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonOverLimit
		st.ui.Message(st.ctx, MsgInsertOrSwipe)
		return nil
	}
	overLimit, err := st.readPPSE(pre)
	if err != nil {
		return err
	}
	if len(st.cands) == 0 && overLimit {
		st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonOverLimit
		st.ui.Message(st.ctx, MsgInsertOrSwipe)
		return nil
	}
	for {
		if len(st.cands) == 0 {
			st.ui.Message(st.ctx, MsgInsertOrSwipe)
			return ErrNoApplication
		}
		st.sortCandidates()
		c := st.cands[0]
		name := append(bytes.Clone(c.adf), c.extSel...)
		data, sw, err := st.selectName("SELECT ADF", name, false)
		if err != nil {
			return err
		}
		var f *fci
		if sw == 0x9000 {
			f, err = parseFCI(data)
		} else {
			err = statusErr("SELECT ADF", sw)
		}
		if err != nil {
			st.removeCandidate(&c)
			continue
		}
		st.selected(&c, f)
		st.kernel = c.kernel
		p := pre[c.aidIndex]
		st.clOnlineRequired, st.clCVMRequired = p.onlineRequired, p.cvmRequired
		switch c.kernel {
		case 2:
			err = st.kernel2()
		default:
			err = st.kernelQuick()
		}
		if errors.Is(err, errSelectNext) {
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: select next")
			st.removeCandidate(&c)
			st.resetForNext()
			continue
		}
		return err
	}
}

// resetForNext clears what a refused application left.
func (st *txnState) resetForNext() {
	st.icc = map[tag][]byte{}
	st.tvr, st.tsi = TVR{}, TSI{}
	st.static, st.staticBad = nil, false
	st.issuerKey, st.iccKey, st.cda = nil, nil, false
	delete(st.term, 0x9F66)
}

// readPPSE selects the proximity payment system environment and builds
// the candidate list of allowed combinations (Book B section 3.3). It
// reports whether a combination matched but pre-processing did not allow
// it for the amount.
func (st *txnState) readPPSE(pre map[int]preproc) (overLimit bool, err error) {
	data, sw, err := st.selectName("SELECT PPSE", ppseName, false)
	if err != nil {
		return false, err
	}
	if sw == 0x6A81 {
		return false, fmt.Errorf("%w: SELECT PPSE", ErrCardBlocked)
	}
	if sw != 0x9000 {
		return false, nil
	}
	o, err := single(data, 0x6F, "PPSE FCI")
	if err != nil {
		return false, nil
	}
	dir, ok := find(o.children, 0xBF0C)
	if !ok {
		return false, nil
	}
	for _, e := range dir.children {
		if e.tag != 0x61 {
			continue
		}
		adf, ok := find(e.children, 0x4F)
		if !ok || len(adf.value) < 5 || len(adf.value) > 16 {
			continue
		}
		kernel := defaultKernel(adf.value)
		if k, ok := find(e.children, 0x9F2A); ok && len(k.value) >= 1 {
			if k.value[0]&0xC0 != 0 {
				continue // domestic kernels are not run here
			}
			if k.value[0] != 0 {
				kernel = int(k.value[0] & 0x3F)
			}
		}
		idx := st.matchAIDContactless(adf.value, kernel)
		if idx < 0 {
			continue
		}
		if !pre[idx].allowed {
			overLimit = true
			continue
		}
		c := candidate{adf: bytes.Clone(adf.value), aidIndex: idx, kernel: kernel}
		if v, ok := find(e.children, 0x50); ok {
			c.label = printableString(v.value)
		}
		if v, ok := find(e.children, 0x87); ok && len(v.value) == 1 {
			c.priority = v.value[0]
		}
		if v, ok := find(e.children, 0x9F29); ok {
			c.extSel = bytes.Clone(v.value)
		}
		st.addCandidate(c)
	}
	return overLimit, nil
}

// matchAIDContactless matches a directory entry: the ADF name equal to or
// beginning with a reader AID of the same kernel (Book B 3.3.2.5), the
// equal one first, else the longest (see matchAID).
func (st *txnState) matchAIDContactless(adf []byte, kernel int) int {
	return matchAIDs(st.cfg.AIDs, adf, func(a *AIDParams) (bool, bool) { return a.Contactless && a.Kernel == kernel, true })
}

// ttq builds the terminal transaction qualifiers of this transaction.
func (st *txnState) ttq() []byte {
	t := st.aid.TTQ
	// Byte 1 bit 1, "ODA for online authorizations supported": the
	// kernel does no ODA on an online transaction, so it never claims
	// to (a capture's own TTQ still replays as recorded: setTerm's
	// overrides come after this).
	t[0] &^= 0x01
	t[1] &^= 0xC0
	if st.clOnlineRequired {
		t[1] |= 0x80
	}
	if st.clCVMRequired {
		t[1] |= 0x40
	}
	if !st.onlineCapable() {
		t[0] |= 0x08
	}
	return t[:]
}

// kernelQuick runs kernel 3 (Visa qVSDC) or kernel 7 (UnionPay qPBOC):
// GET PROCESSING OPTIONS with the TTQ returns the cryptogram, the
// records follow, then fDDA for an offline approval and the card's CVM
// request (CTQ).
func (st *txnState) kernelQuick() error {
	pdol, err := parseDOL(st.icc[0x9F38])
	if err != nil || !dolHas(pdol, 0x9F66) {
		st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonInterface
		st.ui.Message(st.ctx, MsgInsertOrSwipe)
		return nil
	}
	st.setTerm(0x9F66, st.ttq())
	st.pdolData = st.dolData(pdol)
	st.cardTVR = bytes.Clone(st.tvr[:])
	data, err := gpoData(st.pdolData)
	if err != nil {
		return err
	}
	resp, sw, err := st.send("GET PROCESSING OPTIONS", 0x80, 0xA8, 0x00, 0x00, data, case4)
	if err != nil {
		return err
	}
	switch sw {
	case 0x9000:
	case 0x6984:
		st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonInterface
		st.ui.Message(st.ctx, MsgInsertOrSwipe)
		return nil
	case 0x6985:
		return errSelectNext
	case 0x6986:
		return st.seePhone("GET PROCESSING OPTIONS answered 6986")
	default:
		return statusErr("GET PROCESSING OPTIONS", sw)
	}
	seen := map[tag]bool{}
	if err := st.parseGPO(resp, seen); err != nil {
		return err
	}
	if st.icc[0x9F26] == nil {
		// Not a qVSDC/qPBOC answer (mag-stripe or full EMV mode).
		st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonInterface
		st.ui.Message(st.ctx, MsgInsertOrSwipe)
		return nil
	}
	if len(st.icc[0x94]) > 0 {
		if err := st.readRecords(seen); err != nil {
			return err
		}
	}
	st.ui.Message(st.ctx, MsgRemoveCard)
	// The track 2 equivalent data goes to the host and to an offline
	// approval's advice: Book C-3 makes it mandatory.
	if st.icc[0x57] == nil || len(st.icc[0x9F36]) != 2 || len(st.icc[0x9F26]) != 8 {
		st.tvr.set(tvrICCDataMissing)
		return fmt.Errorf("%w: track 2 equivalent data, ATC or cryptogram", ErrDataMissing)
	}
	if err := st.checkTrack2PAN(); err != nil {
		return err
	}
	cid, ok := st.quickCID()
	if !ok {
		return fmt.Errorf("%w: cryptogram type", ErrFormat)
	}
	st.cid, st.crypto = cid, cidType(cid)
	st.icc[0x9F27] = []byte{cid}
	if v := st.icc[0x9F08]; v != nil && !bytes.Equal(v, st.aid.AppVersion[:]) {
		st.tvr.set(tvrVersionsDiffer)
	}
	today := dateValue(st.term[0x9A])
	expired := false
	if exp, ok := st.expiry(); ok && exp < today {
		st.tvr.set(tvrExpired)
		expired = true
	}
	switch st.crypto {
	case AAC:
		st.outcome = OutcomeDeclinedOffline
		st.quickCVM()
		return nil
	case ARQC:
		st.tvr.set(tvrODANotPerformed)
		st.outcome = OutcomeOnlineRequest
		return st.quickCVMOnline()
	}
	// TC: an offline approval, if the reader allowed one (a card may
	// lower what the reader asked for, never raise it: a refund, a
	// merchant-forced online or an amount above the floor limit asked for
	// an online cryptogram), fDDA holds and the CVM allows.
	if st.clOnlineRequired {
		st.outcome, st.reason = OutcomeDeclinedOffline, ReasonUnexpectedTC
		st.quickCVM()
		return nil
	}
	if expired {
		st.outcome, st.reason = OutcomeDeclinedOffline, ReasonExpired
		st.quickCVM()
		return nil
	}
	st.tsi.set(tsiODA)
	if err := st.fdda(); err != nil {
		if errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrCancelled) {
			return err
		}
		st.tvr.set(tvrDDAFailed)
		st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: fDDA failed", slog.String("error", err.Error()))
		ctq := st.icc[0x9F6C]
		switch {
		case len(ctq) == 2 && ctq[0]&0x20 != 0 && st.onlineCapable():
			st.outcome = OutcomeOnlineRequest
			return st.quickCVMOnline()
		case len(ctq) == 2 && ctq[0]&0x10 != 0:
			st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonODAFailed
			st.ui.Message(st.ctx, MsgInsertOrSwipe)
			return nil
		}
		st.outcome, st.reason = OutcomeDeclinedOffline, ReasonODAFailed
		st.quickCVM()
		return nil
	}
	st.outcome = OutcomeApprovedOffline
	if !st.quickCVM() {
		st.outcome, st.reason = OutcomeDeclinedOffline, ReasonCVMFailed
	}
	return nil
}

// quickCID returns the cryptogram information data, from 9F27 or, when
// the card leaves it out, from the CVR in the issuer application data
// (bits 6-5: 00 AAC, 01 TC, 10 ARQC) of the CVR byte after its length:
// IAD byte 5 in formats 0, 1 and 3 (06, DKI, CVN, CVR length 03, ...)
// and in qPBOC, IAD byte 4 in Visa's format 2 (1F, CVN, DKI, then a
// 5-byte CVR without a length byte).
func (st *txnState) quickCID() (byte, bool) {
	if v := st.icc[0x9F27]; len(v) == 1 {
		return v[0], cidType(v[0]) != CryptogramNone
	}
	iad := st.icc[0x9F10]
	if len(iad) < 5 {
		return 0, false
	}
	cvr := iad[4]
	if st.kernel == 3 && iad[0] == 0x1F && len(iad) == 32 {
		cvr = iad[3]
	}
	switch (cvr >> 4) & 0x03 {
	case 0:
		return 0x00, true
	case 1:
		return 0x40, true
	case 2:
		return 0x80, true
	}
	return 0, false
}

// expiry returns the application expiry date as YYYYMMDD, from 5F24 or
// the track 2 equivalent data (end of month).
func (st *txnState) expiry() (int, bool) {
	if d, ok := yymmdd(st.icc[0x5F24]); ok {
		return d, true
	}
	if v := st.icc[0x57]; v != nil {
		s := nibbles(v)
		if i := bytes.IndexByte([]byte(s), 'D'); i > 0 && len(s) >= i+5 {
			b := bcdString(s[i+1:i+5]+"31", 3)
			return yymmdd(b)
		}
	}
	return 0, false
}

// quickCVM decides the CVM of an offline or declined qVSDC/qPBOC
// transaction: none below the CVM required limit; above it the card's
// CTQ (consumer device CVM, signature). It returns false when a CVM is
// required and none can be done offline.
func (st *txnState) quickCVM() bool {
	if !st.clCVMRequired {
		st.cvm = CVMResult{Method: CVMNone, Results: [3]byte{0x1F, 0x00, 0x02}}
		return true
	}
	ctq := st.icc[0x9F6C]
	ttq := st.term[0x9F66]
	switch {
	case len(ctq) == 2 && ctq[1]&0x80 != 0:
		st.cvm = CVMResult{Method: CVMCDCVM, Results: [3]byte{0x3F, 0x00, 0x02}}
		return true
	case len(ctq) == 2 && ctq[0]&0x40 != 0 && len(ttq) == 4 && ttq[0]&0x02 != 0,
		len(ctq) != 2 && len(ttq) == 4 && ttq[0]&0x02 != 0:
		st.cvm = CVMResult{Method: CVMSignature, Signature: true, Results: [3]byte{0x1E, 0x00, 0x00}}
		return true
	}
	st.cvm = CVMResult{Method: CVMFailed, Results: [3]byte{0x3F, 0x00, 0x01}}
	st.tvr.set(tvrCVMFailed)
	return false
}

// quickCVMOnline decides the CVM of an online qVSDC/qPBOC transaction:
// none below the CVM required limit; above it consumer device CVM when
// the card did it, else online PIN when the reader supports it (the
// cardholder enters it for the host), else a signature.
func (st *txnState) quickCVMOnline() error {
	if !st.clCVMRequired {
		st.cvm = CVMResult{Method: CVMNone, Results: [3]byte{0x1F, 0x00, 0x02}}
		return nil
	}
	ctq := st.icc[0x9F6C]
	ttq := st.term[0x9F66]
	if len(ctq) == 2 && ctq[1]&0x80 != 0 {
		st.cvm = CVMResult{Method: CVMCDCVM, Results: [3]byte{0x3F, 0x00, 0x02}}
		return nil
	}
	pinOK := len(ttq) == 4 && ttq[0]&0x04 != 0
	sigOK := len(ttq) == 4 && ttq[0]&0x02 != 0
	wantSig := len(ctq) == 2 && ctq[0]&0x40 != 0 && ctq[0]&0x80 == 0
	if pinOK && !(wantSig && sigOK) {
		m, out, err := st.onlinePIN()
		if err != nil {
			return err
		}
		if out != cvmFailedOne {
			st.cvm = CVMResult{Method: m, Results: [3]byte{0x02, 0x00, 0x00}}
			return nil
		}
		st.cvm = CVMResult{Method: CVMFailed, Results: [3]byte{0x02, 0x00, 0x01}}
		st.tvr.set(tvrCVMFailed)
		return nil
	}
	if sigOK {
		st.cvm = CVMResult{Method: CVMSignature, Signature: true, Results: [3]byte{0x1E, 0x00, 0x00}}
		return nil
	}
	st.cvm = CVMResult{Method: CVMFailed, Results: [3]byte{0x3F, 0x00, 0x01}}
	st.tvr.set(tvrCVMFailed)
	return nil
}

// kernel2 runs kernel 2 (Mastercard M/Chip) in EMV mode with CDA: GET
// PROCESSING OPTIONS, records, the transaction limit for the card's CVM
// capability, CDA key recovery, processing restrictions, the CVM list with
// the CVM capability of the amount, the floor limit, terminal action
// analysis and one GENERATE AC with a CDA signature.
func (st *txnState) kernel2() error {
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
	if sw == 0x6984 || sw == 0x6985 {
		return errSelectNext
	}
	if sw != 0x9000 {
		return statusErr("GET PROCESSING OPTIONS", sw)
	}
	seen := map[tag]bool{}
	if err := st.parseGPO(resp, seen); err != nil {
		return err
	}
	aip := st.aip()
	if aip[1]&0x80 == 0 {
		// Mag-stripe mode only: not run here.
		st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonInterface
		st.ui.Message(st.ctx, MsgInsertOrSwipe)
		return nil
	}
	limit := st.limits.CLTransactionLimit
	if aip[0]&0x02 != 0 {
		limit = st.limits.CLTransactionLimitCDCVM
	}
	if limit != NoLimit && st.txn.Amount > limit {
		st.outcome, st.reason = OutcomeTryAnotherInterface, ReasonOverLimit
		st.ui.Message(st.ctx, MsgInsertOrSwipe)
		return nil
	}
	if len(st.icc[0x94]) == 0 {
		return fmt.Errorf("%w: AFL", ErrDataMissing)
	}
	if err := st.readRecords(seen); err != nil {
		return err
	}
	for _, t := range []tag{0x5F24, 0x5A, 0x8C} {
		if st.icc[t] == nil {
			st.tvr.set(tvrICCDataMissing)
			return fmt.Errorf("%w: %v (%s)", ErrDataMissing, t, dictionary[t].name)
		}
	}
	if err := st.checkTrack2PAN(); err != nil {
		return err
	}
	if st.chooseODA() == odaCDA {
		if err := st.oda(); err != nil {
			return err
		}
	} else {
		st.tvr.set(tvrODANotPerformed)
	}
	st.restrictions()
	// CVM with the capability of the amount; no offline PIN contactless.
	caps := st.aid.CVMCapNotRequired
	if st.clCVMRequired {
		caps = st.aid.CVMCapRequired
	}
	caps &^= 0x90
	c := st.caps()
	c[1] = caps
	st.term[0x9F33] = c[:]
	switch {
	case aip[0]&0x02 != 0 && st.clCVMRequired:
		st.cvm = CVMResult{Method: CVMCDCVM, Results: [3]byte{0x01, 0x00, 0x02}}
	case aip[0]&0x02 != 0:
		st.cvm = CVMResult{Method: CVMNone, Results: [3]byte{0x3F, 0x00, 0x02}}
	default:
		if err := st.cvmList(caps); err != nil {
			return err
		}
	}
	if st.txn.ForceOnline {
		st.tvr.set(tvrMerchantForced)
	}
	floor := st.limits.CLFloorLimit
	if floor == NoLimit {
		floor = st.limits.FloorLimit
	}
	if st.txn.Amount > floor {
		st.tvr.set(tvrFloorLimit)
	}
	st.tsi.set(tsiTerminalRisk)
	err = st.firstGenerateAC(st.actionAnalysis())
	if err == nil && st.crypto == AAC && odCVMWanted(st.icc[0xDF4B]) {
		// A phone that wants its holder to verify on it declines until
		// then: not a decline of the sale (Book C-2: END APPLICATION,
		// restart at Start B, "see phone").
		st.outcome = OutcomeNone
		return st.seePhone("AAC asking for on-device cardholder verification")
	}
	st.ui.Message(st.ctx, MsgRemoveCard)
	return err
}

// odCVMWanted reads kernel 2's POS cardholder interaction information
// (DF4B, 3 bytes): byte 2 bits 2-1 (offline change PIN required, context
// conflicting) or byte 3 bits 4-1 (ACK or on-device CVM required) ask the
// holder to act on the device before it pays.
func odCVMWanted(pcii []byte) bool {
	return len(pcii) == 3 && (pcii[1]&0x03 != 0 || pcii[2]&0x0F != 0)
}

// seePhone ends a tap the device refused until its holder confirms on
// it: the caller asks for it again.
func (st *txnState) seePhone(why string) error {
	st.outcome, st.reason = OutcomeEndApplication, ReasonSeePhone
	st.ui.Message(st.ctx, MsgSeePhone)
	return fmt.Errorf("%w: %s", ErrSeePhone, why)
}

// checkTrack2PAN refuses a card whose track 2 equivalent data (57) names
// another account than its PAN (5A): the host is sent the track 2, while
// the terminal masks, records and checks its risk rules on the PAN.
func (st *txnState) checkTrack2PAN() error {
	t2, p := st.icc[0x57], st.icc[0x5A]
	if t2 == nil || p == nil {
		return nil
	}
	pan, _ := cnString(p)
	s := nibbles(t2)
	if i := strings.IndexByte(s, 'D'); i <= 0 || s[:i] != pan {
		return fmt.Errorf("%w: the track 2 equivalent data and the PAN disagree", ErrFormat)
	}
	return nil
}
