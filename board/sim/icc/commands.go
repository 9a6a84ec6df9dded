package icc

import (
	"bytes"
	"math/big"

	"posd/crypto/emv"
)

type selKind int

const (
	selNone selKind = iota
	selPSE
	selPPSE
	selApp
)

// session is the state of one presentation: what is selected and how
// far the transaction went.
type session struct {
	kind     selKind
	app      *appState
	f        *Iface
	appIndex int
	name     []byte // the DF name of the last SELECT, for "next occurrence"

	gpo        bool
	pdolValues []byte
	pdolMap    map[string][]byte

	genAC       int // GENERATE ACs answered
	cdol1Values []byte
	cdol1Map    map[string][]byte
	firstAC     int
	arqc        []byte
	atc         []byte

	challenge  []byte
	issuerAuth bool // EXTERNAL AUTHENTICATE (or 91 in CDOL2) processed
	cvr        cvrState
}

func (s *session) reset() {
	*s = session{cvr: cvrState{firstAC: -1, secondAC: -1}, firstAC: -1}
}

// --- SELECT ---

func (p *Port) selectCmd(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x04 || (cmd.p2 != 0x00 && cmd.p2 != 0x02) {
		return nil, swWrongP1P2
	}
	if !cmd.hasData || len(cmd.data) > 16 {
		return nil, swWrongLength
	}
	name := cmd.data
	prev := p.s
	p.s.reset()
	switch {
	case isName(name, pseName):
		if p.iface != Contact || !p.c.p.PSE || cmd.p2 != 0 {
			return nil, swFileNotFound
		}
		p.s.kind = selPSE
		a5 := tlv("88", []byte{0x01})
		a5 = append(a5, tlv("5F2D", []byte("en"))...)
		return tlv("6F", append(tlv("84", name), tlv("A5", a5)...)), swOK
	case isName(name, ppseName):
		if p.iface != Contactless || cmd.p2 != 0 {
			return nil, swFileNotFound
		}
		p.s.kind = selPPSE
		var dir []byte
		for _, a := range p.c.apps {
			f := a.Contactless
			if f == nil {
				continue
			}
			e := tlv("4F", a.AID)
			e = append(e, tlv("50", []byte(a.Label))...)
			e = append(e, tlv("87", []byte{a.Priority})...)
			if f.KernelID != 0 {
				e = append(e, tlv("9F2A", []byte{f.KernelID})...)
			}
			dir = append(dir, tlv("61", e)...)
		}
		return tlv("6F", append(tlv("84", name), tlv("A5", tlv("BF0C", dir))...)), swOK
	}
	// An application, by its whole AID or a partial one (book 1 12.3.3):
	// P2 = 02 is the next application whose AID starts with the name.
	start := 0
	if cmd.p2 == 0x02 {
		if prev.kind != selApp || !bytes.Equal(prev.name, name) {
			return nil, swFileNotFound
		}
		start = prev.appIndex + 1
	}
	for i := start; i < len(p.c.apps); i++ {
		a := p.c.apps[i]
		f := a.iface(p.iface)
		if f == nil || !bytes.HasPrefix(a.AID, name) {
			continue
		}
		p.s.kind, p.s.app, p.s.f, p.s.appIndex = selApp, a, f, i
		p.s.name = append([]byte(nil), name...)
		a5 := tlv("50", []byte(a.Label))
		a5 = append(a5, tlv("87", []byte{a.Priority})...)
		if len(f.PDOL) > 0 {
			a5 = append(a5, tlv("9F38", f.PDOL)...)
		}
		a5 = append(a5, tlv("5F2D", []byte("en"))...)
		if a.PreferredName != "" {
			a5 = append(a5, tlv("9F11", []byte{0x01})...)
			a5 = append(a5, tlv("9F12", []byte(a.PreferredName))...)
		}
		fci := tlv("6F", append(tlv("84", a.AID), tlv("A5", a5)...))
		if a.blocked {
			return fci, swWarnInvalidated
		}
		return fci, swOK
	}
	return nil, swFileNotFound
}

// --- READ RECORD ---

func (p *Port) readRecord(cmd command) ([]byte, uint16) {
	if cmd.p2&0x07 != 0x04 || cmd.p1 == 0 || cmd.hasData {
		if cmd.hasData {
			return nil, swWrongLength
		}
		return nil, swWrongP1P2
	}
	sfi := cmd.p2 >> 3
	switch p.s.kind {
	case selPSE:
		if sfi != 1 {
			return nil, swFileNotFound
		}
		if cmd.p1 != 1 {
			return nil, swRecordNotFound
		}
		var rec []byte
		for _, a := range p.c.apps {
			if a.Contact == nil {
				continue
			}
			e := tlv("4F", a.AID)
			e = append(e, tlv("50", []byte(a.Label))...)
			if a.PreferredName != "" {
				e = append(e, tlv("9F12", []byte(a.PreferredName))...)
			}
			e = append(e, tlv("87", []byte{a.Priority})...)
			rec = append(rec, tlv("61", e)...)
		}
		return tlv("70", rec), swOK
	case selApp:
		return p.s.app.record(p.s.f, sfi, cmd.p1)
	}
	return nil, swFileNotFound
}

// --- GET DATA ---

func (p *Port) getData(cmd command) ([]byte, uint16) {
	if cmd.hasData {
		return nil, swWrongLength
	}
	if p.s.kind != selApp {
		return nil, swConditionsNotMet
	}
	a := p.s.app
	tag := []byte{cmd.p1, cmd.p2}
	var v []byte
	switch {
	case cmd.p1 == 0x9F && cmd.p2 == 0x36:
		v = u16(a.atc)
	case cmd.p1 == 0x9F && cmd.p2 == 0x13:
		v = u16(a.lastOnlineATC)
	case cmd.p1 == 0x9F && cmd.p2 == 0x17:
		v = []byte{byte(p.c.ptc)}
	case cmd.p1 == 0x9F && cmd.p2 == 0x4F:
		if lf, ok := a.value(p.s.f, "9F4F"); ok {
			v = lf
		}
	}
	if v == nil {
		return nil, swRefDataNotFound
	}
	return append(append(tag, byte(len(v))), v...), swOK
}

func u16(x uint16) []byte { return []byte{byte(x >> 8), byte(x)} }

// --- GET PROCESSING OPTIONS ---

func (p *Port) gpo(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	if !cmd.hasData || len(cmd.data) < 2 {
		return nil, swWrongLength
	}
	if p.s.kind != selApp || p.s.gpo || p.s.app.blocked {
		return nil, swConditionsNotMet
	}
	if cmd.data[0] != 0x83 {
		return nil, swWrongData
	}
	vals := cmd.data[2:]
	if int(cmd.data[1]) != len(vals) {
		return nil, swWrongLength
	}
	m, ok := SplitDOL(p.c.apps[p.s.appIndex].pdol[p.iface], vals)
	if !ok {
		return nil, swWrongLength
	}
	a := p.s.app
	if a.atc == 0xFFFF {
		// The counter is exhausted: the application refuses to work.
		return nil, swConditionsNotMet
	}
	a.atc++
	p.s.gpo = true
	p.s.pdolValues = append([]byte(nil), vals...)
	p.s.pdolMap = m
	p.s.atc = u16(a.atc)
	// What the CVR says of the previous transactions.
	p.s.cvr.lastOnlineNotCompleted = a.lastOnlineNotCompleted
	p.s.cvr.lastIssuerAuthFailed = a.lastIssuerAuthFailed
	if p.s.f.Kernel == KernelQuick {
		return p.quickGPO()
	}
	if p.s.f.GPOFormat1 {
		return tlv("80", append(p.s.f.AIP[:], p.s.f.AFL()...)), swOK
	}
	body := tlv("82", p.s.f.AIP[:])
	body = append(body, tlv("94", p.s.f.AFL())...)
	return tlv("77", body), swOK
}

// --- VERIFY ---

func (p *Port) verify(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 || (cmd.p2 != 0x80 && cmd.p2 != 0x88) {
		return nil, swWrongP1P2
	}
	if !cmd.hasData {
		return nil, swWrongLength
	}
	if p.s.kind != selApp || !p.s.gpo || p.s.genAC > 0 {
		return nil, swConditionsNotMet
	}
	if p.c.p.PIN == "" {
		return nil, swRefDataNotFound
	}
	if p.c.ptc == 0 {
		p.s.cvr.pinTryLimitExceeded = true
		return nil, swAuthMethodBlocked
	}
	block := cmd.data
	if cmd.p2 == 0x88 {
		k := p.s.app.ICCKey
		if k == nil {
			return nil, swRefDataNotFound
		}
		if len(cmd.data) != len(k.Modulus) {
			return nil, swWrongLength
		}
		if p.s.challenge == nil {
			return nil, swConditionsNotMet
		}
		m := decipher(k, cmd.data)
		ch := p.s.challenge
		p.s.challenge = nil
		if m == nil || m[0] != 0x7F || !bytes.Equal(m[9:17], ch) {
			return nil, swWrongData
		}
		block = m[1:9]
		p.s.cvr.offlinePINEnciphered = true
	}
	pin, err := pinFromBlock(block)
	if err != nil {
		return nil, swWrongData
	}
	p.s.cvr.offlinePINPerformed = true
	if pinEqual(pin, p.c.p.PIN) {
		p.c.ptc = p.c.p.pinTryLimit()
		p.s.cvr.offlinePINFailed = false
		return nil, swOK
	}
	p.c.ptc--
	p.s.cvr.offlinePINFailed = true
	if p.c.ptc == 0 {
		p.s.cvr.pinTryLimitExceeded = true
	}
	return nil, swVerifyFailed | uint16(p.c.ptc)
}

// decipher is the ICC private key operation of an enciphered PIN
// (book 2 section 7.2): c^d mod n, as long as the modulus; nil when c is
// not below the modulus.
func decipher(k *emv.PrivateKey, c []byte) []byte {
	n := new(big.Int).SetBytes(k.Modulus)
	x := new(big.Int).SetBytes(c)
	if x.Cmp(n) >= 0 || len(k.D) == 0 {
		return nil
	}
	m := new(big.Int).Exp(x, new(big.Int).SetBytes(k.D), n)
	out := make([]byte, len(k.Modulus))
	m.FillBytes(out)
	return out
}

// --- GET CHALLENGE ---

func (p *Port) getChallenge(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	if cmd.hasData {
		return nil, swWrongLength
	}
	p.s.challenge = p.c.random(8)
	return append([]byte(nil), p.s.challenge...), swOK
}

// --- INTERNAL AUTHENTICATE (DDA) ---

func (p *Port) internalAuthenticate(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	if !cmd.hasData {
		return nil, swWrongLength
	}
	if p.s.kind != selApp {
		return nil, swConditionsNotMet
	}
	a := p.s.app
	if a.ICCKey == nil || p.s.f.AIP[0]&AIPDDA == 0 {
		return nil, swINSNotSupported
	}
	if len(a.ddol) > 0 && len(cmd.data) != dolLen(a.ddol) {
		return nil, swWrongLength
	}
	idn := p.c.random(8)
	sdad, err := emv.SignSDAD(a.ICCKey, append([]byte{byte(len(idn))}, idn...), cmd.data)
	if err != nil {
		return nil, swNoPreciseDiagnosis
	}
	p.s.cvr.ddaPerformed = true
	return tlv("80", sdad), swOK
}

// --- GENERATE AC ---

func (p *Port) generateAC(cmd command) ([]byte, uint16) {
	if cmd.p2 != 0 || cmd.p1&0xC0 == 0xC0 {
		return nil, swWrongP1P2
	}
	if !cmd.hasData {
		return nil, swWrongLength
	}
	s := &p.s
	if s.kind != selApp || !s.gpo || s.f.Kernel != KernelEMV {
		return nil, swConditionsNotMet
	}
	a := s.app
	asked := int(cmd.p1 & 0xC0)
	cda := cmd.p1&0x10 != 0
	switch s.genAC {
	case 0:
		m, ok := SplitDOL(a.cdol1, cmd.data)
		if !ok {
			return nil, swWrongLength
		}
		s.cdol1Values = append([]byte(nil), cmd.data...)
		s.cdol1Map = m
		t := p.firstDecision(asked, m)
		s.genAC = 1
		s.firstAC = t
		s.cvr.firstAC = t
		switch t {
		case CIDARQC:
			a.lastOnlineNotCompleted = true
		case CIDTC:
			a.consecutiveOffline++
		}
		return p.respondAC(t, cda, m, nil)
	case 1:
		if s.firstAC != CIDARQC {
			return nil, swConditionsNotMet
		}
		m2, ok := SplitDOL(a.cdol2, cmd.data)
		if !ok {
			return nil, swWrongLength
		}
		if v, ok := m2["91"]; ok && !s.issuerAuth && len(bytes.Trim(v, "\x00")) > 0 {
			p.issuerAuthenticate(v)
		}
		t := p.secondDecision(asked, m2)
		s.genAC = 2
		s.cvr.secondAC = t
		merged := map[string][]byte{}
		for k, v := range s.cdol1Map {
			merged[k] = v
		}
		for k, v := range m2 {
			merged[k] = v
		}
		return p.respondAC(t, cda, merged, append([]byte(nil), cmd.data...))
	}
	return nil, swConditionsNotMet
}

// firstDecision is the card's risk management at the first GENERATE AC.
func (p *Port) firstDecision(asked int, m map[string][]byte) int {
	a := p.s.app
	if asked == CIDAAC || a.blocked {
		return CIDAAC
	}
	if asked == CIDARQC {
		return CIDARQC
	}
	// A TC asked: the card may want to go online instead.
	over := !withinLimit(m["9F02"], m["5F2A"], a.Data["9F42"], a.risk.OfflineLimit)
	if over || p.c.ptc == 0 || a.lastOnlineNotCompleted || a.lastIssuerAuthFailed ||
		(a.risk.MaxConsecutiveOffline > 0 && a.consecutiveOffline >= a.risk.MaxConsecutiveOffline) {
		if a.risk.MaxConsecutiveOffline > 0 && a.consecutiveOffline >= a.risk.MaxConsecutiveOffline {
			p.s.cvr.velocityExceeded = true
		}
		return CIDARQC
	}
	return CIDTC
}

// secondDecision is the card's decision at the second GENERATE AC.
func (p *Port) secondDecision(asked int, m map[string][]byte) int {
	a := p.s.app
	arc := m["8A"]
	unable := bytes.Equal(arc, []byte("Y3")) || bytes.Equal(arc, []byte("Z3"))
	if unable {
		p.s.cvr.unableOnline = true
	} else {
		// The online exchange completed.
		a.lastOnlineNotCompleted = false
		a.lastOnlineATC = a.atc
		a.consecutiveOffline = 0
		a.lastIssuerAuthFailed = p.s.cvr.issuerAuthFailed
	}
	if asked != CIDTC || a.blocked {
		return CIDAAC
	}
	if unable && a.risk.DeclineUnableOnline {
		return CIDAAC
	}
	if !unable && a.risk.DeclineIfIssuerAuthFails &&
		(p.s.cvr.issuerAuthFailed || (!p.s.issuerAuth && p.s.f.AIP[0]&AIPIssuerAuth != 0)) {
		return CIDAAC
	}
	return CIDTC
}

// withinLimit: amount (n12) in currency cur (n4) at or below limit in the
// application currency appCur.
func withinLimit(amount, cur, appCur []byte, limit uint64) bool {
	v, ok := bcd(amount)
	if !ok || limit == 0 || len(appCur) == 0 || !bytes.Equal(cur, appCur) {
		return false
	}
	return v <= limit
}

// bcd reads packed decimal digits.
func bcd(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	var v uint64
	for _, x := range b {
		hi, lo := x>>4, x&0x0F
		if hi > 9 || lo > 9 {
			return 0, false
		}
		v = v*100 + uint64(hi)*10 + uint64(lo)
	}
	return v, true
}

// computeAC builds the IAD around the current CVR and the AC of type t
// over m (the terminal's values) and the card's data.
func (p *Port) computeAC(t int, m map[string][]byte) (ac, iad []byte, ok bool) {
	a := p.s.app
	p.s.cvr.pinTries = p.c.ptc
	iad = a.CVN.iad(p.s.cvr.cvr(a.CVN))
	tags := map[string][]byte{}
	for k, v := range m {
		tags[k] = v
	}
	tags["82"] = p.s.f.AIP[:]
	tags["9F36"] = p.s.atc
	tags["9F10"] = iad
	data, err := ACInput(a.CVN, tags)
	if err != nil {
		return nil, nil, false
	}
	sk, err := a.CVN.SessionKey(a.MKAC, p.s.atc, tags["9F37"])
	if err != nil {
		return nil, nil, false
	}
	ac, err = emv.GenerateAC(sk, data, a.CVN.Padding())
	if err != nil {
		return nil, nil, false
	}
	return ac, iad, true
}

// respondAC answers a GENERATE AC of type t; cdol2 is nil for the first.
func (p *Port) respondAC(t int, cda bool, m map[string][]byte, cdol2 []byte) ([]byte, uint16) {
	s := &p.s
	a := s.app
	withCDA := cda && t != CIDAAC && a.ICCKey != nil && s.f.AIP[0]&AIPCDA != 0
	if withCDA {
		if cdol2 == nil {
			s.cvr.cdaFirst = true
		} else {
			s.cvr.cdaSecond = true
		}
	}
	ac, iad, ok := p.computeAC(t, m)
	if !ok {
		return nil, swNoPreciseDiagnosis
	}
	if t == CIDARQC && cdol2 == nil {
		s.arqc = ac
	}
	cid := byte(t)
	if withCDA {
		// Book 2 section 6.6.1: CID, ATC, SDAD, IAD; the AC only inside
		// the signature; the hash over the PDOL, CDOL1 (and CDOL2)
		// values and the response's other data objects in order.
		resp := tlv("9F27", []byte{cid})
		resp = append(resp, tlv("9F36", s.atc)...)
		iadTLV := tlv("9F10", iad)
		hash := emv.CDATransactionDataHash(s.pdolValues, s.cdol1Values, cdol2, append(append([]byte(nil), resp...), iadTLV...))
		un := m["9F37"]
		sdad, err := emv.SignCDA(a.ICCKey, &emv.DynamicData{ICCDynamicNumber: p.c.random(8), CID: cid, AC: ac, TxnDataHash: hash}, un)
		if err != nil {
			return nil, swNoPreciseDiagnosis
		}
		resp = append(resp, tlv("9F4B", sdad)...)
		resp = append(resp, iadTLV...)
		return tlv("77", resp), swOK
	}
	if s.f.GenACFormat1 && !cda {
		body := []byte{cid}
		body = append(body, s.atc...)
		body = append(body, ac...)
		body = append(body, iad...)
		return tlv("80", body), swOK
	}
	resp := tlv("9F27", []byte{cid})
	resp = append(resp, tlv("9F36", s.atc)...)
	resp = append(resp, tlv("9F26", ac)...)
	resp = append(resp, tlv("9F10", iad)...)
	return tlv("77", resp), swOK
}

// --- EXTERNAL AUTHENTICATE ---

func (p *Port) externalAuthenticate(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	if !cmd.hasData || len(cmd.data) < 8 || len(cmd.data) > 16 {
		return nil, swWrongLength
	}
	s := &p.s
	if s.kind != selApp || s.firstAC != CIDARQC || s.genAC != 1 || s.issuerAuth {
		return nil, swConditionsNotMet
	}
	if p.issuerAuthenticate(cmd.data) {
		return nil, swOK
	}
	return nil, swIssuerAuthFailed
}

// issuerAuthenticate checks issuer authentication data (91) against the
// ARQC of the session.
func (p *Port) issuerAuthenticate(d []byte) bool {
	s := &p.s
	a := s.app
	s.issuerAuth = true
	s.cvr.issuerAuthPerformed = true
	ok := false
	if key, err := a.CVN.ARPCKey(a.MKAC, s.atc, s.cdol1Map["9F37"]); err == nil {
		_, err = VerifyARPC(a.ARPCMethod, key, s.arqc, d)
		ok = err == nil
	}
	s.cvr.issuerAuthFailed = !ok
	if !ok {
		a.lastIssuerAuthFailed = true
	}
	return ok
}

// --- issuer scripts ---

func (p *Port) script(cmd command) ([]byte, uint16) {
	s := &p.s
	if s.kind != selApp || s.arqc == nil || s.app.MKSMI == nil {
		return nil, swConditionsNotMet
	}
	if !cmd.hasData || len(cmd.data) < ScriptMACLen {
		return nil, swWrongLength
	}
	a := s.app
	data := cmd.data[:len(cmd.data)-ScriptMACLen]
	want, err := ScriptMAC(a.MKSMI, s.atc, s.arqc, cmd.cla, cmd.ins, cmd.p1, cmd.p2, data)
	s.cvr.scripts++
	if err != nil || !bytes.Equal(want, cmd.data[len(data):]) {
		s.cvr.scriptFailed = true
		return nil, swSMDataIncorrect
	}
	switch {
	case cmd.cla == 0x84 && cmd.ins == 0x1E && cmd.p1 == 0 && cmd.p2 == 0:
		a.blocked = true
	case cmd.cla == 0x84 && cmd.ins == 0x18 && cmd.p1 == 0 && cmd.p2 == 0:
		a.blocked = false
	case cmd.cla == 0x84 && cmd.ins == 0x16 && cmd.p1 == 0 && cmd.p2 == 0:
		p.c.blocked = true
	case cmd.cla == 0x84 && cmd.ins == 0x24 && cmd.p1 == 0 && cmd.p2 == 0 && len(data) == 0:
		p.c.ptc = p.c.p.pinTryLimit()
	case cmd.ins == 0xDA:
		return nil, p.putData(cmd.p1, cmd.p2, data)
	default:
		s.cvr.scriptFailed = true
		return nil, swWrongP1P2
	}
	return nil, swOK
}

// putData applies PUT DATA: DF01 the card's offline limit (n12, minor
// units) or 9F23 the upper consecutive offline limit (1 byte).
func (p *Port) putData(p1, p2 byte, v []byte) uint16 {
	a := p.s.app
	switch {
	case p1 == 0xDF && p2 == 0x01:
		n, ok := bcd(v)
		if !ok || len(v) != 6 {
			p.s.cvr.scriptFailed = true
			return swWrongData
		}
		a.risk.OfflineLimit = n
	case p1 == 0x9F && p2 == 0x23:
		if len(v) != 1 {
			p.s.cvr.scriptFailed = true
			return swWrongData
		}
		a.risk.MaxConsecutiveOffline = int(v[0])
	default:
		p.s.cvr.scriptFailed = true
		return swRefDataNotFound
	}
	return swOK
}

// --- contactless quick kernels (qVSDC, qPBOC) ---

// TTQ and CTQ bits (kernel 3 and 7).
const (
	ttq1OfflineOnly   = 0x08
	ttq1OnlinePIN     = 0x04
	ttq1Signature     = 0x02
	ttq1ODAForOnline  = 0x01
	ttq1Quick         = 0x20
	ttq2OnlineReq     = 0x80
	ttq2CVMReq        = 0x40
	ctq1OnlinePIN     = 0x80
	ctq1Signature     = 0x40
	ctq1OnlineIfODA   = 0x20
	ctq1SwitchIfODA   = 0x10
	ctq1OnlineExpired = 0x08
)

// quickGPO answers GET PROCESSING OPTIONS of qVSDC and qPBOC: the card
// decides at once.
func (p *Port) quickGPO() ([]byte, uint16) {
	s := &p.s
	a := s.app
	m := s.pdolMap
	ttq := m["9F66"]
	if len(ttq) < 3 || ttq[0]&ttq1Quick == 0 {
		// The reader does not do qVSDC/qPBOC: not this card's path.
		return nil, swConditionsNotMet
	}
	ctq := []byte{ctq1OnlineIfODA | ctq1OnlineExpired, 0x00}
	onlinePIN := false
	if ttq[1]&ttq2CVMReq != 0 {
		switch {
		case a.risk.OnlinePINAboveCVMLimit && ttq[0]&ttq1OnlinePIN != 0:
			ctq[0] |= ctq1OnlinePIN
			onlinePIN = true
		case ttq[0]&ttq1Signature != 0:
			ctq[0] |= ctq1Signature
		case ttq[0]&ttq1OnlinePIN != 0:
			ctq[0] |= ctq1OnlinePIN
			onlinePIN = true
		}
	}
	var t int
	offlineOK := !onlinePIN && ttq[1]&ttq2OnlineReq == 0 &&
		withinLimit(m["9F02"], m["5F2A"], a.Data["9F42"], a.risk.ContactlessOfflineLimit) &&
		!(a.risk.MaxConsecutiveOffline > 0 && a.consecutiveOffline >= a.risk.MaxConsecutiveOffline)
	switch {
	case offlineOK:
		t = CIDTC
		a.consecutiveOffline++
	case ttq[0]&ttq1OfflineOnly != 0:
		t = CIDAAC
	default:
		t = CIDARQC
	}
	s.genAC = 1
	s.firstAC = t
	s.cvr.firstAC = t
	ac, iad, ok := p.computeAC(t, m)
	if !ok {
		return nil, swNoPreciseDiagnosis
	}
	if t == CIDARQC {
		s.arqc = ac
	}
	body := tlv("82", s.f.AIP[:])
	if afl := s.f.AFL(); len(afl) > 0 {
		body = append(body, tlv("94", afl)...)
	}
	body = append(body, tlv("9F36", s.atc)...)
	body = append(body, tlv("9F26", ac)...)
	body = append(body, tlv("9F10", iad)...)
	body = append(body, tlv("9F27", []byte{byte(t)})...)
	if v, ok := a.value(s.f, "57"); ok {
		body = append(body, tlv("57", v)...)
	}
	if v, ok := a.value(s.f, "5F34"); ok {
		body = append(body, tlv("5F34", v)...)
	}
	body = append(body, tlv("9F6C", ctq)...)
	// fDDA (version 01): offline approvals, and online ones when the
	// reader does ODA for online authorisations.
	if a.ICCKey != nil && s.f.AIP[0]&AIPDDA != 0 && (t == CIDTC || (t == CIDARQC && ttq[0]&ttq1ODAForOnline != 0)) {
		cad := append([]byte{0x01}, p.c.random(4)...)
		cad = append(cad, ctq...)
		tdd := FDDATerminalData(m["9F37"], m["9F02"], m["5F2A"], cad)
		sdad, err := emv.SignSDAD(a.ICCKey, append([]byte{2}, s.atc...), tdd)
		if err != nil {
			return nil, swNoPreciseDiagnosis
		}
		body = append(body, tlv("9F4B", sdad)...)
		body = append(body, tlv("9F69", cad)...)
	}
	return tlv("77", body), swOK
}

// FDDATerminalData is the terminal dynamic data an fDDA signature (9F4B
// of a quick GPO, fDDA version 01) covers: UN (9F37) || amount
// authorised (9F02) || transaction currency (5F2A) || card
// authentication related data (9F69: 01 || card UN (4) || CTQ (2)).
func FDDATerminalData(un, amount, currency, cardAuthData []byte) []byte {
	out := append([]byte(nil), un...)
	out = append(out, amount...)
	out = append(out, currency...)
	return append(out, cardAuthData...)
}
